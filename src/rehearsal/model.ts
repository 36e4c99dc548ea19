/** Rehearsal reports: what customers would have experienced, kept as the record an approval rests on. */
import mongoose, { Schema } from 'mongoose';

export interface RehearsalFailure {
  /** The sandbox follower (never a real customer's identity) and the tier it was cloned as. */
  follower: string;
  tier: string;
  amountFen: number;
  reason: string;
}

export interface RehearsalReport {
  campaignId: string;
  kind: 'red_envelope';
  followers: number;
  /** Followers per tier in the clone (the real audience's shape, scaled). */
  shape: Record<string, number>;
  faults: { payoutFailureRate: number };
  claimed: number;
  won: number;
  paid: number;
  awaitingConfirmation: number;
  /** Customers who won and could not be paid, and why. */
  failures: RehearsalFailure[];
  riskDenials: Record<string, number>;
  /** Why claimants were refused a draw (not eligible, sold out...), with counts. */
  refusals: Record<string, number>;
  budget: { budgetFen: number; wonFen: number; paidFen: number; failedFen: number; ok: boolean };
  passed: boolean;
  /** Why it did not pass, in a sentence per problem. */
  problems: string[];
}

const rehearsalSchema = new Schema(
  {
    campaignId: { type: String, required: true },
    kind: { type: String, required: true },
    passed: { type: Boolean, required: true },
    report: { type: Schema.Types.Mixed, required: true },
    /** The campaign as rehearsed (its updatedAt): a later change needs a new rehearsal. */
    campaignVersion: { type: Date, required: true },
    by: { type: String, required: true },
    createdAt: { type: Date, required: true, default: () => new Date() },
  },
  { collection: 'rehearsals', minimize: false },
);
rehearsalSchema.index({ campaignId: 1, createdAt: -1 }); // the approval gate's look-up

export const Rehearsal = mongoose.model('Rehearsal', rehearsalSchema);
