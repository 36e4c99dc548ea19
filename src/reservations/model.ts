/**
 * Reservation programs, their codes, and each code's single outcome. Correctness rests on unique indexes:
 * one code per (program, owner, nth claim), one outcome per code (redeemed or revoked, whichever came first),
 * one notice per (code, kind). Counters and quota live in Redis (service.ts).
 */
import mongoose, { Schema, type InferSchemaType } from 'mongoose';

export const ISSUE_MODES = ['push', 'claim'] as const;
export type IssueMode = (typeof ISSUE_MODES)[number];
export const REDEEM_CHANNELS = ['chat', 'h5', 'api', 'admin'] as const;
export type RedeemChannel = (typeof REDEEM_CHANNELS)[number];

const programSchema = new Schema(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    description: { type: String, default: '' },
    productRef: { type: String, default: '' },
    quota: { type: Number, required: true },
    eligibility: {
      tiers: { type: [String], default: undefined },
      verification: { type: String },
      audienceId: { type: String },
    },
    issueFrom: { type: Date, required: true },
    issueUntil: { type: Date, required: true },
    redeemFrom: { type: Date, required: true },
    redeemUntil: { type: Date, required: true },
    perCustomerLimit: { type: Number, required: true, default: 1 },
    issueMode: { type: String, enum: ISSUE_MODES, required: true },
    /** Bound codes are redeemable only by their owner; transferable ones by whoever holds them. */
    bound: { type: Boolean, required: true, default: true },
    remindBeforeHours: { type: Number, default: 24 },
    status: { type: String, enum: ['active', 'closed'], default: 'active' },
    createdBy: { type: String, required: true },
  },
  { timestamps: true, collection: 'reservation_programs' },
);
programSchema.index({ status: 1, issueUntil: 1 }); // active programs for the claim keyword and the reminder job

const codeSchema = new Schema(
  {
    programId: { type: String, required: true },
    profileId: { type: String, required: true },
    /** 1..perCustomerLimit: with the unique index, a customer can never hold more than the limit. */
    nth: { type: Number, required: true },
    codeHash: { type: String, required: true },
    sealed: { type: String, required: true },
    masked: { type: String, required: true },
    expiresAt: { type: Date, required: true },
    issuedVia: { type: String, required: true },
    claimKey: { type: String },
  },
  { timestamps: true, collection: 'reservation_codes' },
);
codeSchema.index({ programId: 1, profileId: 1, nth: 1 }, { unique: true }); // per-customer limit
codeSchema.index({ codeHash: 1 }, { unique: true }); // lookup by the typed code
codeSchema.index({ profileId: 1, createdAt: -1 }); // "my codes" and staff lookup by owner
codeSchema.index({ programId: 1, expiresAt: 1 }); // reminder and expiry scans

const outcomeSchema = new Schema(
  {
    codeId: { type: Schema.Types.ObjectId, required: true },
    programId: { type: String, required: true },
    profileId: { type: String, required: true },
    outcome: { type: String, enum: ['redeemed', 'revoked'], required: true },
    channel: { type: String },
    /** Who acted: the customer's profile, a staff id, or an API source. */
    actor: { type: String, required: true },
    orderRef: { type: String },
    reason: { type: String },
    idempotencyKey: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'reservation_outcomes' },
);
outcomeSchema.index({ codeId: 1 }, { unique: true }); // exactly one outcome per code
outcomeSchema.index({ programId: 1, outcome: 1 });

const noticeSchema = new Schema(
  {
    codeId: { type: Schema.Types.ObjectId, required: true },
    // Absent on notices written before 2026-12; read only to skip work the unique index would refuse anyway.
    programId: { type: String },
    kind: { type: String, enum: ['issued', 'reminder', 'redeemed'], required: true },
    profileId: { type: String, required: true },
    state: { type: String, enum: ['pending', 'sent', 'failed'], required: true },
    error: { type: String },
  },
  { timestamps: true, collection: 'reservation_notices' },
);
noticeSchema.index({ codeId: 1, kind: 1 }, { unique: true }); // each lifecycle message once per code

const attemptSchema = new Schema(
  {
    programId: { type: String },
    channel: { type: String, required: true },
    actor: { type: String, required: true },
    result: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'reservation_attempts' },
);
attemptSchema.index({ actor: 1, at: -1 });

export type ProgramDoc = InferSchemaType<typeof programSchema>;
export type CodeDoc = InferSchemaType<typeof codeSchema> & { _id: mongoose.Types.ObjectId; createdAt: Date };
export type OutcomeDoc = InferSchemaType<typeof outcomeSchema> & { _id: mongoose.Types.ObjectId };

export const ReservationProgram = mongoose.model('ReservationProgram', programSchema);
export const ReservationCode = mongoose.model('ReservationCode', codeSchema);
export const ReservationOutcome = mongoose.model('ReservationOutcome', outcomeSchema);
export const ReservationNotice = mongoose.model('ReservationNotice', noticeSchema);
export const ReservationAttempt = mongoose.model('ReservationAttempt', attemptSchema);
