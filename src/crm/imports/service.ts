/**
 * CSV import of customers or leads: column mapping, per-row validation report, dedup against existing
 * identities (and earlier rows of the same file), dry run, and resumable runs (a checkpoint every
 * CRM_IMPORT_CHECKPOINT_ROWS rows). The file is streamed through csv-parse with backpressure, a batch of
 * rows at a time, so memory stays flat whatever the file's size.
 */
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse';
import { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import { AttributeDef, type AttributeDefDoc } from '../attributes/model.js';
import { coerceAttribute } from '../attributes/service.js';
import type { CrmDeps } from '../deps.js';
import { Identity, type IdentityKind } from '../identities/model.js';
import { canonicalId } from '../profiles/family.js';
import { Profile, type ProfileDoc } from '../profiles/model.js';
import { normalizePhone } from '../phone.js';
import { ProfileTag, Tag } from '../tags/model.js';
import {
  IMPORT_FIELDS,
  ImportIssue,
  ImportJob,
  type ImportCounts,
  type ImportIssueDoc,
  type ImportJobDoc,
} from './model.js';

export interface CreateImportInput {
  filePath: string;
  /** CSV header → field (name, phone, phoneVerified, customerNo, unionid, gender, region, tier, ownerStaffId, tags) or attr:<key>. */
  mapping: Record<string, string>;
  kind: 'customer' | 'lead';
  dryRun: boolean;
  createdBy: string;
}

/** Registers an import after checking its mapping; run it with runImport (a job, or directly). */
export async function createImport(_deps: CrmDeps, input: CreateImportInput): Promise<ImportJobDoc> {
  const problems: string[] = [];
  const targets = Object.values(input.mapping);
  const attrKeys = targets.filter((t) => t.startsWith('attr:')).map((t) => t.slice(5));
  const declared = new Set((await AttributeDef.find({ key: { $in: attrKeys } }, { key: 1 }).lean()).map((d) => d.key));
  for (const [column, field] of Object.entries(input.mapping)) {
    if (field.startsWith('attr:')) {
      if (!declared.has(field.slice(5))) problems.push(`${column}: ${field.slice(5)} is not a declared attribute`);
    } else if (!(IMPORT_FIELDS as readonly string[]).includes(field))
      problems.push(`${column}: unknown field ${field}`);
  }
  if (new Set(targets).size !== targets.length) problems.push('two columns map to the same field');
  if (!['phone', 'customerNo', 'unionid'].some((f) => targets.includes(f)))
    problems.push('map at least one of phone, customerNo, unionid: rows are deduplicated by them');
  if (problems.length > 0)
    throw new DomainError('invalid', 'invalid_mapping', 'The column mapping cannot be used.', { problems });
  return (await ImportJob.create({ ...input })).toObject();
}

interface RowIdentity {
  kind: IdentityKind;
  key: string;
  verified: boolean;
}

interface ValidRow {
  row: number;
  identities: RowIdentity[];
  fields: Partial<ProfileDoc>;
  tagIds: Types.ObjectId[];
}

type RowResult = { ok: true; value: ValidRow } | { ok: false; reasons: string[] };

interface RunContext {
  deps: CrmDeps;
  job: ImportJobDoc;
  defs: Map<string, AttributeDefDoc>;
  tagsByName: Map<string, Types.ObjectId>;
  /** Dry run only: identity keys of earlier rows (16 hex characters each), standing in for the writes. */
  seen?: Set<string>;
}

const GENDER: Record<string, ProfileDoc['gender']> = {
  male: 'male',
  m: 'male',
  男: 'male',
  female: 'female',
  f: 'female',
  女: 'female',
  unknown: 'unknown',
  '': undefined,
};

function validateRow(ctx: RunContext, row: number, record: Record<string, string>): RowResult {
  const reasons: string[] = [];
  const fields: Partial<ProfileDoc> = { attributes: {} };
  const identities: RowIdentity[] = [];
  const tagIds: Types.ObjectId[] = [];
  const value = (field: string): string | undefined => {
    for (const [column, f] of Object.entries(ctx.job.mapping))
      if (f === field) return record[column]?.trim() || undefined;
    return undefined;
  };
  const name = value('name');
  if (name !== undefined) {
    if (name.length > 100) reasons.push('name: longer than 100 characters');
    else fields.name = name;
  }
  const phoneVerified = ['true', '1', 'yes', '是'].includes((value('phoneVerified') ?? '').toLowerCase());
  const phone = value('phone');
  if (phone !== undefined) {
    const normalized = normalizePhone(phone);
    if (!normalized) reasons.push('phone: not a phone number');
    else {
      const stored = ctx.deps.phones.protect(normalized);
      fields.phone = { ...stored, verified: phoneVerified };
      identities.push({ kind: 'phone', key: stored.hash, verified: phoneVerified });
    }
  }
  const customerNo = value('customerNo');
  if (customerNo !== undefined) {
    if (!/^[A-Za-z0-9._:-]{1,64}$/.test(customerNo)) reasons.push('customerNo: 1-64 of A-Z a-z 0-9 . _ : -');
    else identities.push({ kind: 'customer_no', key: customerNo, verified: true });
  }
  const unionid = value('unionid');
  if (unionid !== undefined) {
    if (!/^[A-Za-z0-9_-]{10,64}$/.test(unionid)) reasons.push('unionid: not a unionid');
    else identities.push({ kind: 'unionid', key: unionid, verified: true });
  }
  const gender = value('gender');
  if (gender !== undefined) {
    const g = GENDER[gender.toLowerCase()];
    if (!g) reasons.push('gender: male, female or unknown (男/女)');
    else fields.gender = g;
  }
  const region = value('region');
  if (region !== undefined) {
    if (region.length > 64) reasons.push('region: longer than 64 characters');
    else fields.region = region;
  }
  const tier = value('tier');
  if (tier !== undefined) {
    if (!ctx.deps.config.tiers.includes(tier)) reasons.push(`tier: one of ${ctx.deps.config.tiers.join(', ')}`);
    else fields.tier = tier;
  }
  const ownerStaffId = value('ownerStaffId');
  if (ownerStaffId !== undefined) fields.ownerStaffId = ownerStaffId;
  const tags = value('tags');
  if (tags !== undefined) {
    for (const t of tags
      .split(/[|;；]/)
      .map((x) => x.trim())
      .filter(Boolean)) {
      const id = ctx.tagsByName.get(t);
      if (!id) reasons.push(`tags: no tag named ${t}`);
      else tagIds.push(id);
    }
  }
  for (const [column, field] of Object.entries(ctx.job.mapping)) {
    if (!field.startsWith('attr:')) continue;
    const raw = record[column]?.trim();
    if (!raw) continue;
    const def = ctx.defs.get(field.slice(5));
    if (!def) continue;
    const r = coerceAttribute(def, raw);
    if (r.ok) fields.attributes![def.key] = r.value;
    else reasons.push(r.reason);
  }
  if (identities.length === 0 && reasons.length === 0)
    reasons.push('no phone, customerNo or unionid: the row cannot be deduplicated');
  if (reasons.length > 0) return { ok: false, reasons };
  // Strongest first: the first identity anchors the new profile.
  const order: IdentityKind[] = ['unionid', 'customer_no', 'phone'];
  identities.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  return { ok: true, value: { row, identities, fields, tagIds } };
}

const idKey = (i: Pick<RowIdentity, 'kind' | 'key'>) => `${i.kind}\u0000${i.key}`;

/** Processes one batch of rows; returns its counts and writes its issues (and, unless dry run, its profiles). */
async function processBatch(
  ctx: RunContext,
  rows: { row: number; record: Record<string, string> }[],
): Promise<ImportCounts> {
  const counts: ImportCounts = { rows: rows.length, created: 0, matched: 0, invalid: 0 };
  const issues: Omit<ImportIssueDoc, '_id'>[] = [];
  const valid: ValidRow[] = [];
  for (const { row, record } of rows) {
    const r = validateRow(ctx, row, record);
    if (r.ok) valid.push(r.value);
    else {
      counts.invalid += 1;
      issues.push({ jobId: ctx.job._id, row, outcome: 'invalid', reasons: r.reasons });
    }
  }
  // Rows repeating an earlier row of this batch (or, in a dry run, of the file) are matches.
  const candidates: ValidRow[] = [];
  const inBatch = new Map<string, number>();
  const short = (i: RowIdentity) => idKey(i).slice(0, 16) + i.key.slice(-16);
  for (const v of valid) {
    const earlier = v.identities.some((i) => inBatch.has(idKey(i)) || ctx.seen?.has(short(i)));
    if (earlier) {
      counts.matched += 1;
      issues.push({ jobId: ctx.job._id, row: v.row, outcome: 'matched', reasons: ['same customer as an earlier row'] });
      continue;
    }
    for (const i of v.identities) {
      inBatch.set(idKey(i), v.row);
      ctx.seen?.add(short(i));
    }
    candidates.push(v);
  }
  const matched: { row: ValidRow; owner: Types.ObjectId }[] = [];
  if (ctx.job.dryRun) {
    const owners = await ownersOf(candidates.flatMap((v) => v.identities));
    for (const v of candidates) {
      const owner = v.identities.map((i) => owners.get(idKey(i))).find(Boolean);
      if (owner) matched.push({ row: v, owner });
      else counts.created += 1;
    }
  } else {
    const written = await writeFresh(ctx, candidates);
    counts.created += written.created;
    matched.push(...written.matched);
    const tags = await Promise.all(
      written.matched.flatMap(({ row, owner }) =>
        row.tagIds.map(async (tagId) => ({
          profileId: await canonicalId(owner),
          tagId,
          source: `import:${String(ctx.job._id)}`,
          at: ctx.deps.now(),
        })),
      ),
    );
    await insertIgnoringDuplicates(ProfileTag, tags);
  }
  for (const { row, owner } of matched) {
    counts.matched += 1;
    issues.push({
      jobId: ctx.job._id,
      row: row.row,
      outcome: 'matched',
      reasons: [`already known as profile ${String(owner)}`],
    });
  }
  await insertIgnoringDuplicates(
    ImportIssue,
    issues.sort((x, y) => x.row - y.row),
  );
  return counts;
}

/** Who owns these identities (one `$in` per kind). */
async function ownersOf(identities: Pick<RowIdentity, 'kind' | 'key'>[]): Promise<Map<string, Types.ObjectId>> {
  const owners = new Map<string, Types.ObjectId>();
  for (const kind of ['unionid', 'customer_no', 'phone'] as IdentityKind[]) {
    const keys = [...new Set(identities.filter((i) => i.kind === kind).map((i) => i.key))];
    if (keys.length === 0) continue;
    const found = await Identity.find({ kind, key: { $in: keys } }, { kind: 1, key: 1, profileId: 1 }).lean();
    for (const f of found) owners.set(idKey(f), f.profileId);
  }
  return owners;
}

/**
 * Writes new profiles insert-first: every identity of every row goes in under the unique (kind, key) index,
 * and a row with any identity already taken is a match (its other new identities are taken back). No
 * look-up precedes the writes: on FerretDB a look-up scans the collection, while the unique index check
 * is PostgreSQL's own, so a batch costs the same at row 100,000 as at row 1.
 */
async function writeFresh(
  ctx: RunContext,
  rows: ValidRow[],
): Promise<{ created: number; matched: { row: ValidRow; owner: Types.ObjectId }[] }> {
  if (rows.length === 0) return { created: 0, matched: [] };
  const source = `import:${String(ctx.job._id)}`;
  const now = ctx.deps.now();
  const ids = rows.map(() => new Types.ObjectId());
  const rowOf: number[] = [];
  const docs = rows.flatMap((v, n) =>
    v.identities.map((i) => {
      rowOf.push(n);
      return { _id: new Types.ObjectId(), ...i, profileId: ids[n]!, source, createdAt: now };
    }),
  );
  const failed = await insertIgnoringDuplicates(Identity, docs);
  const taken = new Set([...failed].map((k) => rowOf[k]!));
  const takenBack = docs.filter((_, k) => taken.has(rowOf[k]!) && !failed.has(k)).map((d) => d._id);
  if (takenBack.length > 0) await Identity.deleteMany({ _id: { $in: takenBack } });
  const owners = await ownersOf(docs.filter((_, k) => failed.has(k)));
  const matched: { row: ValidRow; owner: Types.ObjectId }[] = [];
  const profiles: object[] = [];
  const tags: object[] = [];
  rows.forEach((v, n) => {
    if (taken.has(n)) {
      const owner = v.identities.map((i) => owners.get(idKey(i))).find(Boolean);
      // An owner that vanished between the insert and the look-up (an unmerge) still makes the row a match.
      matched.push({ row: v, owner: owner ?? ids[n]! });
      return;
    }
    profiles.push({
      _id: ids[n]!,
      tier: ctx.deps.config.tiers[0]!,
      stage: ctx.job.kind === 'customer' ? 'customer' : 'lead',
      source,
      attributes: {},
      ...v.fields,
      createdAt: now,
      updatedAt: now,
    });
    for (const tagId of v.tagIds) tags.push({ profileId: ids[n]!, tagId, source, at: now });
  });
  if (profiles.length > 0) await Profile.collection.insertMany(profiles, { ordered: false });
  await insertIgnoringDuplicates(ProfileTag, tags);
  return { created: profiles.length, matched };
}

/** insertMany that tolerates duplicate-key rejections; returns the indexes of the rejected documents. */
async function insertIgnoringDuplicates(
  model: { collection: { insertMany(docs: object[], opts: { ordered: boolean }): Promise<unknown> } },
  docs: object[],
): Promise<Set<number>> {
  const failed = new Set<number>();
  if (docs.length === 0) return failed;
  try {
    await model.collection.insertMany(docs, { ordered: false });
  } catch (err) {
    const writeErrors = (err as { writeErrors?: { index: number; code: number }[] | { index: number; code: number } })
      .writeErrors;
    const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
    if (list.length === 0 || list.some((w) => w.code !== 11000)) {
      if (!isDuplicateKey(err)) throw err;
    }
    for (const w of list) failed.add(w.index);
  }
  return failed;
}

const LOCK_SECONDS = 300;

/**
 * Runs (or resumes) an import from its last checkpoint. One runner per job at a time (a Redis lock);
 * a second call while it runs is refused.
 */
export async function runImport(deps: CrmDeps, jobId: Types.ObjectId): Promise<ImportJobDoc> {
  const job = await ImportJob.findById(jobId).lean();
  if (!job) throw new DomainError('not_found', 'import_not_found', 'No such import.');
  if (job.state === 'completed') return job;
  const lockKey = `crm:import-lock:${String(jobId)}`;
  if ((await deps.redis.set(lockKey, '1', 'EX', LOCK_SECONDS, 'NX')) !== 'OK')
    throw new DomainError('conflict', 'import_running', 'This import is already running.');
  const defs = new Map((await AttributeDef.find().lean()).map((d) => [d.key, d]));
  const tagsByName = new Map<string, Types.ObjectId>();
  for (const t of await Tag.find({}, { name: 1 }).lean()) tagsByName.set(t.name, t._id);
  const ctx: RunContext = { deps, job, defs, tagsByName, seen: job.dryRun ? new Set() : undefined };
  const counts: ImportCounts = { ...job.counts };
  let checkpoint = job.checkpoint;
  const batchSize = deps.config.importCheckpointRows;
  await ImportJob.updateOne({ _id: jobId }, { $set: { state: 'running' }, $unset: { error: 1 } });
  deps.logger.info({ importId: String(jobId), from: checkpoint }, 'crm: import started');
  try {
    const parser = createReadStream(job.filePath).pipe(
      parseCsv({ columns: true, bom: true, skip_empty_lines: true, relax_column_count: true, trim: true }),
    );
    let batch: { row: number; record: Record<string, string> }[] = [];
    let row = 0;
    const flush = async () => {
      const c = await processBatch(ctx, batch);
      counts.rows += c.rows;
      counts.created += c.created;
      counts.matched += c.matched;
      counts.invalid += c.invalid;
      checkpoint = batch[batch.length - 1]!.row;
      batch = [];
      await ImportJob.updateOne({ _id: jobId }, { $set: { checkpoint, counts } });
      await deps.redis.expire(lockKey, LOCK_SECONDS);
    };
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      row += 1;
      if (row <= checkpoint) continue; // done by an earlier run
      batch.push({ row, record });
      if (batch.length >= batchSize) await flush();
    }
    if (batch.length > 0) await flush();
    await ImportJob.updateOne(
      { _id: jobId },
      { $set: { state: 'completed', finishedAt: deps.now(), counts, checkpoint } },
    );
    deps.logger.info({ importId: String(jobId), counts }, 'crm: import completed');
  } catch (err) {
    const message = err instanceof Error ? err.message.slice(0, 300) : 'import failed';
    await ImportJob.updateOne({ _id: jobId }, { $set: { state: 'failed', error: message } });
    deps.logger.warn({ importId: String(jobId), checkpoint }, 'crm: import failed; resumable from its checkpoint');
    throw err;
  } finally {
    await deps.redis.del(lockKey);
  }
  return (await ImportJob.findById(jobId).lean())!;
}

export interface ImportReport {
  id: string;
  state: ImportJobDoc['state'];
  dryRun: boolean;
  checkpoint: number;
  counts: ImportCounts;
  error?: string;
  issues: { row: number; outcome: 'invalid' | 'matched'; reasons: string[] }[];
  nextRow?: number;
}

/** The job's state and counts, with its row issues in row order (paged by row number). */
export async function importReport(
  jobId: Types.ObjectId,
  input: { afterRow?: number; limit?: number; outcome?: 'invalid' | 'matched' } = {},
): Promise<ImportReport> {
  const job = await ImportJob.findById(jobId).lean();
  if (!job) throw new DomainError('not_found', 'import_not_found', 'No such import.');
  const limit = Math.min(input.limit ?? 100, 1000);
  const issues = await ImportIssue.find({
    jobId,
    row: { $gt: input.afterRow ?? 0 },
    ...(input.outcome ? { outcome: input.outcome } : {}),
  })
    .sort({ row: 1 })
    .limit(limit + 1)
    .lean();
  const page = issues.slice(0, limit);
  return {
    id: String(job._id),
    state: job.state,
    dryRun: job.dryRun,
    checkpoint: job.checkpoint,
    counts: job.counts,
    error: job.error,
    issues: page.map((i) => ({ row: i.row, outcome: i.outcome, reasons: i.reasons })),
    nextRow: issues.length > limit ? page[page.length - 1]?.row : undefined,
  };
}

/** Starts an import whose file arrives in chunks (the admin API): the file lives under CRM_IMPORT_DIR. */
export async function createUploadImport(
  deps: CrmDeps,
  input: Omit<CreateImportInput, 'filePath'>,
): Promise<ImportJobDoc> {
  await mkdir(deps.config.importDir, { recursive: true });
  const filePath = join(deps.config.importDir, `${new Types.ObjectId().toHexString()}.csv`);
  await writeFile(filePath, '');
  return createImport(deps, { ...input, filePath });
}

/**
 * Appends chunk `seq` (0, 1, 2, …) of the file. A retried chunk is acknowledged without writing twice; a
 * chunk out of order is refused with the expected number.
 */
export async function appendImportChunk(
  deps: CrmDeps,
  input: { jobId: Types.ObjectId; seq: number; data: string },
): Promise<{ received: number; duplicate: boolean }> {
  const job = await ImportJob.findById(input.jobId, { state: 1, filePath: 1 }).lean();
  if (!job) throw new DomainError('not_found', 'import_not_found', 'No such import.');
  if (job.state !== 'pending') throw new DomainError('conflict', 'import_started', 'The import has already started.');
  const next = `crm:import-next:${String(job._id)}`;
  const expected = Number((await deps.redis.get(next)) ?? '0');
  if (input.seq < expected) return { received: expected, duplicate: true };
  if (input.seq > expected)
    throw new DomainError('conflict', 'chunk_out_of_order', `Send chunk ${expected} next.`, { expected });
  // One writer per chunk number: a concurrent retry of the same chunk loses here.
  if ((await deps.redis.set(`${next}:${input.seq}`, '1', 'EX', 86_400, 'NX')) !== 'OK')
    return { received: expected, duplicate: true };
  await appendFile(job.filePath, input.data);
  const received = await deps.redis.incr(next);
  await deps.redis.expire(next, 86_400);
  return { received, duplicate: false };
}
