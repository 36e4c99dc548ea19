/**
 * What staff define for the chat, stored as validated documents (the schemas in schemas.ts are the contract;
 * these collections keep them), the menu publish history, and the log of texts nothing answered.
 * The callback path never reads these: the cache (cache.ts) loads them and reloads on change.
 */
import mongoose, { Schema } from 'mongoose';

const Mixed = Schema.Types.Mixed;

const ruleSchema = new Schema(
  {
    account: { type: String, required: true },
    name: { type: String, required: true },
    match: { type: String, required: true },
    pattern: { type: String, required: true },
    priority: { type: Number, required: true },
    tiers: { type: [String], default: undefined },
    window: { type: Mixed },
    command: { type: String },
    answer: { type: Mixed, required: true },
    enabled: { type: Boolean, required: true },
    updatedBy: { type: String, required: true },
  },
  { timestamps: true, collection: 'conversation_rules' },
);
// Admin lists by account.
ruleSchema.index({ account: 1, priority: -1 });

const replySchema = new Schema(
  {
    account: { type: String, required: true },
    key: { type: String, required: true },
    content: { type: Mixed, required: true },
  },
  { timestamps: true, collection: 'conversation_replies' },
);
// One reply per key and account (the PUT is an upsert on it).
replySchema.index({ account: 1, key: 1 }, { unique: true });

const providerSchema = new Schema(
  {
    key: { type: String, required: true },
    url: { type: String, required: true },
    secret: { type: String, required: true },
    timeoutMs: { type: Number, required: true },
    cacheSeconds: { type: Number, required: true },
    fallbackText: { type: String, required: true },
  },
  { timestamps: true, collection: 'conversation_providers' },
);
providerSchema.index({ key: 1 }, { unique: true });

const settingsSchema = new Schema(
  { account: { type: String, required: true }, settings: { type: Mixed, required: true } },
  { timestamps: true, collection: 'conversation_settings' },
);
settingsSchema.index({ account: 1 }, { unique: true });

const menuSchema = new Schema(
  { account: { type: String, required: true }, menus: { type: Mixed, required: true }, updatedBy: String },
  { timestamps: true, collection: 'conversation_menus' },
);
menuSchema.index({ account: 1 }, { unique: true });

const publishSchema = new Schema(
  {
    account: { type: String, required: true },
    by: { type: String, required: true },
    at: { type: Date, required: true },
    menus: { type: Mixed, required: true },
    /** The conditional menus' ids WeChat gave back, by name. */
    menuIds: { type: Mixed },
    changed: { type: [String], default: [] },
    outcome: { type: String, enum: ['published', 'failed', 'unchanged'], required: true },
    error: String,
  },
  { collection: 'conversation_menu_publishes' },
);
// Publish history of an account, newest first.
publishSchema.index({ account: 1, at: -1 });

const unmatchedSchema = new Schema(
  {
    account: { type: String, required: true },
    text: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'conversation_unmatched' },
);
// The top-unmatched report: an account's texts since a time.
unmatchedSchema.index({ account: 1, at: -1 });

/**
 * Every hand-off a customer asked for: passed to WeChat's customer-service system inside service hours
 * (their agents pick it up there), or answered with the closed-hours text. One per message (the event id).
 */
const handoffSchema = new Schema(
  {
    _id: { type: String, required: true }, // account:eventId — a retried message is one hand-off
    account: { type: String, required: true },
    openid: { type: String, required: true },
    profileId: String,
    outcome: { type: String, enum: ['transferred', 'closed_hours'], required: true },
    kfAccount: String,
    at: { type: Date, required: true },
  },
  { collection: 'conversation_handoffs' },
);
// The hand-off list of an account, newest first.
handoffSchema.index({ account: 1, at: -1 });

export const ConversationRule = mongoose.model('ConversationRule', ruleSchema);
export const ConversationHandoff = mongoose.model('ConversationHandoff', handoffSchema);
export const ConversationReply = mongoose.model('ConversationReply', replySchema);
export const ConversationProvider = mongoose.model('ConversationProvider', providerSchema);
export const ConversationSettings = mongoose.model('ConversationSettings', settingsSchema);
export const ConversationMenu = mongoose.model('ConversationMenu', menuSchema);
export const MenuPublish = mongoose.model('MenuPublish', publishSchema);
export const UnmatchedText = mongoose.model('UnmatchedText', unmatchedSchema);
