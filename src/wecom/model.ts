/**
 * WeCom customer contact: external contacts joined to CRM profiles, the staff ↔ customer relationships,
 * the add/delete ledger the channel report counts, channels (contact ways with a `state`), welcome
 * messages, staff links and the sync checkpoint. Correctness rests on unique indexes (one contact per
 * (corp, external_userid), one relationship per (corp, customer, member), one ledger row per change).
 */
import mongoose, { Schema, type InferSchemaType } from 'mongoose';

export const RELATION_STATUSES = ['active', 'deleted_by_customer', 'deleted_by_staff', 'transferred'] as const;
export type RelationStatus = (typeof RELATION_STATUSES)[number];

const contactSchema = new Schema(
  {
    corp: { type: String, required: true },
    externalUserId: { type: String, required: true },
    name: { type: String, default: '' },
    unionid: { type: String },
    /** The CRM profile (hex id) this contact is joined to. */
    profileId: { type: String },
    /** How the profile was found: by unionid (a sure join), or only by the external_userid (a new lead). */
    linkedBy: { type: String, enum: ['unionid', 'external_userid'] },
    /** No unionid: staff should look for the person's existing profile (never merged blindly). */
    reviewCandidate: { type: Boolean, default: false },
  },
  { timestamps: true, collection: 'wecom_contacts' },
);
contactSchema.index({ corp: 1, externalUserId: 1 }, { unique: true }); // the event and sync upserts
contactSchema.index({ profileId: 1 }); // contacts of a profile (sidebar, push through staff)
contactSchema.index({ corp: 1, reviewCandidate: 1 }); // the review-candidate list

const relationSchema = new Schema(
  {
    corp: { type: String, required: true },
    externalUserId: { type: String, required: true },
    /** The member's WeCom userid: the owner of this relationship. */
    userid: { type: String, required: true },
    profileId: { type: String },
    status: { type: String, enum: RELATION_STATUSES, required: true },
    addedAt: { type: Date, required: true },
    /** The contact way's state: the channel the customer came through. */
    state: { type: String },
    remark: { type: String, default: '' },
    /** WeCom corp tag ids the member put on the customer. */
    tags: { type: [String], default: [] },
    /** When the customer deleted the member (loss alert). */
    lostAt: { type: Date },
    transferFailReason: { type: String },
  },
  { timestamps: true, collection: 'wecom_relations' },
);
relationSchema.index({ corp: 1, externalUserId: 1, userid: 1 }, { unique: true }); // upserts by event and sync
relationSchema.index({ corp: 1, userid: 1, status: 1 }); // a member's customers (hand-over, group send)
relationSchema.index({ corp: 1, status: 1, lostAt: -1 }); // the loss report
relationSchema.index({ profileId: 1 }); // relationships of a profile

export const LEDGER_KINDS = ['add', 'delete_by_customer', 'delete_by_staff'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

const ledgerSchema = new Schema(
  {
    /** add:<corp>:<userid>:<ext>:<createtime> — the same key whether the event or the sync saw it first. */
    key: { type: String, required: true },
    corp: { type: String, required: true },
    kind: { type: String, enum: LEDGER_KINDS, required: true },
    userid: { type: String, required: true },
    externalUserId: { type: String, required: true },
    /** The channel's state ('' when the customer came without one). */
    state: { type: String, default: '' },
    at: { type: Date, required: true },
  },
  { collection: 'wecom_ledger' },
);
ledgerSchema.index({ key: 1 }, { unique: true }); // one row per change
ledgerSchema.index({ corp: 1, at: 1 }); // the channel report by period

const channelSchema = new Schema(
  {
    corp: { type: String, required: true },
    /** The contact way's state (≤ 30 chars): what WeCom hands back on every add through this code. */
    state: { type: String, required: true },
    name: { type: String, required: true },
    kind: { type: String, enum: ['branch', 'event', 'poster', 'referral', 'other'], default: 'other' },
    /** Members the code rotates new customers across (WeCom assigns among them). */
    users: { type: [String], required: true },
    configId: { type: String },
    qrCode: { type: String },
    createdBy: { type: String, required: true },
  },
  { timestamps: true, collection: 'wecom_channels' },
);
channelSchema.index({ corp: 1, state: 1 }, { unique: true }); // attribution by state; one code per state

const welcomeSchema = new Schema(
  {
    corp: { type: String, required: true },
    /** '' = any channel; else a channel state. */
    state: { type: String, default: '' },
    /** '' = any member; else a member's userid. */
    userid: { type: String, default: '' },
    /** Text with {name} (the customer's WeCom name) and {staff} (the member's userid). */
    text: { type: String, default: '' },
    attachments: { type: [Schema.Types.Mixed], default: [] },
  },
  { timestamps: true, collection: 'wecom_welcomes' },
);
welcomeSchema.index({ corp: 1, state: 1, userid: 1 }, { unique: true }); // the most specific one is picked

const staffLinkSchema = new Schema(
  {
    corp: { type: String, required: true },
    userid: { type: String, required: true },
    /** The staff account (src/staff) whose data scope owns this member's customers. */
    staffId: { type: String, required: true },
  },
  { timestamps: true, collection: 'wecom_staff_links' },
);
staffLinkSchema.index({ corp: 1, userid: 1 }, { unique: true }); // member → staff account

const syncSchema = new Schema(
  {
    corp: { type: String, required: true },
    runId: { type: String, required: true },
    /** Members to walk, in order, fixed when the run starts. */
    users: { type: [String], required: true },
    userIndex: { type: Number, required: true, default: 0 },
    /** batch/get_by_user's next_cursor within the current member ('' = from the start). */
    cursor: { type: String, default: '' },
    pages: { type: Number, default: 0 },
    contacts: { type: Number, default: 0 },
    finishedAt: { type: Date },
  },
  { timestamps: true, collection: 'wecom_sync_runs' },
);
syncSchema.index({ corp: 1, runId: 1 }, { unique: true }); // one checkpoint per run
syncSchema.index({ corp: 1, finishedAt: 1 }); // the unfinished run to resume

export type WecomContactDoc = InferSchemaType<typeof contactSchema> & { _id: mongoose.Types.ObjectId };
export type WecomRelationDoc = InferSchemaType<typeof relationSchema> & { _id: mongoose.Types.ObjectId };
export type WecomChannelDoc = InferSchemaType<typeof channelSchema> & { _id: mongoose.Types.ObjectId };
export type WecomSyncDoc = InferSchemaType<typeof syncSchema> & { _id: mongoose.Types.ObjectId };

export const WecomContact = mongoose.model('WecomContact', contactSchema);
export const WecomRelation = mongoose.model('WecomRelation', relationSchema);
export const WecomLedger = mongoose.model('WecomLedger', ledgerSchema);
export const WecomChannel = mongoose.model('WecomChannel', channelSchema);
export const WecomWelcome = mongoose.model('WecomWelcome', welcomeSchema);
export const WecomStaffLink = mongoose.model('WecomStaffLink', staffLinkSchema);
export const WecomSyncRun = mongoose.model('WecomSyncRun', syncSchema);

const tagLinkSchema = new Schema(
  {
    corp: { type: String, required: true },
    wecomTagId: { type: String, required: true },
    /** The CRM tag (hex id) this corp tag mirrors. */
    crmTagId: { type: String, required: true },
  },
  { timestamps: true, collection: 'wecom_tag_links' },
);
tagLinkSchema.index({ corp: 1, wecomTagId: 1 }, { unique: true }); // WeCom → CRM
tagLinkSchema.index({ corp: 1, crmTagId: 1 }); // CRM → WeCom

export const WecomTagLink = mongoose.model('WecomTagLink', tagLinkSchema);
