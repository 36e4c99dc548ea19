/**
 * Group sends through staff: the send (one per caller key), its targets (one decision per profile) and its
 * tasks (one `add_msg_template` per owning member and batch). A task row is written before WeCom is called
 * and carries its state, so a crash between the two leaves a row a later pass resumes.
 */
import mongoose, { Schema } from 'mongoose';
import { dropIndexIfPresent } from '../infra/mongo.js';

export const TARGET_STATES = [
  'queued',
  'capped',
  'no_contact',
  'failed',
  'sent',
  'not_sent',
  'not_friend',
  'received_other',
] as const;
export type TargetState = (typeof TARGET_STATES)[number];

/**
 * open     its batch is still deciding targets (the batch's lease in Redis says a worker is on it)
 * pending  sealed: waiting for `add_msg_template` (or for a retry after WeCom refused, or a reconciliation)
 * created  WeCom answered (or the reconciliation found) the task's msgid
 * empty    no customer was left to send to (every target of the batch went elsewhere)
 * failed   WeCom refused it for good (or too many refusals): its targets are `failed`
 * review   the outcome of a call could not be told (ambiguous reconciliation, attempts exhausted): staff look
 *          in WeCom's admin before anyone sends again
 */
export const TASK_STATES = ['open', 'pending', 'created', 'empty', 'failed', 'review'] as const;
export type TaskState = (typeof TASK_STATES)[number];

const sendSchema = new Schema(
  {
    _id: { type: String, required: true },
    corp: { type: String, required: true },
    /** The caller's idempotency key: the same key returns the same send. */
    key: { type: String, required: true },
    name: { type: String, required: true },
    text: { type: String, default: '' },
    attachments: { type: [Schema.Types.Mixed], default: [] },
    createdBy: { type: String, required: true },
  },
  { timestamps: true, collection: 'wecom_group_sends' },
);
sendSchema.index({ corp: 1, key: 1 }, { unique: true }); // idempotent creation

const targetSchema = new Schema(
  {
    sendId: { type: String, required: true },
    profileId: { type: String, required: true },
    userid: { type: String },
    externalUserId: { type: String },
    /** The call of `createGroupSend` that decided this target; its task is (sendId, userid, batch). */
    batch: { type: String },
    state: { type: String, enum: TARGET_STATES, required: true },
    /** Why a target is `capped`: `cap_day` or `cap_week`. */
    reason: { type: String },
  },
  { timestamps: true, collection: 'wecom_group_send_targets' },
);
targetSchema.index({ sendId: 1, profileId: 1 }, { unique: true }); // one decision per profile
targetSchema.index({ sendId: 1, userid: 1, batch: 1 }); // a task's customers

const taskSchema = new Schema(
  {
    _id: { type: String, required: true },
    sendId: { type: String, required: true },
    userid: { type: String, required: true },
    /** Rows from before batches (one task per member) have none, a msgid and no state: they are `created`. */
    batch: { type: String },
    state: { type: String, enum: TASK_STATES },
    /** Which call this is (a Redis claim per attempt guarantees one `add_msg_template` per attempt). */
    attempt: { type: Number, default: 0 },
    msgid: { type: String },
    /** WeCom's last refusal (`errcode errmsg`) or why the task is in review. */
    error: { type: String },
  },
  { timestamps: true, collection: 'wecom_group_send_tasks' },
);
// One task per member and batch: two workers resuming the same batch write one row.
taskSchema.index({ sendId: 1, userid: 1, batch: 1 }, { unique: true });
taskSchema.index({ state: 1 }); // the resume job: tasks still `open` or `pending`
taskSchema.index({ msgid: 1 }); // reconciliation: is this WeCom task already someone's?

export const WecomGroupSend = mongoose.model('WecomGroupSend', sendSchema);
export const WecomGroupSendTarget = mongoose.model('WecomGroupSendTarget', targetSchema);
export const WecomGroupSendTask = mongoose.model('WecomGroupSendTask', taskSchema);

let migrated: Promise<void> | undefined;

/**
 * Drops the one-task-per-member unique index of earlier versions (it would refuse a member's second batch).
 * Once per process; MongoDB does not drop an index its schema no longer declares.
 */
export function migrateGroupSendTasks(): Promise<void> {
  migrated ??= (async () => {
    await dropIndexIfPresent(WecomGroupSendTask.collection, 'sendId_1_userid_1');
  })();
  migrated.catch(() => {
    migrated = undefined; // a failed migration is tried again by the next call
  });
  return migrated;
}
