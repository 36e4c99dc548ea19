/**
 * Push plans and their sends. A send record is written (unique per plan, run and profile) BEFORE WeChat is
 * called, and its id is the message's client_msg_id: a worker killed mid-push resumes from the records,
 * and a call repeated after a crash is dropped by WeChat instead of reaching the customer twice.
 */
import { randomUUID } from 'node:crypto';
import mongoose, { Schema, type Types } from 'mongoose';

export const PLAN_STATUSES = [
  'draft',
  'awaiting_approval',
  'approved',
  'running',
  'paused',
  'cancelled',
  'done',
] as const;
export type PlanStatus = (typeof PLAN_STATUSES)[number];

/**
 * Where a plan's messages go: WeChat template messages, WeCom group-send tasks through each customer's owning
 * member (`wecom`), or customer-service messages to followers inside their 48-hour window (`customer_service`).
 */
export const PLAN_CHANNELS = ['template', 'wecom', 'customer_service'] as const;
export type PlanChannel = (typeof PLAN_CHANNELS)[number];

export interface PlanContent {
  /** Tiers this content goes to; absent means every tier not matched by another content. */
  tiers?: string[];
  variant: 'A' | 'B';
  /** The message template (templates/messages) of a `template` plan. */
  kind?: string;
  /** The text of a `wecom` or `customer_service` plan, with {{variables}} from `vars`. */
  text?: string;
  vars: Record<string, string>;
  url?: string;
}

/** When a plan sends: once now, once at a time, on a cron (Asia/Shanghai), or N minutes after an event. */
export interface PlanSchedule {
  kind: 'now' | 'at' | 'cron' | 'event';
  at?: Date;
  cron?: string;
  /** Timeline event type that triggers a send (e.g. `purchase`, `page.view`). */
  event?: string;
  waitMinutes?: number;
}

/** Unit values for ROI, in fen: each conversion, each unfollow (the harm), and the cost. */
export interface PlanValues {
  conversionFen: number;
  unfollowFen: number;
  costFen: number;
  costPerSendFen: number;
}

export interface PushPlanDoc {
  _id: Types.ObjectId;
  /** Idempotency of creation: the client's key (or the Idempotency-Key header), unique. */
  clientKey: string;
  name: string;
  schedule: PlanSchedule;
  landingUrl?: string;
  /** Timeline event type that counts as a conversion. */
  conversionEvent: string;
  values: PlanValues;
  audienceSize?: number;
  startedAt?: Date;
  updatedAt?: Date;
  account: string;
  audienceId: string;
  channel: PlanChannel;
  /** The WeCom corp key of a `wecom` plan (absent: the default corp). */
  corp?: string;
  contents: PlanContent[];
  /** Share of profiles that get variant B (0 = no A/B test). */
  splitB: number;
  status: PlanStatus;
  createdBy: string;
  approvalId?: string;
  createdAt: Date;
}

const planSchema = new Schema<PushPlanDoc>(
  {
    clientKey: { type: String, required: true, default: () => randomUUID() },
    name: { type: String, required: true },
    schedule: { type: Schema.Types.Mixed, default: () => ({ kind: 'now' }) },
    landingUrl: String,
    conversionEvent: { type: String, default: 'purchase' },
    values: {
      type: Schema.Types.Mixed,
      default: () => ({ conversionFen: 0, unfollowFen: 0, costFen: 0, costPerSendFen: 0 }),
    },
    audienceSize: Number,
    startedAt: Date,
    updatedAt: Date,
    account: { type: String, required: true },
    audienceId: { type: String, required: true },
    channel: { type: String, enum: PLAN_CHANNELS, required: true },
    corp: String,
    contents: { type: Schema.Types.Mixed, required: true },
    splitB: { type: Number, default: 0 },
    status: { type: String, enum: PLAN_STATUSES, required: true },
    createdBy: { type: String, required: true },
    approvalId: String,
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'push_plans' },
);
planSchema.index({ clientKey: 1 }, { unique: true }); // a retried create returns the first plan
planSchema.index({ status: 1, 'schedule.kind': 1 }); // the event scanner's running event plans
export const PushPlan = mongoose.model<PushPlanDoc>('PushPlan', planSchema);

/**
 * `reserved`: decided, about to go; `queued`: in a WeCom member's group-send task, not confirmed yet;
 * `not_sent`: WeCom says the member has not sent it (yet); the others are final (a WeCom send that reached
 * the customer is `delivered`).
 */
export const SEND_STATES = ['reserved', 'queued', 'sent', 'not_sent', 'delivered', 'failed', 'skipped'] as const;
export type SendState = (typeof SEND_STATES)[number];

export interface PushSendDoc {
  _id: Types.ObjectId;
  planId: Types.ObjectId;
  runId: string;
  profileId: string;
  account: string;
  openid?: string;
  variant: 'A' | 'B';
  state: SendState;
  /** Why it was skipped or failed: consent, blacklist, cap, quiet_hours, cooldown, not_follower, … */
  reason?: string;
  msgId?: string;
  /** WeCom channel: the index of the plan content this profile gets. */
  content?: number;
  /** WeCom channel: the key of the group send that holds this profile (set before the send is created). */
  wave?: string;
  attempts: number;
  at: Date;
}

const sendSchema = new Schema<PushSendDoc>(
  {
    planId: { type: Schema.Types.ObjectId, required: true },
    runId: { type: String, required: true },
    profileId: { type: String, required: true },
    account: { type: String, required: true },
    openid: String,
    variant: { type: String, enum: ['A', 'B'], required: true },
    state: { type: String, enum: SEND_STATES, required: true },
    reason: String,
    msgId: String,
    content: Number,
    wave: String,
    attempts: { type: Number, default: 0 },
    at: { type: Date, required: true },
  },
  { collection: 'push_sends' },
);
sendSchema.index({ planId: 1, runId: 1, profileId: 1 }, { unique: true }); // one send per person per run
sendSchema.index({ msgId: 1 }); // delivery receipts (TEMPLATESENDJOBFINISH)
sendSchema.index({ planId: 1, state: 1 }); // progress and the funnel
sendSchema.index({ account: 1, openid: 1, at: -1 }); // the last push before an unfollow
export const PushSend = mongoose.model<PushSendDoc>('PushSend', sendSchema);

/**
 * The template channel's write-ahead trace: one page per batch, written after its sends are claimed and
 * before any of them is called, listing the members (JSON text of profile ids, one document per batch:
 * FerretDB pays per document). A member on a page without a send record was in flight when its pass ended.
 */
export interface PushIntentPageDoc {
  _id: Types.ObjectId;
  planId: Types.ObjectId;
  runId: string;
  at: Date;
  profiles: string;
}
const intentPageSchema = new Schema<PushIntentPageDoc>(
  {
    planId: { type: Schema.Types.ObjectId, required: true },
    runId: { type: String, required: true },
    at: { type: Date, required: true },
    profiles: { type: String, required: true },
  },
  { collection: 'push_intents' },
);
intentPageSchema.index({ planId: 1, runId: 1 }); // a resuming pass reads its run's pages
export const PushIntentPage = mongoose.model<PushIntentPageDoc>('PushIntentPage', intentPageSchema);

/** One run of a plan (once, each cron tick, the event-triggered stream): unique, so a run starts once. */
export interface PushRunDoc {
  _id: Types.ObjectId;
  planId: Types.ObjectId;
  runId: string;
  trigger: 'now' | 'at' | 'cron' | 'event';
  startedAt: Date;
}
const runSchema = new Schema<PushRunDoc>(
  {
    planId: { type: Schema.Types.ObjectId, required: true },
    runId: { type: String, required: true },
    trigger: { type: String, required: true },
    startedAt: { type: Date, required: true },
  },
  { collection: 'push_runs', versionKey: false },
);
runSchema.index({ planId: 1, runId: 1 }, { unique: true });
runSchema.index({ planId: 1, startedAt: -1 }); // latest and previous runs for the report
export const PushRun = mongoose.model<PushRunDoc>('PushRun', runSchema);

/** A per-profile send due after an event: unique per plan and profile, so a plan fires once per person. */
export interface PushTriggerDoc {
  _id: Types.ObjectId;
  planId: Types.ObjectId;
  profileId: string;
  eventId: string;
  dueAt: Date;
  state: 'pending' | 'fired';
}
const triggerSchema = new Schema<PushTriggerDoc>(
  {
    planId: { type: Schema.Types.ObjectId, required: true },
    profileId: { type: String, required: true },
    eventId: { type: String, required: true },
    dueAt: { type: Date, required: true },
    state: { type: String, enum: ['pending', 'fired'], required: true },
  },
  { collection: 'push_triggers', versionKey: false },
);
triggerSchema.index({ planId: 1, profileId: 1 }, { unique: true });
triggerSchema.index({ state: 1, dueAt: 1 }); // due triggers
export const PushTrigger = mongoose.model<PushTriggerDoc>('PushTrigger', triggerSchema);

/** Outcomes of a send: a click, a conversion, an unfollow — each unique by what it counts. */
export interface PushOutcomeDoc {
  _id: Types.ObjectId;
  kind: 'click' | 'conversion' | 'unfollow';
  /** click/unfollow: the send id (one per send); conversion: the timeline event id (attributed once). */
  key: string;
  sendId: Types.ObjectId;
  planId: Types.ObjectId;
  runId: string;
  variant: 'A' | 'B';
  profileId: string;
  at: Date;
}
const outcomeSchema = new Schema<PushOutcomeDoc>(
  {
    kind: { type: String, enum: ['click', 'conversion', 'unfollow'], required: true },
    key: { type: String, required: true },
    sendId: { type: Schema.Types.ObjectId, required: true },
    planId: { type: Schema.Types.ObjectId, required: true },
    runId: { type: String, required: true },
    variant: { type: String, enum: ['A', 'B'], required: true },
    profileId: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'push_outcomes', versionKey: false },
);
outcomeSchema.index({ kind: 1, key: 1 }, { unique: true });
outcomeSchema.index({ planId: 1, runId: 1, kind: 1 }); // the report
outcomeSchema.index({ profileId: 1, kind: 1, at: -1 }); // the last click before a conversion
export const PushOutcome = mongoose.model<PushOutcomeDoc>('PushOutcome', outcomeSchema);

/**
 * A delivery receipt (TEMPLATESENDJOBFINISH) as it arrived, kept by msgId. WeChat can answer the receipt
 * before the worker has stored the msgId on its send record; the receipt is parked here first, and the
 * send applies it once marked sent — so a receipt is never dropped, whichever side comes first.
 */
export interface PushReceiptDoc {
  msgId: string;
  status: string;
  at: Date;
}
const receiptSchema = new Schema<PushReceiptDoc>(
  {
    msgId: { type: String, required: true },
    status: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'push_receipts', versionKey: false },
);
receiptSchema.index({ msgId: 1 }, { unique: true }); // one receipt per message, a re-delivery is a duplicate
receiptSchema.index({ at: 1 }); // pruning old receipts
export const PushReceipt = mongoose.model<PushReceiptDoc>('PushReceipt', receiptSchema);
