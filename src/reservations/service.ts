/**
 * Reservation programs: scarce products offered first to eligible customers through single-use codes.
 *
 * - Issuing never exceeds the quota: a Redis counter is the gate (a Lua check-and-increment), and a unique
 *   index caps each customer at the per-customer limit. A slot taken by a claim that then fails is given back.
 * - Redeeming happens exactly once: the first insert into `reservation_outcomes` (unique per code) wins;
 *   a retried request with the same idempotency key gets the same answer, anyone else learns when it was used.
 * - Codes are never stored or logged in clear (codes.ts); failures are throttled per customer, IP and API key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import mongoose from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import { createInsertBatcher } from '../infra/insert-batcher.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import type { Redis } from '../infra/redis.js';
import type { AttemptGuard } from '../risk/attempts.js';
import { formatCode, generateCode, hashCode, maskCode, openCode, parseCode, sealCode, type CodeKeys } from './codes.js';
import { reservationError } from './errors.js';
import {
  ReservationAttempt,
  ReservationCode,
  ReservationNotice,
  ReservationOutcome,
  ReservationProgram,
  type CodeDoc,
  type IssueMode,
  type OutcomeDoc,
  type ProgramDoc,
  type RedeemChannel,
} from './model.js';

// Redemptions and their notices are inserted in small groups (see insert-batcher): under load one
// insertMany carries many customers' redemptions, and the unique indexes still decide every race.
const outcomeWrites = createInsertBatcher(ReservationOutcome);
const noticeWrites = createInsertBatcher(ReservationNotice);

export interface EligibilityRule {
  tiers?: string[];
  verification?: string;
  audienceId?: string;
}

/** Answers whether a customer meets a program's rule (backed by the CRM and audiences). */
export interface EligibilityPort {
  check(profileId: string, rule: EligibilityRule): Promise<{ eligible: true } | { eligible: false; reason: string }>;
}

export type NoticeKind = 'issued' | 'reminder' | 'redeemed';

export interface ReservationNotice {
  /** Stable per (code, kind): senders pass it on as the message's idempotency key (template client_msg_id). */
  noticeId: string;
  kind: NoticeKind;
  profileId: string;
  programId: string;
  programName: string;
  /** Only in the `issued` notice, which goes to the owner alone. */
  code?: string;
  expiresAt: Date;
}

/** Sends lifecycle messages (template messages through the push machinery, which applies consent). */
export interface ReservationNotifier {
  notify(notice: ReservationNotice): Promise<void>;
}

export interface ReservationDeps {
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  keys: CodeKeys;
  eligibility: EligibilityPort;
  notifier: ReservationNotifier;
  attempts: AttemptGuard;
  now?: () => Date;
}

const now = (deps: ReservationDeps) => deps.now?.() ?? new Date();

// ---------------------------------------------------------------------------------------------- programs

export interface ProgramInput {
  name: string;
  description?: string;
  productRef?: string;
  quota: number;
  eligibility?: EligibilityRule;
  issueFrom: Date;
  issueUntil: Date;
  redeemFrom: Date;
  redeemUntil: Date;
  perCustomerLimit?: number;
  issueMode: IssueMode;
  bound?: boolean;
  remindBeforeHours?: number;
}

export type Program = ProgramDoc & { _id: string };

/** Creates a program; the same idempotency key returns the program it created the first time. */
export async function createProgram(
  _deps: ReservationDeps,
  input: ProgramInput,
  createdBy: string,
  idempotencyKey?: string,
): Promise<Program> {
  const id = idempotencyKey
    ? `rp_${createHash('sha256').update(`${createdBy}:${idempotencyKey}`).digest('hex').slice(0, 20)}`
    : `rp_${randomBytes(10).toString('hex')}`;
  try {
    const created = await ReservationProgram.create({ ...input, _id: id, createdBy });
    return created.toObject();
  } catch (err) {
    if (!isDuplicateKey(err) || !idempotencyKey) throw err;
    const existing = await ReservationProgram.findById(id).lean<Program>();
    if (!existing) throw err;
    return existing;
  }
}

export async function getProgram(programId: string): Promise<Program> {
  const program = await ReservationProgram.findById(programId).lean<Program>();
  if (!program) throw reservationError('program_not_found', { programId });
  return program;
}

// Programs change rarely (create, close): the redemption path reads them from memory for a second.
const programCache = new Map<string, { program: Program; at: number }>();
async function cachedProgram(programId: string): Promise<Program> {
  const hit = programCache.get(programId);
  if (hit && Date.now() - hit.at < 1000) return hit.program;
  const program = await getProgram(programId);
  programCache.set(programId, { program, at: Date.now() });
  return program;
}

/** Programs, newest first (active ones first when asked). */
export async function listPrograms(options: { status?: 'active' | 'closed'; limit?: number } = {}): Promise<Program[]> {
  return ReservationProgram.find(options.status ? { status: options.status } : {})
    .sort({ createdAt: -1 })
    .limit(options.limit ?? 100)
    .lean<Program[]>();
}

/** Active programs whose issuing window is open now (for the claim keyword and H5 listing). */
export async function openPrograms(deps: ReservationDeps): Promise<Program[]> {
  const at = now(deps);
  return ReservationProgram.find({ status: 'active', issueFrom: { $lte: at }, issueUntil: { $gte: at } })
    .sort({ issueUntil: 1 })
    .limit(20)
    .lean<Program[]>();
}

/** Closes a program: no more issuing; issued codes stay redeemable until they expire. */
export async function closeProgram(programId: string): Promise<Program> {
  const program = await ReservationProgram.findByIdAndUpdate(
    programId,
    { status: 'closed' },
    { returnDocument: 'after' },
  ).lean<Program>();
  if (!program) throw reservationError('program_not_found', { programId });
  return program;
}

// ---------------------------------------------------------------------------------------------- quota

const quotaKey = (programId: string) => `resv:${programId}:issued`;

// -2: the counter is missing (first use, or Redis lost it) and must be rebuilt from the database.
const TAKE_SLOT = `
local v = redis.call('GET', KEYS[1])
if not v then return -2 end
if tonumber(v) >= tonumber(ARGV[1]) then return -1 end
return redis.call('INCR', KEYS[1])`;

async function takeSlot(deps: ReservationDeps, program: Program): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const result = (await deps.redis.eval(TAKE_SLOT, 1, quotaKey(program._id), program.quota)) as number;
    if (result > 0) return true;
    if (result === -1) return false;
    // Rebuild from the codes that exist. Claims cannot take slots meanwhile (the key is missing), so the
    // count is exact; NX makes the first rebuilder win when several notice at once.
    const issued = await ReservationCode.countDocuments({ programId: program._id });
    await deps.redis.set(quotaKey(program._id), issued, 'NX');
  }
  throw new Error('reservation quota counter could not be rebuilt');
}

async function releaseSlot(deps: ReservationDeps, programId: string): Promise<void> {
  await deps.redis.decr(quotaKey(programId));
}

// ---------------------------------------------------------------------------------------------- issuing

export interface IssuedCode {
  codeId: string;
  programId: string;
  profileId: string;
  /** The full code, for its owner only. */
  code: string;
  masked: string;
  expiresAt: Date;
  /** False when the customer already held their allowance and this is the code they have. */
  created: boolean;
}

export interface ClaimInput {
  programId: string;
  profileId: string;
  /** How the code was asked for: 'keyword', 'menu', 'h5', 'push', 'admin'. */
  via: string;
  /** A retried request with the same key returns the same code. */
  claimKey?: string;
}

function ruleOf(program: Program): EligibilityRule {
  const e = program.eligibility;
  return {
    ...(e?.tiers && e.tiers.length > 0 ? { tiers: e.tiers } : {}),
    ...(e?.verification ? { verification: e.verification } : {}),
    ...(e?.audienceId ? { audienceId: e.audienceId } : {}),
  };
}

function presentIssued(deps: ReservationDeps, doc: CodeDoc, created: boolean): IssuedCode {
  return {
    codeId: doc._id.toString(),
    programId: doc.programId,
    profileId: doc.profileId,
    code: formatCode(openCode(deps.keys, doc.sealed)),
    masked: doc.masked,
    expiresAt: doc.expiresAt,
    created,
  };
}

/**
 * Issues a code to an eligible customer, first come first served under the quota, at most the program's
 * per-customer limit; asking again after the limit returns the code the customer already has.
 */
export async function claimCode(deps: ReservationDeps, input: ClaimInput): Promise<IssuedCode> {
  const program = await getProgram(input.programId);
  const at = now(deps);
  if (program.status !== 'active') throw reservationError('program_closed');
  if (at < program.issueFrom || at > program.issueUntil) throw reservationError('issue_not_open');

  const held = await ReservationCode.find({ programId: program._id, profileId: input.profileId })
    .sort({ nth: 1 })
    .lean<CodeDoc[]>();
  const replay = input.claimKey ? held.find((c) => c.claimKey === input.claimKey) : undefined;
  if (replay) return presentIssued(deps, replay, false);
  if (held.length >= program.perCustomerLimit) return presentIssued(deps, held[held.length - 1]!, false);

  const verdict = await deps.eligibility.check(input.profileId, ruleOf(program));
  if (!verdict.eligible) throw reservationError('not_eligible', { reason: verdict.reason });

  if (!(await takeSlot(deps, program))) throw reservationError('sold_out');
  let doc: CodeDoc;
  try {
    doc = await insertCode(deps, program, input, held.length + 1);
  } catch (err) {
    // Give the slot back before explaining: a failed claim must not shrink the quota.
    await releaseSlot(deps, program._id);
    if (!isDuplicateKey(err)) throw err;
    // The same customer claimed concurrently: they get the code that won.
    const winner = await ReservationCode.findOne({ programId: program._id, profileId: input.profileId })
      .sort({ nth: -1 })
      .lean<CodeDoc>();
    if (!winner) throw err;
    return presentIssued(deps, winner, false);
  }
  deps.metrics.counter('reservation_codes_issued_total', 'Reservation codes issued', ['program']).inc({
    program: program._id,
  });
  deps.logger.info({ programId: program._id, profileId: input.profileId, codeId: doc._id.toString() }, 'code issued');
  await deliverNotice(deps, program, doc, 'issued');
  return presentIssued(deps, doc, true);
}

// Issued codes never change (what happens to them is an outcome), so redemption looks them up in a Redis
// copy written at issue time (the sealed code stays in MongoDB only); a miss falls back to MongoDB.
const codeKey = (codeHash: string) => `rsv:code:${codeHash}`;
type CachedCode = Omit<CodeDoc, 'sealed'>;

async function rememberCode(deps: ReservationDeps, doc: CodeDoc): Promise<void> {
  const { sealed: _sealed, ...rest } = doc;
  const ttl = Math.max(60, Math.ceil((doc.expiresAt.getTime() - Date.now()) / 1000) + 7 * 86_400);
  await deps.redis.set(codeKey(doc.codeHash), JSON.stringify(rest), 'EX', ttl).catch(() => undefined);
}

async function codeByHash(deps: ReservationDeps, codeHash: string): Promise<CachedCode | null> {
  const cached = await deps.redis.get(codeKey(codeHash)).catch(() => null);
  if (cached) {
    const raw = JSON.parse(cached) as Omit<CachedCode, '_id' | 'expiresAt' | 'createdAt'> & {
      _id: string;
      expiresAt: string;
      createdAt: string;
    };
    return {
      ...raw,
      _id: new mongoose.Types.ObjectId(raw._id),
      expiresAt: new Date(raw.expiresAt),
      createdAt: new Date(raw.createdAt),
    };
  }
  const doc = await ReservationCode.findOne({ codeHash }).lean<CodeDoc>();
  if (doc) await rememberCode(deps, doc);
  return doc;
}

async function insertCode(deps: ReservationDeps, program: Program, input: ClaimInput, nth: number): Promise<CodeDoc> {
  // A fresh code colliding with an existing hash (2^-50 per pair) is retried with another code, not reported.
  for (let attempt = 0; ; attempt += 1) {
    const code = generateCode();
    try {
      const created = await ReservationCode.create({
        programId: program._id,
        profileId: input.profileId,
        nth,
        codeHash: hashCode(deps.keys, code),
        sealed: sealCode(deps.keys, code),
        masked: maskCode(code),
        expiresAt: program.redeemUntil,
        issuedVia: input.via,
        claimKey: input.claimKey,
      });
      const doc = created.toObject();
      await rememberCode(deps, doc);
      return doc;
    } catch (err) {
      // Read from the data which index refused it: FerretDB's duplicate key errors do not name the index.
      const collidedOnCode =
        isDuplicateKey(err) &&
        !(await ReservationCode.exists({ programId: program._id, profileId: input.profileId, nth }));
      if (!collidedOnCode || attempt >= 2) throw err;
    }
  }
}

export interface IssueSummary {
  issued: number;
  alreadyHeld: number;
  notEligible: number;
  soldOut: number;
}

/** Push mode: issues codes to a list of customers (the push machinery then tells each one). Idempotent. */
export async function issueCodes(
  deps: ReservationDeps,
  programId: string,
  profileIds: readonly string[],
): Promise<IssueSummary> {
  const summary: IssueSummary = { issued: 0, alreadyHeld: 0, notEligible: 0, soldOut: 0 };
  for (const profileId of profileIds) {
    try {
      const result = await claimCode(deps, { programId, profileId, via: 'push', claimKey: `push:${programId}` });
      if (result.created) summary.issued += 1;
      else summary.alreadyHeld += 1;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'not_eligible') summary.notEligible += 1;
      else if (code === 'sold_out') {
        summary.soldOut += profileIds.length - profileIds.indexOf(profileId);
        break;
      } else throw err;
    }
  }
  return summary;
}

// ---------------------------------------------------------------------------------------------- redeeming

export interface RedeemInput {
  /** The code as typed (case, spaces and hyphens are forgiven). */
  code: string;
  channel: RedeemChannel;
  /** The customer redeeming (chat, H5), or the customer a clerk or business system names (API, admin). */
  profileId?: string;
  /** Who acts: `profile:<id>`, `staff:<id>` or `apikey:<id>`. */
  actor: string;
  orderRef?: string;
  idempotencyKey: string;
  /** Extra throttling subjects besides the actor, e.g. `ip:1.2.3.4`. */
  throttle?: string[];
}

export interface Redemption {
  codeId: string;
  programId: string;
  profileId: string;
  masked: string;
  channel: string;
  actor: string;
  orderRef?: string;
  at: Date;
}

function presentRedemption(doc: OutcomeDoc, masked: string): Redemption {
  return {
    codeId: doc.codeId.toString(),
    programId: doc.programId,
    profileId: doc.profileId,
    masked,
    channel: doc.channel ?? '',
    actor: doc.actor,
    ...(doc.orderRef ? { orderRef: doc.orderRef } : {}),
    at: doc.at,
  };
}

async function recordAttempt(channel: RedeemChannel, actor: string, result: string, programId?: string) {
  await ReservationAttempt.create({ channel, actor, result, programId, at: new Date() });
}

/** Redeems a code exactly once; every refusal has its own code (see errors.ts). */
export async function redeemCode(deps: ReservationDeps, input: RedeemInput): Promise<Redemption> {
  const subjects = [input.actor, ...(input.throttle ?? [])];
  await deps.attempts.assertAllowed(subjects);

  const fail = async (code: Parameters<typeof reservationError>[0], programId?: string, details?: object) => {
    await deps.attempts.recordFailure(subjects);
    await recordAttempt(input.channel, input.actor, code, programId);
    deps.metrics.counter('reservation_redeem_failures_total', 'Refused redemptions', ['reason']).inc({ reason: code });
    return reservationError(code, details as Record<string, unknown> | undefined);
  };

  const parsed = parseCode(input.code);
  if (!parsed.ok) throw await fail(parsed.reason === 'check' ? 'code_typo' : 'code_format');
  const code = await codeByHash(deps, hashCode(deps.keys, parsed.code));
  if (!code) throw await fail('code_not_found');
  const program = await cachedProgram(code.programId);
  if (program.bound) {
    if (!input.profileId) throw reservationError('owner_required');
    if (input.profileId !== code.profileId) throw await fail('code_wrong_owner', program._id);
  }

  // The window is checked before the write; a retry of a request that already succeeded still gets the
  // same answer after the window closed (the outcome read below), so only refusals pay for that read.
  const at = now(deps);
  const closed =
    at < program.redeemFrom
      ? reservationError('redeem_not_open', { from: program.redeemFrom })
      : at > code.expiresAt
        ? reservationError('code_expired', { expiredAt: code.expiresAt })
        : undefined;
  if (closed) {
    const earlier = await ReservationOutcome.findOne({ codeId: code._id }).lean<OutcomeDoc>();
    if (earlier) return explainOutcome(earlier, input, code.masked);
    throw closed;
  }

  // The unique index on codeId decides: one outcome per code, whichever channel comes first.
  const outcome = {
    _id: new mongoose.Types.ObjectId(),
    codeId: code._id,
    programId: code.programId,
    profileId: code.profileId,
    outcome: 'redeemed' as const,
    channel: input.channel,
    actor: input.actor,
    orderRef: input.orderRef,
    idempotencyKey: input.idempotencyKey,
    at,
  };
  if ((await outcomeWrites.insert(outcome)) === 'duplicate') {
    const first = await ReservationOutcome.findOne({ codeId: code._id }).lean<OutcomeDoc>();
    if (!first) throw reservationError('code_already_redeemed', {});
    return explainOutcome(first, input, code.masked);
  }
  deps.metrics.counter('reservation_codes_redeemed_total', 'Reservation codes redeemed', ['channel']).inc({
    channel: input.channel,
  });
  deps.logger.info({ codeId: code._id.toString(), programId: program._id, channel: input.channel }, 'code redeemed');
  // The "redeemed" message is the worker's (queueNotice): the answer waits for nothing but the outcome.
  void queueNotice(deps, code, 'redeemed').catch((err: unknown) =>
    deps.logger.warn({ codeId: code._id.toString(), err: { message: String(err) } }, 'redeemed notice not queued'),
  );
  return presentRedemption(outcome, code.masked);
}

function explainOutcome(first: OutcomeDoc, input: RedeemInput, masked: string): Redemption {
  if (first.outcome === 'redeemed' && first.idempotencyKey === input.idempotencyKey)
    return presentRedemption(first, masked);
  if (first.outcome === 'revoked') throw reservationError('code_revoked', { at: first.at });
  throw reservationError('code_already_redeemed', { at: first.at, channel: first.channel });
}

// ---------------------------------------------------------------------------------------------- staff

/** Revokes an unused code (it can no longer be redeemed); a code already redeemed stays redeemed. */
export async function revokeCode(
  _deps: ReservationDeps,
  input: { codeId: string; staffId: string; reason: string },
): Promise<void> {
  if (!mongoose.isValidObjectId(input.codeId)) throw reservationError('code_not_found');
  const code = await ReservationCode.findById(input.codeId).lean<CodeDoc>();
  if (!code) throw reservationError('code_not_found');
  try {
    await ReservationOutcome.create({
      codeId: code._id,
      programId: code.programId,
      profileId: code.profileId,
      outcome: 'revoked',
      actor: `staff:${input.staffId}`,
      reason: input.reason,
      idempotencyKey: `revoke:${input.codeId}`,
      at: new Date(),
    });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const first = await ReservationOutcome.findOne({ codeId: code._id }).lean<OutcomeDoc>();
    if (first?.outcome === 'revoked') return;
    throw reservationError('code_already_redeemed', { at: first?.at });
  }
}

export interface ProgramStats {
  quota: number;
  issued: number;
  redeemed: number;
  revoked: number;
  expired: number;
  remaining: number;
}

export async function programStats(deps: ReservationDeps, programId: string): Promise<ProgramStats> {
  const program = await getProgram(programId);
  const at = now(deps);
  const [issued, redeemed, revoked, expiredCodes] = await Promise.all([
    ReservationCode.countDocuments({ programId }),
    ReservationOutcome.countDocuments({ programId, outcome: 'redeemed' }),
    ReservationOutcome.countDocuments({ programId, outcome: 'revoked' }),
    ReservationCode.find({ programId, expiresAt: { $lt: at } }, { _id: 1 }).lean<{ _id: mongoose.Types.ObjectId }[]>(),
  ]);
  let expired = 0;
  for (let i = 0; i < expiredCodes.length; i += 500) {
    const ids = expiredCodes.slice(i, i + 500).map((c) => c._id);
    const settled = await ReservationOutcome.countDocuments({ codeId: { $in: ids } });
    expired += ids.length - settled;
  }
  return { quota: program.quota, issued, redeemed, revoked, expired, remaining: Math.max(0, program.quota - issued) };
}

export interface CodeView {
  codeId: string;
  programId: string;
  programName: string;
  masked: string;
  /** Present only when shown to the owner. */
  code?: string;
  status: 'active' | 'redeemed' | 'revoked' | 'expired';
  expiresAt: Date;
  issuedAt: Date;
  outcome?: { at: Date; channel?: string; actor: string; orderRef?: string; reason?: string };
  notices: { kind: string; state: string; at: Date }[];
}

/**
 * A customer's codes, newest first. `reveal` is for the owner's own channels (chat, H5); staff screens get
 * masked codes and look codes up by owner, never by typing them.
 */
export async function codesOfOwner(
  deps: ReservationDeps,
  profileId: string,
  options: { reveal: boolean; programId?: string },
): Promise<CodeView[]> {
  const codes = await ReservationCode.find({
    profileId,
    ...(options.programId ? { programId: options.programId } : {}),
  })
    .sort({ createdAt: -1 })
    .limit(200)
    .lean<CodeDoc[]>();
  if (codes.length === 0) return [];
  const ids = codes.map((c) => c._id);
  const [outcomes, notices, programs] = await Promise.all([
    ReservationOutcome.find({ codeId: { $in: ids } }).lean<OutcomeDoc[]>(),
    ReservationNotice.find({ codeId: { $in: ids } }).lean<
      { codeId: mongoose.Types.ObjectId; kind: string; state: string; updatedAt: Date }[]
    >(),
    ReservationProgram.find({ _id: { $in: [...new Set(codes.map((c) => c.programId))] } }).lean<Program[]>(),
  ]);
  const at = now(deps);
  return codes.map((c) => {
    const outcome = outcomes.find((o) => o.codeId.equals(c._id));
    const status = outcome ? outcome.outcome : c.expiresAt < at ? 'expired' : 'active';
    return {
      codeId: c._id.toString(),
      programId: c.programId,
      programName: programs.find((p) => p._id === c.programId)?.name ?? '',
      masked: c.masked,
      ...(options.reveal ? { code: formatCode(openCode(deps.keys, c.sealed)) } : {}),
      status,
      expiresAt: c.expiresAt,
      issuedAt: c.createdAt,
      ...(outcome
        ? {
            outcome: {
              at: outcome.at,
              actor: outcome.actor,
              ...(outcome.channel ? { channel: outcome.channel } : {}),
              ...(outcome.orderRef ? { orderRef: outcome.orderRef } : {}),
              ...(outcome.reason ? { reason: outcome.reason } : {}),
            },
          }
        : {}),
      notices: notices
        .filter((n) => n.codeId.equals(c._id))
        .map((n) => ({ kind: n.kind, state: n.state, at: n.updatedAt })),
    };
  });
}

// ---------------------------------------------------------------------------------------------- notices

/**
 * Sends one lifecycle message per (code, kind): the unique notice row is the "sent once" guarantee, and its
 * id travels with the message so a resend after a crash is dropped by WeChat's client_msg_id.
 */
/** A code as notices need it: the sealed code only for "issued", which shows it to its owner. */
type NoticeCode = CachedCode & Partial<Pick<CodeDoc, 'sealed'>>;

async function deliverNotice(
  deps: ReservationDeps,
  program: Program,
  code: NoticeCode,
  kind: NoticeKind,
): Promise<boolean> {
  const notice = {
    _id: new mongoose.Types.ObjectId(),
    codeId: code._id,
    programId: code.programId,
    kind,
    profileId: code.profileId,
    state: 'pending',
  };
  if ((await noticeWrites.insert(notice)) === 'duplicate') return false;
  await sendNotice(deps, program, code, kind, notice._id.toString());
  return true;
}

// The notice outbox. A lifecycle message decided on a hot path (a redemption) is written as a pending record
// (group-committed, unique per code and kind), then its id is pushed on a Redis list that worker processes
// drain (drainNotices). The record is the truth: an id lost with Redis, or a worker killed mid-send, leaves
// the notice pending, and the reminder job re-drives pending notices older than a minute. A notice sent
// twice by such a re-drive carries the same client_msg_id, which WeChat drops within ten minutes.
const NOTICE_QUEUE = 'rsv:notices';
const STALE_PENDING_MS = 60_000;

interface QueuedNotice {
  noticeId: string;
  codeId: string;
  kind: NoticeKind;
  /** What the message needs of its code, so the worker does not read it back (absent in a sweep's re-drive). */
  code?: { programId: string; profileId: string; expiresAt: string };
}

async function queueNotice(deps: ReservationDeps, code: CachedCode, kind: NoticeKind): Promise<boolean> {
  const notice = {
    _id: new mongoose.Types.ObjectId(),
    codeId: code._id,
    programId: code.programId,
    kind,
    profileId: code.profileId,
    state: 'pending',
  };
  if ((await noticeWrites.insert(notice)) === 'duplicate') return false;
  const item: QueuedNotice = {
    noticeId: notice._id.toString(),
    codeId: code._id.toString(),
    kind,
    code: { programId: code.programId, profileId: code.profileId, expiresAt: code.expiresAt.toISOString() },
  };
  await deps.redis.rpush(NOTICE_QUEUE, JSON.stringify(item));
  return true;
}

/** Sends up to `max` queued notices (worker processes); returns how many it took off the queue. */
export async function drainNotices(deps: ReservationDeps, max = 200, concurrency = 6): Promise<number> {
  const raw = (await deps.redis.lpop(NOTICE_QUEUE, max)) ?? [];
  const items = raw.map((r) => JSON.parse(r) as QueuedNotice);
  let next = 0;
  const work = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await redrive(deps, item);
      } catch (err) {
        // Left pending: the reminder job's sweep picks it up.
        deps.logger.warn({ noticeId: item.noticeId, err: { message: String(err) } }, 'queued notice not sent');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, work));
  return items.length;
}

/** How many notices wait in the queue (metrics, benches). */
export function queuedNotices(deps: ReservationDeps): Promise<number> {
  return deps.redis.llen(NOTICE_QUEUE);
}

/** Sends one notice that is still pending (a sent or failed one is left alone). */
async function redrive(deps: ReservationDeps, item: QueuedNotice): Promise<boolean> {
  const notice = await ReservationNotice.findById(item.noticeId).lean<{ state: string }>();
  if (notice?.state !== 'pending') return false;
  const code: NoticeFacts | null =
    item.code && item.kind !== 'issued'
      ? { ...item.code, expiresAt: new Date(item.code.expiresAt) }
      : await ReservationCode.findById(item.codeId).lean<CodeDoc>();
  if (!code) return false;
  const program = await cachedProgram(code.programId);
  await sendNotice(deps, program, code, item.kind, item.noticeId);
  return true;
}

/** Drains the notice queue continuously (worker processes) until the returned stop() is called. */
export function startNoticeDrain(deps: ReservationDeps, idleMs = 250): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    if (stopped) return;
    running = drainNotices(deps)
      .catch((err: unknown) => {
        deps.logger.warn({ err: { message: String(err) } }, 'notice drain failed');
        return 0;
      })
      .then((took) => {
        if (!stopped) timer = setTimeout(tick, took > 0 ? 0 : idleMs);
      });
  };
  tick();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}

/** What a message says of its code: the sealed code only in "issued", which shows it to its owner. */
type NoticeFacts = Pick<NoticeCode, 'programId' | 'profileId' | 'expiresAt' | 'sealed'>;

async function sendNotice(
  deps: ReservationDeps,
  program: Program,
  code: NoticeFacts,
  kind: NoticeKind,
  noticeId: string,
): Promise<void> {
  try {
    if (kind === 'issued' && !code.sealed) throw new Error('an issued notice needs the sealed code');
    await deps.notifier.notify({
      noticeId,
      kind,
      profileId: code.profileId,
      programId: program._id,
      programName: program.name,
      ...(kind === 'issued' && code.sealed ? { code: formatCode(openCode(deps.keys, code.sealed)) } : {}),
      expiresAt: code.expiresAt,
    });
    await ReservationNotice.updateOne({ _id: noticeId }, { state: 'sent', $unset: { error: 1 } });
  } catch (err) {
    // The customer's code stands; the message is retried by the reminder job.
    const message = err instanceof Error ? err.message : String(err);
    await ReservationNotice.updateOne({ _id: noticeId }, { state: 'failed', error: message.slice(0, 300) });
    deps.logger.warn({ noticeId, kind, err: { message } }, 'reservation notice failed');
  }
}

/**
 * The reminder job's body: one reminder per unused code expiring within its program's reminder window, and a
 * retry of notices that failed. Safe to run concurrently and repeatedly. Returns how many reminders it sent.
 */
export async function sendDueReminders(deps: ReservationDeps): Promise<{ reminded: number; retried: number }> {
  const at = now(deps);
  let reminded = 0;
  const programs = await ReservationProgram.find({ redeemUntil: { $gte: at } }).lean<Program[]>();
  for (const program of programs) {
    const horizon = new Date(at.getTime() + (program.remindBeforeHours ?? 24) * 3_600_000);
    const due = await ReservationCode.find({ programId: program._id, expiresAt: { $gte: at, $lte: horizon } })
      .limit(5000)
      .lean<CodeDoc[]>();
    if (due.length === 0) continue;
    // What to skip, by one equality query each for the whole program: FerretDB pushes equality down, while an
    // `$in` over each batch of codes scanned every outcome and notice once per batch. (The unique index on
    // code and kind still makes each reminder once, whatever these reads miss.)
    const [settled, remindedAlready] = await Promise.all([
      ReservationOutcome.find({ programId: program._id }, { codeId: 1 }).lean<{ codeId: mongoose.Types.ObjectId }[]>(),
      ReservationNotice.find({ programId: program._id, kind: 'reminder' }, { codeId: 1 }).lean<
        { codeId: mongoose.Types.ObjectId }[]
      >(),
    ]);
    const skip = new Set([...settled, ...remindedAlready].map((d) => d.codeId.toString()));
    for (const code of due) {
      if (skip.has(code._id.toString())) continue;
      if (await deliverNotice(deps, program, code, 'reminder')) reminded += 1;
    }
  }
  let retried = 0;
  // Pending notices whose queue entry was lost (Redis flushed, a worker killed mid-send).
  const stale = await ReservationNotice.find({
    state: 'pending',
    createdAt: { $lt: new Date(Date.now() - STALE_PENDING_MS) },
  })
    .limit(500)
    .lean<{ _id: mongoose.Types.ObjectId; codeId: mongoose.Types.ObjectId; kind: NoticeKind }[]>();
  for (const notice of stale)
    if (await redrive(deps, { noticeId: notice._id.toString(), codeId: notice.codeId.toString(), kind: notice.kind }))
      retried += 1;
  const failed = await ReservationNotice.find({ state: 'failed' })
    .limit(500)
    .lean<{ _id: mongoose.Types.ObjectId; codeId: mongoose.Types.ObjectId; kind: NoticeKind }[]>();
  for (const notice of failed) {
    const code = await ReservationCode.findById(notice.codeId).lean<CodeDoc>();
    if (!code) continue;
    const program = await getProgram(code.programId);
    await sendNotice(deps, program, code, notice.kind, notice._id.toString());
    retried += 1;
  }
  return { reminded, retried };
}

const EXPORT_COLUMNS = [
  'codeId',
  'masked',
  'profileId',
  'status',
  'issuedAt',
  'issuedVia',
  'expiresAt',
  'outcomeAt',
  'channel',
  'actor',
  'orderRef',
  'reason',
] as const;

/**
 * A program's codes as CSV for finance and audit: masked codes (never usable), owners, and each code's
 * single outcome. Streamed from a cursor in batches, so memory stays flat for any quota.
 */
export function exportProgramCsv(deps: ReservationDeps, programId: string): Readable {
  const csv = stringify({ header: true, columns: [...EXPORT_COLUMNS] });
  const at = now(deps);
  const rows = Readable.from(
    (async function* () {
      const cursor = ReservationCode.find({ programId }).sort({ _id: 1 }).lean<CodeDoc[]>().cursor({ batchSize: 500 });
      let batch: CodeDoc[] = [];
      const flush = async function* (codes: CodeDoc[]) {
        const outcomes = await ReservationOutcome.find({ codeId: { $in: codes.map((c) => c._id) } }).lean<
          OutcomeDoc[]
        >();
        const byCode = new Map(outcomes.map((o) => [o.codeId.toString(), o]));
        for (const c of codes) {
          const o = byCode.get(c._id.toString());
          yield {
            codeId: c._id.toString(),
            masked: c.masked,
            profileId: c.profileId,
            status: o ? o.outcome : c.expiresAt < at ? 'expired' : 'active',
            issuedAt: c.createdAt.toISOString(),
            issuedVia: c.issuedVia,
            expiresAt: c.expiresAt.toISOString(),
            outcomeAt: o?.at.toISOString() ?? '',
            channel: o?.channel ?? '',
            actor: o?.actor ?? '',
            orderRef: o?.orderRef ?? '',
            reason: o?.reason ?? '',
          };
        }
      };
      for await (const code of cursor) {
        batch.push(code);
        if (batch.length >= 500) {
          yield* flush(batch);
          batch = [];
        }
      }
      if (batch.length > 0) yield* flush(batch);
    })(),
  );
  rows.on('error', (err) => csv.destroy(err));
  return rows.pipe(csv);
}
