/**
 * The audit record of every inbound push, as decrypted. Unique on (account, dedupKey): a retried push
 * is stored once. FerretDB has no TTL index, so old records are deleted by the
 * `gateway.prune-inbound-audit` job (retention: WECHAT_CALLBACK_AUDIT_RETENTION_DAYS).
 */
import mongoose, { Schema, type InferSchemaType } from 'mongoose';

const inboundAuditSchema = new Schema(
  {
    account: { type: String, required: true },
    dedupKey: { type: String, required: true },
    kind: { type: String, required: true, enum: ['message', 'event'] },
    /** MsgType for messages, Event for events (as received, unknown ones included). */
    type: { type: String, required: true },
    openid: { type: String, required: true },
    createTime: { type: Number, required: true },
    /** The plaintext XML as received (after decryption in safe mode). */
    xml: { type: String, required: true },
    encrypted: { type: Boolean, required: true },
    receivedAt: { type: Date, required: true },
  },
  { collection: 'wechat_inbound_messages', versionKey: false },
);
// Idempotent audit writes: a retried push collides here and is skipped.
inboundAuditSchema.index({ account: 1, dedupKey: 1 }, { unique: true });
// The prune job: deleteMany({ receivedAt: { $lt: cutoff } }).
inboundAuditSchema.index({ receivedAt: 1 });
// A profile's recent conversation (CRM timeline look-ups by openid).
inboundAuditSchema.index({ account: 1, openid: 1, receivedAt: -1 });

export type InboundAudit = InferSchemaType<typeof inboundAuditSchema>;
export const InboundAuditModel =
  (mongoose.models.WechatInboundAudit as mongoose.Model<InboundAudit> | undefined) ??
  mongoose.model<InboundAudit>('WechatInboundAudit', inboundAuditSchema);
