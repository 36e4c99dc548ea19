/**
 * Red-envelope campaigns and the claim flow:
 *   eligibility → risk decision → draw → take an envelope (Redis) → durable claim (MongoDB, unique indexes)
 *   → answer the customer → payout job (payouts.ts).
 * What a customer is told they won is exactly a claim record; the payout drives it to "paid" or to a visible,
 * explained failure. The budget holds by construction: envelope amounts are fixed in the deck (deck.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createSnapshot } from '../../infra/snapshot.js';
import { isDuplicateKey } from '../../infra/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Redis } from '../../infra/redis.js';
import type { RiskEngine, RiskFacts, RiskPolicy, RiskSubject } from '../../risk/engine.js';
import { buildDeck, checkPrizeRule, type PrizeRule } from './deck.js';
import { RED_ENVELOPE_ERRORS, redEnvelopeError, type RedEnvelopeErrorCode } from './errors.js';
import {
  RedEnvelopeCampaign,
  RedEnvelopeClaim,
  RedEnvelopeDeck,
  RedEnvelopeDecision,
  type CampaignDoc,
  type CampaignStatus,
  type ClaimDoc,
  type EntryPoint,
  type PayoutState,
} from './model.js';
import { rebuildSlots, releaseSlot, takeSlot } from './slots.js';

export interface CampaignEligibilityRule {
  tiers?: string[];
  verification?: string;
  audienceId?: string;
  /** An event the customer must have, e.g. a purchase of at least 100 fen on a given day. */
  event?: { type: string; minAmountFen?: number; from?: string; until?: string };
}

export interface CampaignEligibilityPort {
  check(
    profileId: string,
    rule: CampaignEligibilityRule,
  ): Promise<{ eligible: true } | { eligible: false; reason: string }>;
}

export interface TransferState {
  state:
    'ACCEPTED' | 'PROCESSING' | 'WAIT_USER_CONFIRM' | 'TRANSFERING' | 'SUCCESS' | 'FAIL' | 'CANCELING' | 'CANCELLED';
  transferBillNo?: string;
  packageInfo?: string;
  failReason?: string;
}

/** WeChat Pay merchant transfers, idempotent by out_bill_no (the pay client implements this). */
export interface TransferPort {
  create(input: {
    account: string;
    outBillNo: string;
    openid: string;
    amountFen: number;
    remark: string;
  }): Promise<TransferState>;
  /** undefined when WeChat Pay has no bill with this number. */
  query(outBillNo: string): Promise<TransferState | undefined>;
}

export type ClaimNoticeKind = 'confirm_needed' | 'paid' | 'failed';

/** Tells the customer what happened to their envelope (customer-service or template message). */
export interface ClaimNotifier {
  notify(notice: {
    claimId: string;
    kind: ClaimNoticeKind;
    profileId: string;
    account: string;
    openid: string;
    amountFen: number;
    packageInfo?: string;
    reason?: string;
  }): Promise<void>;
}

export interface RedEnvelopeDeps {
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  risk: RiskEngine;
  riskPolicy: RiskPolicy;
  eligibility: CampaignEligibilityPort;
  /** Facts about the customer's history for the risk rules (from the CRM). */
  riskFacts(profileId: string): Promise<RiskFacts>;
  transfers: TransferPort;
  notifier: ClaimNotifier;
  /** Queues the payout of a claim (an Agenda job in production). */
  schedulePayout(claimId: string): Promise<void>;
  /** Refuses an approval that is not allowed yet (e.g. a big budget without a passing rehearsal). */
  approvalGate?: (campaign: Campaign) => Promise<void>;
  now?: () => Date;
}

const nowOf = (deps: Pick<RedEnvelopeDeps, 'now'>) => deps.now?.() ?? new Date();

const shanghaiDay = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' });
export function dayOf(at: Date): string {
  return shanghaiDay.format(at);
}

// ------------------------------------------------------------------------------------------- campaigns

export interface CampaignInput {
  name: string;
  accounts: string[];
  startAt: Date;
  endAt: Date;
  budgetFen: number;
  prize: PrizeRule;
  drawChance?: number;
  perCustomerTotal?: number;
  perCustomerPerDay?: number;
  eligibility?: CampaignEligibilityRule;
  entries: EntryPoint[];
  keyword?: string;
  menuKey?: string;
  breakerClaimsPerMinute?: number;
  breakerFailureRate?: number;
}

export type Campaign = CampaignDoc;

function envelopesOf(prize: PrizeRule): number {
  return prize.kind === 'tiers' ? prize.tiers.reduce((n, t) => n + t.count, 0) : prize.count;
}

/** Creates a draft campaign after checking that its prizes fit the budget. */
export async function createCampaign(input: CampaignInput, createdBy: string): Promise<Campaign> {
  const problems = checkPrizeRule(input.prize, input.budgetFen);
  if (input.endAt <= input.startAt) problems.push({ field: 'endAt', problem: 'must be after startAt' });
  if (input.drawChance !== undefined && (input.drawChance <= 0 || input.drawChance > 1))
    problems.push({ field: 'drawChance', problem: 'must be in (0, 1]' });
  if (problems.length > 0) throw redEnvelopeError('campaign_invalid', { problems });
  const created = await RedEnvelopeCampaign.create({
    ...input,
    _id: `re_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
    envelopes: envelopesOf(input.prize),
    status: 'draft',
    createdBy,
  });
  return created.toObject();
}

export async function getCampaign(campaignId: string): Promise<Campaign> {
  const campaign = await RedEnvelopeCampaign.findById(campaignId).lean<Campaign>();
  if (!campaign) throw redEnvelopeError('campaign_not_found', { campaignId });
  return campaign;
}

/**
 * Approves a draft (four eyes: never by its creator) and draws up its prize deck. Approving twice keeps the
 * first deck: the deck's insert is keyed by the campaign id.
 */
export async function approveCampaign(
  campaignId: string,
  approvedBy: string,
  gate?: (campaign: Campaign) => Promise<void>,
): Promise<Campaign> {
  const campaign = await getCampaign(campaignId);
  if (campaign.createdBy === approvedBy) throw redEnvelopeError('approval_needs_other_staff');
  if (campaign.status !== 'draft' && campaign.status !== 'approved') throw redEnvelopeError('campaign_state');
  await gate?.(campaign);
  try {
    await RedEnvelopeDeck.create({
      _id: campaignId,
      amounts: buildDeck(campaign.prize as PrizeRule, campaign.budgetFen),
    });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
  return setStatus(campaignId, ['draft', 'approved'], 'approved', undefined, { approvedBy });
}

async function setStatus(
  campaignId: string,
  from: CampaignStatus[],
  to: CampaignStatus,
  reason?: string,
  extra: Record<string, unknown> = {},
): Promise<Campaign> {
  const updated = await RedEnvelopeCampaign.findOneAndUpdate(
    { _id: campaignId, status: { $in: from } },
    { $set: { status: to, statusReason: reason ?? '', ...extra } },
    { returnDocument: 'after' },
  ).lean<Campaign>();
  campaignCache.delete(campaignId);
  keywords.invalidate();
  if (!updated) throw redEnvelopeError('campaign_state', { campaignId, to });
  return updated;
}

/** Starts (or resumes) a campaign; its envelope counters are built in Redis before the first claim. */
export async function startCampaign(redis: Redis, id: string): Promise<Campaign> {
  const campaign = await setStatus(id, ['approved', 'paused'], 'running');
  await rebuildSlots(redis, id, dayOf(new Date()));
  return campaign;
}
export const pauseCampaign = (id: string, reason: string) => setStatus(id, ['running'], 'paused', reason);
export const endCampaign = (id: string, reason = 'ended by staff') =>
  setStatus(id, ['draft', 'approved', 'running', 'paused'], 'ended', reason);

// Campaign and deck reads on the claim path come from memory; status changes clear the entry, and other
// processes see them within a second.
// Concurrent claims that find the entry stale share one reload (single flight): a deck of 200,000 amounts
// takes FerretDB seconds to decode, and every claim arriving meanwhile used to start its own read.
const campaignCache = new Map<string, { campaign: Campaign; amounts: number[]; at: number }>();
const reloading = new Map<string, Promise<{ campaign: Campaign; amounts: number[] }>>();

async function liveCampaign(campaignId: string): Promise<{ campaign: Campaign; amounts: number[] }> {
  const cached = campaignCache.get(campaignId);
  if (cached && Date.now() - cached.at < 1000) return cached;
  let reload = reloading.get(campaignId);
  if (!reload) {
    reload = (async () => {
      const campaign = await getCampaign(campaignId);
      const deck =
        cached?.amounts ?? (await RedEnvelopeDeck.findById(campaignId).lean<{ amounts: number[] }>())?.amounts;
      const entry = { campaign, amounts: deck ?? [], at: Date.now() };
      campaignCache.set(campaignId, entry);
      return entry;
    })().finally(() => reloading.delete(campaignId));
    reloading.set(campaignId, reload);
  }
  return reload;
}

// The chat asks "is this text a running campaign's keyword?" for every message: answered from memory
// (src/infra/snapshot.ts), so a callback never waits on the database for a text that is not a keyword.
const keywords = createSnapshot(async () => {
  const running = await RedEnvelopeCampaign.find({ status: 'running' }, { keyword: 1, accounts: 1 }).lean<
    { _id: string; keyword?: string; accounts: string[] }[]
  >();
  const byKeyword = new Map<string, string>();
  for (const c of running)
    if (c.keyword) for (const account of c.accounts) byKeyword.set(`${account}\u0000${c.keyword}`, c._id);
  return byKeyword;
});

/** The running campaign whose keyword is exactly `text` on this account, if any. */
export async function campaignForKeyword(account: string, text: string): Promise<string | undefined> {
  return (await keywords.get()).get(`${account}\u0000${text}`);
}

// ------------------------------------------------------------------------------------------- claims

export interface ClaimInput {
  campaignId: string;
  profileId: string;
  account: string;
  openid: string;
  entry: EntryPoint;
  /** One claim per key: the chat passes the message id, H5 an Idempotency-Key. */
  requestKey: string;
  subject?: Omit<RiskSubject, 'profileId' | 'openid'>;
  /** Set when staff approved a claim held for review: the risk rules were already judged. */
  reviewedBy?: string;
}

export type ClaimResult =
  | { status: 'won'; claimId: string; amountFen: number; payout: PayoutState }
  | { status: 'lost'; claimId: string }
  | { status: 'review'; decisionId: string };

function resultOf(claim: ClaimDoc): ClaimResult {
  return claim.outcome === 'won'
    ? {
        status: 'won',
        claimId: claim._id.toString(),
        amountFen: claim.amountFen,
        payout: claim.payout?.state ?? 'pending',
      }
    : { status: 'lost', claimId: claim._id.toString() };
}

/** Runs one claim to its answer; the same request key always gets the same answer. */
export async function claimEnvelope(deps: RedEnvelopeDeps, input: ClaimInput): Promise<ClaimResult> {
  const { campaign, amounts } = await liveCampaign(input.campaignId);
  const at = nowOf(deps);
  // Concurrent copies of one request (a retried message, a double tap) wait for the first one's answer; once
  // answered, the key names the claim for an hour, so a first request pays no database read for replays.
  // Past the hour (or after Redis lost the key) the unique index on the request key still answers a replay
  // with its first claim (DuplicateRequest below).
  const requestLock = `re:{${campaign._id}}:req:${input.requestKey}`;
  if ((await deps.redis.set(requestLock, '1', 'PX', 10_000, 'NX')) !== 'OK') {
    const answered = await deps.redis.get(requestLock);
    if (answered?.startsWith('claim:')) {
      const first = await RedEnvelopeClaim.findById(answered.slice('claim:'.length)).lean<ClaimDoc>();
      if (first) return resultOf(first);
    }
    return awaitFirst(deps, campaign._id, input.requestKey);
  }
  try {
    const result = await claimLocked(deps, input, campaign, amounts, at);
    if (result.status !== 'review') await deps.redis.set(requestLock, `claim:${result.claimId}`, 'EX', 3600);
    return result;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') await deps.redis.set(`${requestLock}:error`, code, 'EX', 60);
    throw err;
  }
}

async function claimLocked(
  deps: RedEnvelopeDeps,
  input: ClaimInput,
  campaign: Campaign,
  amounts: number[],
  at: Date,
): Promise<ClaimResult> {
  if (campaign.status !== 'running' || at < campaign.startAt || at > campaign.endAt)
    throw redEnvelopeError('campaign_not_running');
  if (!campaign.entries.includes(input.entry) || !campaign.accounts.includes(input.account))
    throw redEnvelopeError('entry_not_allowed');

  const day = dayOf(at);
  const verdict = await deps.eligibility.check(
    input.profileId,
    (campaign.eligibility ?? {}) as CampaignEligibilityRule,
  );
  if (!verdict.eligible) throw redEnvelopeError('not_eligible', { reason: verdict.reason });

  let risk: { verdict: string; rules: { rule: string; verdict: string; detail: string }[] } = {
    verdict: 'allow',
    rules: [],
  };
  if (!input.reviewedBy) {
    const decision = await deps.risk.assess(
      `redenvelope:${campaign._id}`,
      { profileId: input.profileId, openid: input.openid, ...input.subject },
      await deps.riskFacts(input.profileId),
      deps.riskPolicy,
    );
    risk = decision;
    if (decision.verdict !== 'allow') return holdOrDeny(deps, input, decision.verdict, decision.rules);
  }

  await tripBreakerOnSpike(deps, campaign);

  const wins = campaign.drawChance >= 1 || Math.random() < campaign.drawChance;
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const taken = await takeSlot(deps.redis, {
      campaignId: campaign._id,
      envelopes: campaign.envelopes,
      profileId: input.profileId,
      day,
      limitTotal: campaign.perCustomerTotal,
      limitDay: campaign.perCustomerPerDay,
      wins,
    });
    if (taken.kind === 'sold_out') return replayOr(campaign._id, input.requestKey, 'sold_out');
    if (taken.kind === 'limit') return replayOr(campaign._id, input.requestKey, 'limit_reached');
    if (taken.kind === 'daily_limit') return replayOr(campaign._id, input.requestKey, 'daily_limit_reached');
    const base = {
      campaignId: campaign._id,
      profileId: input.profileId,
      account: input.account,
      openid: input.openid,
      entry: input.entry,
      requestKey: input.requestKey,
      nth: taken.nth,
      day,
      dayNth: taken.dayNth,
      risk,
    };
    const release = () =>
      releaseSlot(deps.redis, { campaignId: campaign._id, profileId: input.profileId, day, slot: taken.slot });
    try {
      if (taken.slot === 0)
        return await insertClaim(deps, { ...base, slotKey: `lost:${randomUUID()}`, outcome: 'lost', amountFen: 0 });
      const amountFen = amounts[taken.slot - 1];
      if (amountFen === undefined) throw new Error(`campaign ${campaign._id} has no envelope ${taken.slot}`);
      return await insertClaim(deps, {
        ...base,
        slotKey: `slot:${taken.slot}`,
        outcome: 'won',
        amountFen,
        outBillNo: outBillNoOf(base),
        payout: { state: 'pending', outBillNo: outBillNoOf(base), attempts: 0 },
      });
    } catch (err) {
      if (err instanceof SlotTaken) {
        // Handed out twice across a Redis rebuild: the slot stays taken (not given back), the customer's draw
        // is given back, and another slot is taken.
        await releaseSlot(deps.redis, { campaignId: campaign._id, profileId: input.profileId, day, slot: 0 });
        continue;
      }
      await release();
      if (err instanceof DuplicateRequest) return resultOf(err.claim);
      throw err;
    }
  }
  throw new Error('no free envelope after repeated slot collisions');
}

async function awaitFirst(deps: RedEnvelopeDeps, campaignId: string, requestKey: string): Promise<ClaimResult> {
  for (let waited = 0; waited < 8000; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    const failed = await deps.redis.get(`re:{${campaignId}}:req:${requestKey}:error`);
    if (failed && failed in RED_ENVELOPE_ERRORS) throw redEnvelopeError(failed as RedEnvelopeErrorCode);
    const first = await RedEnvelopeClaim.findOne({ campaignId, requestKey }).lean<ClaimDoc>();
    if (first) return resultOf(first);
    const held = await RedEnvelopeDecision.findOne({ campaignId, requestKey }).lean<{
      _id: { toString(): string };
      verdict: string;
    }>();
    if (held?.verdict === 'review') return { status: 'review', decisionId: held._id.toString() };
    if (held) throw redEnvelopeError('risk_denied');
  }
  throw redEnvelopeError('campaign_not_running', { reason: 'the first copy of this request did not finish' });
}

/** A request that lost the race to its own retry gets the retry's answer; otherwise the limit's. */
async function replayOr(
  campaignId: string,
  requestKey: string,
  code: 'limit_reached' | 'daily_limit_reached' | 'sold_out',
): Promise<ClaimResult> {
  const same = await RedEnvelopeClaim.findOne({ campaignId, requestKey }).lean<ClaimDoc>();
  if (same) return resultOf(same);
  throw redEnvelopeError(code);
}

class DuplicateRequest extends Error {
  constructor(readonly claim: ClaimDoc) {
    super('duplicate request');
  }
}

class SlotTaken extends Error {}

/**
 * The out_bill_no is derived from what makes the claim unique, so it is known before the claim is written
 * and never changes: WeChat Pay refuses a second bill with the same number.
 */
function outBillNoOf(claim: { campaignId: string; profileId: string; nth: number }): string {
  // Letters and digits only, at most 32 characters (WeChat Pay's out_bill_no rule).
  const digest = createHash('sha256').update(`${claim.campaignId}|${claim.profileId}|${claim.nth}`).digest('hex');
  return `RE${digest.slice(0, 30).toUpperCase()}`;
}

async function insertClaim(
  deps: RedEnvelopeDeps,
  doc: Record<string, unknown> & {
    campaignId: string;
    profileId: string;
    requestKey: string;
    slotKey: string;
    day: string;
    dayNth: number;
  },
): Promise<ClaimResult> {
  try {
    const created = await RedEnvelopeClaim.create(doc);
    const claim = created.toObject() as ClaimDoc;
    deps.metrics
      .counter('red_envelope_claims_total', 'Red-envelope claims by outcome', ['outcome'])
      .inc({ outcome: claim.outcome });
    if (claim.outcome === 'won') {
      deps.logger.info(
        { claimId: claim._id.toString(), campaignId: claim.campaignId, amountFen: claim.amountFen },
        'envelope won',
      );
      // The claim is durable: the customer's answer does not wait for the payout's schedule (one more write,
      // 15-20 ms on a loaded FerretDB), and a schedule lost to a crash is picked up by the reconciliation job.
      void deps.schedulePayout(claim._id.toString()).catch((err: unknown) => {
        deps.logger.warn({ claimId: claim._id.toString(), err: { message: String(err) } }, 'payout not scheduled');
      });
    }
    return resultOf(claim);
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    // Which unique index refused the claim is read from the data, not from the error: FerretDB's duplicate
    // key errors do not always name the index (keyPattern), and taking a slot collision for a customer
    // limit would hand the taken slot back to the free list, where every later claim would meet it again.
    const same = await RedEnvelopeClaim.findOne({
      campaignId: doc.campaignId,
      requestKey: doc.requestKey,
    }).lean<ClaimDoc>();
    if (same) throw new DuplicateRequest(same);
    if (
      doc.slotKey.startsWith('slot:') &&
      (await RedEnvelopeClaim.exists({ campaignId: doc.campaignId, slotKey: doc.slotKey }))
    )
      throw new SlotTaken();
    // Another claim of the same customer holds this nth (or day's nth): counters drifted after a Redis loss.
    const sameDay = await RedEnvelopeClaim.exists({
      campaignId: doc.campaignId,
      profileId: doc.profileId,
      day: doc.day,
      dayNth: doc.dayNth,
    });
    throw redEnvelopeError(sameDay ? 'daily_limit_reached' : 'limit_reached');
  }
}

async function holdOrDeny(
  deps: RedEnvelopeDeps,
  input: ClaimInput,
  verdict: 'review' | 'deny',
  rules: { rule: string; verdict: string; detail: string }[],
): Promise<ClaimResult> {
  let decisionId: string;
  try {
    const created = await RedEnvelopeDecision.create({
      campaignId: input.campaignId,
      profileId: input.profileId,
      account: input.account,
      openid: input.openid,
      entry: input.entry,
      requestKey: input.requestKey,
      verdict,
      rules,
      ...(verdict === 'review' ? { reviewState: 'pending' } : {}),
    });
    decisionId = created._id.toString();
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const first = await RedEnvelopeDecision.findOne({
      campaignId: input.campaignId,
      requestKey: input.requestKey,
    }).lean<{
      _id: { toString(): string };
      verdict: string;
    }>();
    decisionId = first?._id.toString() ?? '';
    verdict = first?.verdict === 'review' ? 'review' : 'deny';
  }
  deps.metrics
    .counter('red_envelope_risk_decisions_total', 'Claims held or refused by risk rules', ['verdict', 'rule'])
    .inc({ verdict, rule: rules[0]?.rule ?? 'unknown' });
  if (verdict === 'deny') throw redEnvelopeError('risk_denied', { rules: rules.map((r) => r.rule) });
  return { status: 'review', decisionId };
}

/** Staff decide a claim held for review: approving runs the claim without the risk rules. */
export async function decideReview(
  deps: RedEnvelopeDeps,
  decisionId: string,
  decision: 'approved' | 'rejected',
  staffId: string,
): Promise<ClaimResult | undefined> {
  const held = await RedEnvelopeDecision.findById(decisionId).lean<{
    campaignId: string;
    profileId: string;
    account: string;
    openid: string;
    entry: EntryPoint;
    requestKey: string;
    reviewState?: string;
  }>();
  if (!held || held.reviewState === undefined) throw redEnvelopeError('campaign_not_found', { decisionId });
  await RedEnvelopeDecision.updateOne({ _id: decisionId }, { reviewState: decision, reviewedBy: staffId });
  if (decision === 'rejected') return undefined;
  return claimEnvelope(deps, {
    campaignId: held.campaignId,
    profileId: held.profileId,
    account: held.account,
    openid: held.openid,
    entry: held.entry,
    requestKey: `${held.requestKey}:reviewed`,
    reviewedBy: staffId,
  });
}

async function tripBreakerOnSpike(deps: RedEnvelopeDeps, campaign: Campaign): Promise<void> {
  if (!campaign.breakerClaimsPerMinute) return;
  const key = `re:{${campaign._id}}:rate:${Math.floor(Date.now() / 60_000)}`;
  const count = await deps.redis.incr(key);
  if (count === 1) await deps.redis.expire(key, 120);
  if (count === campaign.breakerClaimsPerMinute + 1) {
    deps.logger.warn({ campaignId: campaign._id, claimsPerMinute: count }, 'claim spike: campaign paused');
    await pauseCampaign(
      campaign._id,
      `circuit breaker: over ${campaign.breakerClaimsPerMinute} claims per minute`,
    ).catch(() => undefined);
  }
  if (count > campaign.breakerClaimsPerMinute) throw redEnvelopeError('campaign_not_running', { breaker: true });
}

// ------------------------------------------------------------------------------------------- status

export interface ClaimStatus {
  claimId: string;
  campaignId: string;
  campaignName: string;
  amountFen: number;
  state: PayoutState;
  packageInfo?: string;
  failReason?: string;
  wonAt: Date;
}

/** "Where is my red envelope": the real payout state of each of the customer's winning claims. */
export async function claimsOf(profileId: string): Promise<ClaimStatus[]> {
  const claims = await RedEnvelopeClaim.find({ profileId, outcome: 'won' })
    .sort({ createdAt: -1 })
    .limit(20)
    .lean<ClaimDoc[]>();
  const campaigns = await RedEnvelopeCampaign.find(
    { _id: { $in: [...new Set(claims.map((c) => c.campaignId))] } },
    {
      name: 1,
    },
  ).lean<{ _id: string; name: string }[]>();
  return claims.map((c) => ({
    claimId: c._id.toString(),
    campaignId: c.campaignId,
    campaignName: campaigns.find((k) => k._id === c.campaignId)?.name ?? '',
    amountFen: c.amountFen,
    state: c.payout?.state ?? 'pending',
    ...(c.payout?.packageInfo && c.payout.state === 'wait_user_confirm' ? { packageInfo: c.payout.packageInfo } : {}),
    ...(c.payout?.failReason ? { failReason: c.payout.failReason } : {}),
    wonAt: c.createdAt,
  }));
}

/** Yuan with two decimals for customers: 1234 fen → "12.34". */
export function yuan(fen: number): string {
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

/** The chat's answer to "where is my red envelope". */
export function describeClaims(claims: ClaimStatus[]): string {
  if (claims.length === 0) return '您还没有领取过红包。';
  const words: Record<PayoutState, string> = {
    pending: '正在发放',
    submitted: '正在发放',
    wait_user_confirm: '待您确认收款',
    success: '已到账',
    failed: '发放失败',
  };
  return claims
    .map((c) => {
      const tail = c.state === 'failed' && c.failReason ? `（${c.failReason}，客服会联系您处理）` : '';
      return `${c.campaignName}：¥${yuan(c.amountFen)}，${words[c.state]}${tail}`;
    })
    .join('\n');
}
