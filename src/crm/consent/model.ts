/**
 * Consent as an append-only log: the newest record per (profile, channel) decides. Appends never
 * lose each other on FerretDB, unlike a flag updated in place.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export const CONSENT_CHANNELS = ['wechat', 'wecom', 'sms', 'email'] as const;
export type ConsentChannel = (typeof CONSENT_CHANNELS)[number];

export interface ConsentRecordDoc {
  _id: Types.ObjectId;
  profileId: Types.ObjectId;
  /** A channel, or 'all' for every channel at once. */
  channel: ConsentChannel | 'all';
  allowed: boolean;
  source: string;
  reason?: string;
  at: Date;
}

const consentSchema = new Schema<ConsentRecordDoc>(
  {
    profileId: { type: Schema.Types.ObjectId, required: true },
    channel: { type: String, enum: [...CONSENT_CHANNELS, 'all'], required: true },
    allowed: { type: Boolean, required: true },
    source: { type: String, required: true },
    reason: String,
    at: { type: Date, required: true },
  },
  { collection: 'crm_consents' },
);
// isMarketingAllowed(): newest record for the profile family and channel.
consentSchema.index({ profileId: 1, channel: 1, at: -1 });
export const ConsentRecord = mongoose.model<ConsentRecordDoc>('CrmConsentRecord', consentSchema);
