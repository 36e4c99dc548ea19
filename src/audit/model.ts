/**
 * The audit log: one document per staff write, appended and never changed. The model refuses every
 * update and delete so no code path (and no future route) can edit history.
 */
import mongoose, { Schema } from 'mongoose';

export interface AuditEntryDoc {
  _id: mongoose.Types.ObjectId;
  at: Date;
  action: string;
  outcome: 'ok' | 'denied' | 'failed';
  errorCode?: string;
  actorId?: string;
  actorUsername?: string;
  targetType: string;
  targetId?: string;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  requestId: string;
  ip: string;
  route: string;
}

const schema = new Schema<AuditEntryDoc>(
  {
    at: { type: Date, required: true },
    action: { type: String, required: true },
    outcome: { type: String, required: true, enum: ['ok', 'denied', 'failed'] },
    errorCode: String,
    actorId: String,
    actorUsername: String,
    targetType: { type: String, required: true },
    targetId: String,
    before: Schema.Types.Mixed,
    after: Schema.Types.Mixed,
    requestId: { type: String, required: true },
    ip: { type: String, required: true },
    route: { type: String, required: true },
  },
  { collection: 'audit_log', versionKey: false },
);
// Auditor filters: "what did this person do" and "what happened to this record", newest first by _id.
schema.index({ actorId: 1, _id: -1 });
schema.index({ targetType: 1, targetId: 1, _id: -1 });
schema.index({ action: 1, _id: -1 });

const refuse = function (): never {
  throw new Error('the audit log is append-only');
};
for (const op of [
  'updateOne',
  'updateMany',
  'replaceOne',
  'findOneAndUpdate',
  'findOneAndReplace',
  'findOneAndDelete',
  'deleteOne',
  'deleteMany',
] as const)
  schema.pre(op, refuse);

export const AuditEntry = mongoose.model<AuditEntryDoc>('AuditEntry', schema);
