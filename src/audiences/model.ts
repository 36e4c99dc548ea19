/**
 * Saved audiences: dynamic (a condition evaluated at send time), snapshot (members frozen at a moment),
 * list (uploaded customers) and combination (union / intersection / difference of other audiences).
 * Frozen members live one row per (audience, profile) under a unique index, so writing them twice is harmless.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export const AUDIENCE_KINDS = ['condition', 'snapshot', 'list', 'combination'] as const;
export type AudienceKind = (typeof AUDIENCE_KINDS)[number];
export const SET_OPS = ['union', 'intersection', 'difference'] as const;
export type SetOp = (typeof SET_OPS)[number];

export interface AudienceDoc {
  _id: Types.ObjectId;
  name: string;
  kind: AudienceKind;
  condition?: unknown;
  op?: SetOp;
  audienceIds?: Types.ObjectId[];
  /** Members frozen (snapshot, list): how many and when. */
  frozenCount?: number;
  frozenAt?: Date;
  createdBy: string;
  createdAt: Date;
}

const audienceSchema = new Schema<AudienceDoc>(
  {
    name: { type: String, required: true },
    kind: { type: String, enum: AUDIENCE_KINDS, required: true },
    condition: { type: Schema.Types.Mixed },
    op: { type: String, enum: SET_OPS },
    audienceIds: { type: [Schema.Types.ObjectId], default: undefined },
    frozenCount: Number,
    frozenAt: Date,
    createdBy: { type: String, required: true },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'audiences' },
);
audienceSchema.index({ createdAt: -1 });
export const Audience = mongoose.model<AudienceDoc>('Audience', audienceSchema);

const memberSchema = new Schema(
  {
    audienceId: { type: Schema.Types.ObjectId, required: true },
    profileId: { type: String, required: true },
  },
  { collection: 'audience_members', versionKey: false },
);
memberSchema.index({ audienceId: 1, profileId: 1 }, { unique: true });
export const AudienceMember = mongoose.model('AudienceMember', memberSchema);
