/**
 * Profiles (one per person), their tier history and identity verifications.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export const LIFECYCLE_STAGES = ['lead', 'follower', 'customer', 'churned'] as const;
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];
export const GENDERS = ['male', 'female', 'unknown'] as const;
export type Gender = (typeof GENDERS)[number];

export interface ProfileDoc {
  _id: Types.ObjectId;
  name?: string;
  gender?: Gender;
  region?: string;
  phone?: { enc: string; hash: string; masked: string; verified: boolean };
  tier: string;
  stage: LifecycleStage;
  ownerStaffId?: string;
  attributes: Record<string, unknown>;
  /** Set while this profile is merged into another (the survivor); undone by unmerge. */
  mergedInto?: Types.ObjectId;
  /** Where the profile was first seen: 'wechat:<account>', 'wecom:<corp>', 'ingest:<source>', 'import:<job>'. */
  source: string;
  lastInteractionAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

const profileSchema = new Schema<ProfileDoc>(
  {
    name: { type: String },
    gender: { type: String, enum: GENDERS },
    region: { type: String },
    phone: {
      type: new Schema(
        { enc: String, hash: String, masked: String, verified: { type: Boolean, default: false } },
        { _id: false },
      ),
      default: undefined,
    },
    tier: { type: String, required: true },
    stage: { type: String, enum: LIFECYCLE_STAGES, required: true },
    ownerStaffId: { type: String },
    attributes: { type: Schema.Types.Mixed, default: () => ({}) },
    mergedInto: { type: Schema.Types.ObjectId },
    source: { type: String, required: true },
    lastInteractionAt: { type: Date },
  },
  { collection: 'crm_profiles', timestamps: true, minimize: false },
);
// profileFamily(): the profiles merged into a survivor.
profileSchema.index({ mergedInto: 1 });
// searchProfiles by owner (sales data scope), tier, region, name, phone hash.
profileSchema.index({ ownerStaffId: 1, _id: -1 });
profileSchema.index({ tier: 1, _id: -1 });
profileSchema.index({ region: 1 });
profileSchema.index({ name: 1 });
profileSchema.index({ 'phone.hash': 1 });

export const Profile = mongoose.model<ProfileDoc>('CrmProfile', profileSchema);

export interface TierChangeDoc {
  _id: Types.ObjectId;
  profileId: Types.ObjectId;
  from?: string;
  to: string;
  reason: string;
  by: string;
  at: Date;
}

const tierChangeSchema = new Schema<TierChangeDoc>(
  {
    profileId: { type: Schema.Types.ObjectId, required: true },
    from: String,
    to: { type: String, required: true },
    reason: { type: String, required: true },
    by: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'crm_tier_changes' },
);
// tierHistory(profileId), newest first.
tierChangeSchema.index({ profileId: 1, at: -1 });
export const TierChange = mongoose.model<TierChangeDoc>('CrmTierChange', tierChangeSchema);

export const VERIFICATION_STATUSES = ['pending', 'verified', 'rejected', 'revoked'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export interface VerificationDoc {
  _id: Types.ObjectId;
  profileId: Types.ObjectId;
  /** What was verified, e.g. 'qualified_investor', 'real_name'. */
  kind: string;
  status: VerificationStatus;
  method: string;
  verifiedBy?: string;
  at: Date;
  expiresAt?: Date;
}

const verificationSchema = new Schema<VerificationDoc>(
  {
    profileId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, required: true },
    status: { type: String, enum: VERIFICATION_STATUSES, required: true },
    method: { type: String, required: true },
    verifiedBy: String,
    at: { type: Date, required: true },
    expiresAt: Date,
  },
  { collection: 'crm_verifications' },
);
// currentVerification(profileId, kind): the newest record wins (append-only, no lost updates).
verificationSchema.index({ profileId: 1, kind: 1, at: -1 });
export const Verification = mongoose.model<VerificationDoc>('CrmVerification', verificationSchema);
