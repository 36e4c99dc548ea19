/**
 * Business systems that report events, each with its own API key (stored as a SHA-256 hash only).
 */
import mongoose, { Schema, type Types } from 'mongoose';

export interface IngestionSourceDoc {
  _id: Types.ObjectId;
  name: string;
  keyHash: string;
  /** The key's first characters, shown to staff to tell keys apart. */
  keyPrefix: string;
  active: boolean;
  createdBy: string;
  createdAt: Date;
}
const sourceSchema = new Schema<IngestionSourceDoc>(
  {
    name: { type: String, required: true },
    keyHash: { type: String, required: true },
    keyPrefix: { type: String, required: true },
    active: { type: Boolean, default: true },
    createdBy: { type: String, required: true },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'crm_ingestion_sources' },
);
sourceSchema.index({ name: 1 }, { unique: true });
// authenticateSource(apiKey).
sourceSchema.index({ keyHash: 1 }, { unique: true });
export const IngestionSource = mongoose.model<IngestionSourceDoc>('CrmIngestionSource', sourceSchema);
