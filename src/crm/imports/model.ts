/**
 * CSV import jobs (resumable from a checkpoint) and their per-row validation report.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export const IMPORT_STATES = ['pending', 'running', 'completed', 'failed'] as const;
export type ImportState = (typeof IMPORT_STATES)[number];
export const IMPORT_FIELDS = [
  'name',
  'phone',
  'phoneVerified',
  'customerNo',
  'unionid',
  'gender',
  'region',
  'tier',
  'ownerStaffId',
  'tags',
] as const;
export type ImportField = (typeof IMPORT_FIELDS)[number];

export interface ImportCounts {
  rows: number;
  created: number;
  /** Rows whose identity already existed: linked to that profile, nothing duplicated. */
  matched: number;
  invalid: number;
}

export interface ImportJobDoc {
  _id: Types.ObjectId;
  kind: 'customer' | 'lead';
  dryRun: boolean;
  /** CSV header → field; columns named 'attr:<key>' map to declared custom attributes. */
  mapping: Record<string, string>;
  filePath: string;
  state: ImportState;
  /** Rows (1-based, header excluded) fully processed; a resumed run skips them. */
  checkpoint: number;
  counts: ImportCounts;
  error?: string;
  createdBy: string;
  createdAt: Date;
  finishedAt?: Date;
}
const importJobSchema = new Schema<ImportJobDoc>(
  {
    kind: { type: String, enum: ['customer', 'lead'], required: true },
    dryRun: { type: Boolean, default: false },
    mapping: { type: Schema.Types.Mixed, required: true },
    filePath: { type: String, required: true },
    state: { type: String, enum: IMPORT_STATES, default: 'pending' },
    checkpoint: { type: Number, default: 0 },
    counts: {
      type: new Schema({ rows: Number, created: Number, matched: Number, invalid: Number }, { _id: false }),
      default: () => ({ rows: 0, created: 0, matched: 0, invalid: 0 }),
    },
    error: String,
    createdBy: { type: String, required: true },
    createdAt: { type: Date, default: () => new Date() },
    finishedAt: Date,
  },
  { collection: 'crm_import_jobs', minimize: false },
);
export const ImportJob = mongoose.model<ImportJobDoc>('CrmImportJob', importJobSchema);

export interface ImportIssueDoc {
  _id: Types.ObjectId;
  jobId: Types.ObjectId;
  row: number;
  /** 'invalid' rows are skipped; 'matched' rows linked to an existing profile. */
  outcome: 'invalid' | 'matched';
  reasons: string[];
}
const importIssueSchema = new Schema<ImportIssueDoc>(
  {
    jobId: { type: Schema.Types.ObjectId, required: true },
    row: { type: Number, required: true },
    outcome: { type: String, enum: ['invalid', 'matched'], required: true },
    reasons: { type: [String], default: [] },
  },
  { collection: 'crm_import_issues' },
);
// importReport(jobId); unique so a resumed run re-reporting a row writes it once.
importIssueSchema.index({ jobId: 1, row: 1 }, { unique: true });
export const ImportIssue = mongoose.model<ImportIssueDoc>('CrmImportIssue', importIssueSchema);
