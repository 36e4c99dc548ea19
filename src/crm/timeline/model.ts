/**
 * Every event about a customer in one place. The unique dedupKey makes each append idempotent
 * (a retried callback, a repeated ingestion key).
 */
import mongoose, { Schema, type Types } from 'mongoose';

export interface TimelineEventDoc {
  _id: Types.ObjectId;
  profileId: Types.ObjectId;
  /** e.g. 'wechat.subscribe', 'wechat.click', 'push.delivered', 'campaign.joined', 'payout.sent', 'purchase'. */
  type: string;
  at: Date;
  /** Who reported it: 'wechat:<account>', 'ingest:<source>', 'staff:<id>', a domain name. */
  source: string;
  payload: Record<string, unknown>;
  dedupKey: string;
  createdAt: Date;
}
const timelineSchema = new Schema<TimelineEventDoc>(
  {
    profileId: { type: Schema.Types.ObjectId, required: true },
    type: { type: String, required: true },
    at: { type: Date, required: true },
    source: { type: String, required: true },
    payload: { type: Schema.Types.Mixed, default: () => ({}) },
    dedupKey: { type: String, required: true },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'crm_timeline', minimize: false },
);
timelineSchema.index({ dedupKey: 1 }, { unique: true });
// listTimeline(profileIds, cursor): newest first.
timelineSchema.index({ profileId: 1, at: -1, _id: -1 });
export const TimelineEvent = mongoose.model<TimelineEventDoc>('CrmTimelineEvent', timelineSchema);
