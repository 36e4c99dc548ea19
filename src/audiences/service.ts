/**
 * Audiences: define, size, preview and resolve the customers a push or a campaign targets.
 */
import mongoose, { Types } from 'mongoose';
import { DomainError } from '../infra/errors.js';
import { findPage, type Page } from '../staff/index.js';
import { compileCondition, ConditionError, type AttributeDef, type Plan } from './conditions.js';
import { evaluatePlan } from './evaluate.js';
import { Audience, AudienceMember, type AudienceDoc, type SetOp } from './model.js';

export interface AudienceDeps {
  now?: () => Date;
}

const nowOf = (deps: AudienceDeps) => deps.now?.() ?? new Date();

async function declaredAttributes(): Promise<AttributeDef[]> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const defs = await db
    .collection('crm_attribute_defs')
    .find({}, { projection: { key: 1, type: 1, values: 1 } })
    .toArray();
  return defs.map((d) => ({
    key: String(d.key),
    type: d.type as AttributeDef['type'],
    ...(Array.isArray(d.values) ? { values: d.values.map(String) } : {}),
  }));
}

/** Validates and compiles a condition; a bad one is a 400 naming the path. */
export async function compile(deps: AudienceDeps, condition: unknown): Promise<Plan> {
  try {
    return compileCondition(condition, await declaredAttributes(), nowOf(deps));
  } catch (err) {
    if (err instanceof ConditionError)
      throw new DomainError('invalid', 'invalid_condition', err.message, { path: err.path });
    throw err;
  }
}

function notFound(): DomainError {
  return new DomainError('not_found', 'audience_not_found', 'No such audience.');
}

/** One saved audience, or not_found. */
export async function loadAudience(audienceId: string): Promise<AudienceDoc> {
  if (!Types.ObjectId.isValid(audienceId)) throw notFound();
  const audience = await Audience.findById(audienceId).lean<AudienceDoc>();
  if (!audience) throw notFound();
  return audience;
}

/** The profile ids an audience holds now (dynamic ones are evaluated; frozen ones read). */
export async function membersOf(deps: AudienceDeps, audienceId: string, depth = 0): Promise<Set<string>> {
  if (depth > 5) throw new DomainError('invalid', 'audience_too_deep', 'Audiences nest at most 5 levels deep.');
  const audience = await loadAudience(audienceId);
  if (audience.kind === 'condition') {
    const plan = await compile(deps, audience.condition);
    return evaluatePlan(plan, { membersOf: (id) => membersOf(deps, id, depth + 1) });
  }
  if (audience.kind === 'combination') {
    const sets = [];
    for (const id of audience.audienceIds ?? []) sets.push(await membersOf(deps, id.toString(), depth + 1));
    return combine(audience.op ?? 'union', sets);
  }
  const out = new Set<string>();
  const cursor = AudienceMember.find({ audienceId: audience._id }, { profileId: 1, _id: 0 })
    .lean()
    .cursor({ batchSize: 5000 });
  for await (const doc of cursor) out.add(String((doc as { profileId: string }).profileId));
  return out;
}

export function combine(op: SetOp, sets: Set<string>[]): Set<string> {
  const [first, ...rest] = sets;
  if (!first) return new Set();
  const out = new Set(first);
  for (const set of rest) {
    if (op === 'union') for (const id of set) out.add(id);
    else if (op === 'intersection') {
      for (const id of out) if (!set.has(id)) out.delete(id);
    } else for (const id of set) out.delete(id);
  }
  return out;
}

/**
 * How many customers a condition selects now, how long it took to know, and a few of them masked (for the
 * builder: the staff member sees whom the condition reaches without seeing anyone's name or phone).
 */
export async function estimate(
  deps: AudienceDeps,
  condition: unknown,
  sampleSize = 0,
): Promise<{ size: number; tookMs: number; sample: MemberPreview[] }> {
  const started = performance.now();
  const plan = await compile(deps, condition);
  const ids = await evaluatePlan(plan, { membersOf: (id) => membersOf(deps, id, 1) });
  const tookMs = Math.round(performance.now() - started);
  return { size: ids.size, tookMs, sample: sampleSize > 0 ? await preview(ids, sampleSize) : [] };
}

export interface AudienceSummary {
  id: string;
  name: string;
  kind: AudienceDoc['kind'];
  createdBy: string;
  createdAt: string;
  frozenCount?: number;
}

/** Saved audiences, newest first, one page at a time (sizes are read per audience: they cost an evaluation). */
export async function listAudiences(query: {
  limit: number;
  cursor?: string | undefined;
  kind?: AudienceDoc['kind'] | undefined;
}): Promise<Page<AudienceSummary>> {
  return findPage(Audience, {
    filter: query.kind ? { kind: query.kind } : {},
    limit: query.limit,
    ...(query.cursor ? { cursor: query.cursor } : {}),
    projection: { name: 1, kind: 1, createdBy: 1, createdAt: 1, frozenCount: 1 },
    present: (d) => ({
      id: String(d._id),
      name: String(d.name),
      kind: d.kind as AudienceDoc['kind'],
      createdBy: String(d.createdBy),
      createdAt: (d.createdAt as Date).toISOString(),
      ...(typeof d.frozenCount === 'number' ? { frozenCount: d.frozenCount } : {}),
    }),
  });
}

async function freeze(audienceId: Types.ObjectId, ids: Iterable<string>): Promise<number> {
  let batch: { audienceId: Types.ObjectId; profileId: string }[] = [];
  let count = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    // Unordered: a row already written by an interrupted earlier run is skipped, not fatal.
    await AudienceMember.insertMany(batch, { ordered: false }).catch((err: unknown) => {
      const writeErrors = (err as { writeErrors?: { code?: number; err?: { code?: number } }[] }).writeErrors;
      if (!writeErrors?.every((e) => (e.code ?? e.err?.code) === 11000)) throw err;
    });
    count += batch.length;
    batch = [];
  };
  for (const profileId of ids) {
    batch.push({ audienceId, profileId });
    if (batch.length >= 2000) await flush();
  }
  await flush();
  return count;
}

export type AudienceInput =
  | { name: string; kind: 'condition'; condition: unknown }
  | { name: string; kind: 'snapshot'; condition: unknown }
  | { name: string; kind: 'list'; profileIds: string[] }
  | { name: string; kind: 'combination'; op: SetOp; audienceIds: string[] };

/** Saves an audience; snapshots and lists freeze their members now. */
export async function createAudience(
  deps: AudienceDeps,
  input: AudienceInput,
  createdBy: string,
): Promise<AudienceDoc> {
  if (input.kind === 'condition' || input.kind === 'snapshot') await compile(deps, input.condition);
  if (input.kind === 'combination') {
    if (input.audienceIds.length < 2)
      throw new DomainError('invalid', 'invalid_combination', 'Combine at least two audiences.');
    for (const id of input.audienceIds) await loadAudience(id);
  }
  const audience = await Audience.create({
    name: input.name,
    kind: input.kind,
    createdBy,
    ...(input.kind === 'condition' || input.kind === 'snapshot' ? { condition: input.condition } : {}),
    ...(input.kind === 'combination'
      ? { op: input.op, audienceIds: input.audienceIds.map((id) => new Types.ObjectId(id)) }
      : {}),
  });
  if (input.kind === 'snapshot' || input.kind === 'list') {
    const ids =
      input.kind === 'snapshot'
        ? await evaluatePlan(await compile(deps, input.condition), { membersOf: (id) => membersOf(deps, id, 1) })
        : new Set(input.profileIds);
    const frozenCount = await freeze(audience._id, ids);
    await Audience.updateOne({ _id: audience._id }, { frozenCount, frozenAt: nowOf(deps) });
  }
  return (await Audience.findById(audience._id).lean<AudienceDoc>())!;
}

export interface MemberPreview {
  profileId: string;
  name: string;
  tier: string;
  phone?: string;
}

/** A few members with masked names and phones, for the builder's preview. */
export async function preview(ids: Set<string>, limit = 10): Promise<MemberPreview[]> {
  const sample = [...ids]
    .slice(0, limit)
    .filter((id) => Types.ObjectId.isValid(id))
    .map((id) => new Types.ObjectId(id));
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const docs = await db
    .collection('crm_profiles')
    .find({ _id: { $in: sample } }, { projection: { name: 1, tier: 1, 'phone.masked': 1 } })
    .toArray();
  return docs.map((d) => ({
    profileId: String(d._id),
    name: maskName(typeof d.name === 'string' ? d.name : ''),
    tier: String(d.tier ?? ''),
    ...(d.phone && typeof (d.phone as { masked?: unknown }).masked === 'string'
      ? { phone: (d.phone as { masked: string }).masked }
      : {}),
  }));
}

/** 张三丰 → 张**; Alice → A****. */
export function maskName(name: string): string {
  const chars = [...name];
  if (chars.length === 0) return '';
  return chars[0] + '*'.repeat(Math.max(1, chars.length - 1));
}
