/**
 * Push plans and their sends. A send record is written (unique per plan, run and profile) BEFORE WeChat is
 * called, and its id is the message's client_msg_id: a worker killed mid-push resumes from the records,
 * and a call repeated after a crash is dropped by WeChat instead of reaching the customer twice.
 */
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

export interface PlanContent {
  /** Tiers this content goes to; absent means every tier not matched by another content. */
  tiers?: string[];
  variant: 'A' | 'B';
  kind: string;
  vars: Record<string, string>;
  url?: string;
}

export interface PushPlanDoc {
  _id: Types.ObjectId;
  name: string;
  account: string;
  audienceId: string;
  channel: 'template';
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
    name: { type: String, required: true },
    account: { type: String, required: true },
    audienceId: { type: String, required: true },
    channel: { type: String, enum: ['template'], required: true },
    contents: { type: Schema.Types.Mixed, required: true },
    splitB: { type: Number, default: 0 },
    status: { type: String, enum: PLAN_STATUSES, required: true },
    createdBy: { type: String, required: true },
    approvalId: String,
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'push_plans' },
);
export const PushPlan = mongoose.model<PushPlanDoc>('PushPlan', planSchema);

export const SEND_STATES = ['reserved', 'sent', 'delivered', 'failed', 'skipped'] as const;
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
    attempts: { type: Number, default: 0 },
    at: { type: Date, required: true },
  },
  { collection: 'push_sends' },
);
sendSchema.index({ planId: 1, runId: 1, profileId: 1 }, { unique: true }); // one send per person per run
sendSchema.index({ msgId: 1 }); // delivery receipts (TEMPLATESENDJOBFINISH)
sendSchema.index({ planId: 1, state: 1 }); // progress and the funnel
export const PushSend = mongoose.model<PushSendDoc>('PushSend', sendSchema);
