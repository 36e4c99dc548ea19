/**
 * Identities linked to profiles, merges (recorded, reversible) and the link-review queue.
 * The unique (kind, key) index is what makes linking race-free on FerretDB: whoever inserts an
 * identity first owns it, everyone else reads the owner.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export const IDENTITY_KINDS = ['unionid', 'customer_no', 'phone', 'openid', 'external_userid'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

export interface IdentityDoc {
  _id: Types.ObjectId;
  kind: IdentityKind;
  /** openid: '<account>:<openid>'; external_userid: '<corp>:<id>'; phone: HMAC of the number; others as given. */
  key: string;
  profileId: Types.ObjectId;
  verified: boolean;
  source: string;
  createdAt: Date;
}

const identitySchema = new Schema<IdentityDoc>(
  {
    kind: { type: String, enum: IDENTITY_KINDS, required: true },
    key: { type: String, required: true },
    profileId: { type: Schema.Types.ObjectId, required: true },
    verified: { type: Boolean, default: false },
    source: { type: String, required: true },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'crm_identities' },
);
// resolve(): one owner per identity, race-free.
identitySchema.index({ kind: 1, key: 1 }, { unique: true });
// identitiesOf(profileId), merges moving a profile's identities.
identitySchema.index({ profileId: 1 });
export const Identity = mongoose.model<IdentityDoc>('CrmIdentity', identitySchema);

export interface MergeDoc {
  _id: Types.ObjectId;
  sourceId: Types.ObjectId;
  targetId: Types.ObjectId;
  /** `${sourceId}` while active, `${sourceId}:undone:${_id}` after unmerge: one active merge per source. */
  activeKey: string;
  reason: string;
  by: string;
  movedIdentityIds: Types.ObjectId[];
  at: Date;
  undoneAt?: Date;
  undoneBy?: string;
}

const mergeSchema = new Schema<MergeDoc>(
  {
    sourceId: { type: Schema.Types.ObjectId, required: true },
    targetId: { type: Schema.Types.ObjectId, required: true },
    activeKey: { type: String, required: true },
    reason: { type: String, required: true },
    by: { type: String, required: true },
    movedIdentityIds: { type: [Schema.Types.ObjectId], default: [] },
    at: { type: Date, required: true },
    undoneAt: Date,
    undoneBy: String,
  },
  { collection: 'crm_merges' },
);
// mergeProfiles(): a profile is merged at most once at a time, even under concurrency.
mergeSchema.index({ activeKey: 1 }, { unique: true });
// mergesOf(profileId) for the profile page.
mergeSchema.index({ targetId: 1, at: -1 });
mergeSchema.index({ sourceId: 1, at: -1 });
export const Merge = mongoose.model<MergeDoc>('CrmMerge', mergeSchema);

export const REVIEW_STATUSES = ['open', 'merged', 'dismissed'] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];

export interface LinkReviewDoc {
  _id: Types.ObjectId;
  /** kind:key:lowId:highId — the same conflict is queued once. */
  dedupKey: string;
  profileIds: Types.ObjectId[];
  identityKind: IdentityKind;
  /** Never the raw phone: masked for phones, the key otherwise. */
  identityLabel: string;
  reason: string;
  status: ReviewStatus;
  createdAt: Date;
  resolvedBy?: string;
  resolvedAt?: Date;
}

const linkReviewSchema = new Schema<LinkReviewDoc>(
  {
    dedupKey: { type: String, required: true },
    profileIds: { type: [Schema.Types.ObjectId], required: true },
    identityKind: { type: String, enum: IDENTITY_KINDS, required: true },
    identityLabel: { type: String, required: true },
    reason: { type: String, required: true },
    status: { type: String, enum: REVIEW_STATUSES, default: 'open' },
    createdAt: { type: Date, default: () => new Date() },
    resolvedBy: String,
    resolvedAt: Date,
  },
  { collection: 'crm_link_reviews' },
);
// queueReview(): one entry per conflict.
linkReviewSchema.index({ dedupKey: 1 }, { unique: true });
// listReviews(status), oldest first.
linkReviewSchema.index({ status: 1, createdAt: 1 });
// contestedBetween(a, b): the open reviews a profile is part of.
linkReviewSchema.index({ profileIds: 1, status: 1 });
export const LinkReview = mongoose.model<LinkReviewDoc>('CrmLinkReview', linkReviewSchema);
