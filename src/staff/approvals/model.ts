/**
 * Four-eyes approvals. A request is one document; its decision is a SEPARATE document with a unique
 * index on the request id, so exactly one approve-or-reject wins even when two reviewers click at once
 * (a conditional update would not be atomic on FerretDB). The request's `status` field is a copy
 * written after the decision, for listing.
 */
import mongoose, { Schema } from 'mongoose';

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired';

export interface ApprovalDoc {
  _id: mongoose.Types.ObjectId;
  /** What is to be done, `domain.verb`: `push.send`, `campaign.launch`. */
  action: string;
  subjectType: string;
  subjectId: string;
  /** What the reviewer sees: audience size, budget in fen, title... */
  summary: Record<string, unknown>;
  /** The permission the approver must hold (push:approve, campaign:approve). */
  permission: string;
  /** Unique: one request per action, subject and attempt (a caller's idempotency key). */
  requestKey: string;
  requestedBy: string;
  requestedByUsername: string;
  requestedAt: Date;
  expiresAt: Date;
  status: ApprovalStatus;
  decidedBy?: string;
  decidedAt?: Date;
  reason?: string;
}

const approvalSchema = new Schema<ApprovalDoc>(
  {
    action: { type: String, required: true },
    subjectType: { type: String, required: true },
    subjectId: { type: String, required: true },
    summary: { type: Schema.Types.Mixed, default: {} },
    permission: { type: String, required: true },
    requestKey: { type: String, required: true },
    requestedBy: { type: String, required: true },
    requestedByUsername: { type: String, required: true },
    requestedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    status: { type: String, required: true },
    decidedBy: String,
    decidedAt: Date,
    reason: String,
  },
  { collection: 'approvals', versionKey: false, minimize: false },
);
// A retried request returns the first one.
approvalSchema.index({ requestKey: 1 }, { unique: true });
// "What is waiting for review", newest first.
approvalSchema.index({ status: 1, _id: -1 });
// The push/campaign service asks "is this subject approved".
approvalSchema.index({ subjectType: 1, subjectId: 1 });

export const Approval = mongoose.model<ApprovalDoc>('Approval', approvalSchema);

export interface ApprovalDecisionDoc {
  _id: mongoose.Types.ObjectId;
  approvalId: string;
  decision: 'approved' | 'rejected';
  by: string;
  byUsername: string;
  at: Date;
  reason?: string;
}

const decisionSchema = new Schema<ApprovalDecisionDoc>(
  {
    approvalId: { type: String, required: true },
    decision: { type: String, required: true, enum: ['approved', 'rejected'] },
    by: { type: String, required: true },
    byUsername: { type: String, required: true },
    at: { type: Date, required: true },
    reason: String,
  },
  { collection: 'approval_decisions', versionKey: false },
);
// Exactly one decision per request.
decisionSchema.index({ approvalId: 1 }, { unique: true });

export const ApprovalDecision = mongoose.model<ApprovalDecisionDoc>('ApprovalDecision', decisionSchema);
