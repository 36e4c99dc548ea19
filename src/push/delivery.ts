/**
 * Delivering a push run: for each member of the audience, pick the content for their tier and variant,
 * apply the anti-harassment rules, write the send record, wait for a token from the account's shared rate
 * limit, and call WeChat. Every decision lands in push_sends, which is both the crash-safe progress of the
 * run and the funnel (target → passed rules → sent → delivered).
 */
import { createHash } from 'node:crypto';
import mongoose, { Types } from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import { backoffMs, isPlatformError } from '../platform/kernel/errors.js';
import { isListed } from '../risk/engine.js';
import { PushPlan, PushSend, type PlanContent, type PushPlanDoc, type PushSendDoc } from './model.js';
import { MissingVariables, renderTemplate, type MessageTemplate } from './templates.js';

export interface TemplateSender {
  /** Sends a template message; `clientMsgId` makes a repeated call a no-op at WeChat. */
  send(input: {
    account: string;
    openid: string;
    templateId: string;
    data: Record<string, { value: string }>;
    url?: string;
    clientMsgId: string;
  }): Promise<{ msgId: string }>;
}

export interface PushPolicy {
  capPerDay: number;
  capPerWeek: number;
  /** Per-tier caps override the defaults (e.g. VIPs hear from us less often). */
  tierCaps?: Record<string, { perDay: number; perWeek: number }>;
  /** Quiet hours in Asia/Shanghai, [start, end) across midnight, e.g. 22 → 8. */
  quietStartHour: number;
  quietEndHour: number;
  /** Hours after an unfollow that followed a push during which no marketing goes out. */
  unfollowCooldownHours: number;
  /** Sends per second per account (WeChat's rate limit, shared by every worker). */
  ratePerSecond: number;
}

export interface PushDeps {
  redis: Redis;
  logger: Logger;
  sender: TemplateSender;
  templates: Map<string, MessageTemplate>;
  policy: PushPolicy;
  /** The audience's members now (audiences/service.ts). */
  members(audienceId: string): Promise<Set<string>>;
  now?: () => Date;
  /** Test seam for waiting on the rate limit and backoff. */
  sleep?: (ms: number) => Promise<void>;
}

const sleepOf = (deps: PushDeps) => deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

/** Deterministic A/B split: the same profile lands in the same variant of a plan every time. */
export function variantOf(planId: string, profileId: string, splitB: number): 'A' | 'B' {
  if (splitB <= 0) return 'A';
  const bucket = createHash('sha256').update(`${planId}:${profileId}`).digest().readUInt32BE(0) / 0x1_0000_0000;
  return bucket < splitB ? 'B' : 'A';
}

function contentFor(plan: PushPlanDoc, tier: string, variant: 'A' | 'B'): PlanContent | undefined {
  const ofVariant = plan.contents.filter((c) => c.variant === variant);
  const pool = ofVariant.length > 0 ? ofVariant : plan.contents.filter((c) => c.variant === 'A');
  return pool.find((c) => c.tiers?.includes(tier)) ?? pool.find((c) => !c.tiers || c.tiers.length === 0);
}

export function shanghaiHour(at: Date): number {
  return (at.getUTCHours() + 8) % 24;
}

export function inQuietHours(policy: PushPolicy, at: Date): boolean {
  const hour = shanghaiHour(at);
  return policy.quietStartHour > policy.quietEndHour
    ? hour >= policy.quietStartHour || hour < policy.quietEndHour
    : hour >= policy.quietStartHour && hour < policy.quietEndHour;
}

// Token bucket per account in Redis, shared by every worker: refills `rate` tokens per second up to `rate`.
// Returns 0 when a token was taken, else the milliseconds to wait.
const TAKE_TOKEN = `
local rate = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or rate
local at = tonumber(state[2]) or now
tokens = math.min(rate, tokens + (now - at) * rate / 1000)
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tokens - 1, 'at', now)
  redis.call('PEXPIRE', KEYS[1], 60000)
  return 0
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000)
return math.ceil((1 - tokens) * 1000 / rate)`;

async function takeToken(deps: PushDeps, account: string): Promise<void> {
  for (;;) {
    const wait = (await deps.redis.eval(
      TAKE_TOKEN,
      1,
      `push:bucket:${account}`,
      deps.policy.ratePerSecond,
      Date.now(),
    )) as number;
    if (wait <= 0) return;
    await sleepOf(deps)(wait);
  }
}

// Frequency cap across all plans: both counters move together or not at all.
const TAKE_CAP = `
local d = tonumber(redis.call('GET', KEYS[1]) or '0')
local w = tonumber(redis.call('GET', KEYS[2]) or '0')
if d >= tonumber(ARGV[1]) then return -1 end
if w >= tonumber(ARGV[2]) then return -2 end
redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], 172800)
redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], 1209600)
return 1`;

function capKeys(profileId: string, at: Date): [string, string] {
  const local = new Date(at.getTime() + 8 * 3_600_000);
  const day = local.toISOString().slice(0, 10);
  const week = Math.floor((local.getTime() / 86_400_000 + 3) / 7); // weeks starting Monday
  return [`push:cap:d:${day}:${profileId}`, `push:cap:w:${week}:${profileId}`];
}

/** Marks an unfollow that came soon after a push (the gateway's unsubscribe handler calls this). */
export async function noteUnfollow(deps: Pick<PushDeps, 'redis' | 'policy'>, profileId: string): Promise<boolean> {
  const lastPush = await deps.redis.get(`push:last:${profileId}`);
  if (!lastPush) return false;
  await deps.redis.set(
    `push:cooldown:${profileId}`,
    lastPush,
    'EX',
    Math.max(1, deps.policy.unfollowCooldownHours * 3600),
  );
  return true;
}

interface Recipient {
  profileId: string;
  tier: string;
  openid?: string;
  consent: boolean;
}

async function recipients(account: string, profileIds: string[]): Promise<Recipient[]> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const oids = profileIds.filter((id) => Types.ObjectId.isValid(id)).map((id) => new Types.ObjectId(id));
  const [profiles, followers, consents] = await Promise.all([
    db
      .collection('crm_profiles')
      .find({ _id: { $in: oids } }, { projection: { tier: 1 } })
      .toArray(),
    db
      .collection('crm_followers')
      .find({ account, profileId: { $in: oids }, subscribed: true }, { projection: { profileId: 1, openid: 1 } })
      .toArray(),
    db
      .collection('crm_consents')
      .find(
        { profileId: { $in: oids }, channel: { $in: ['wechat', 'all'] } },
        { projection: { profileId: 1, allowed: 1, at: 1 } },
      )
      .sort({ at: 1 })
      .toArray(),
  ]);
  const tier = new Map(profiles.map((p) => [String(p._id), String(p.tier ?? '')]));
  const openid = new Map(followers.map((f) => [String(f.profileId), String(f.openid)]));
  const consent = new Map<string, boolean>();
  for (const c of consents) consent.set(String(c.profileId), Boolean(c.allowed));
  return profileIds.map((profileId) => ({
    profileId,
    tier: tier.get(profileId) ?? '',
    ...(openid.has(profileId) ? { openid: openid.get(profileId)! } : {}),
    consent: consent.get(profileId) !== false,
  }));
}

/** WeChat keeps refusing for now (rate limit, breaker open): stop this pass; the run resumes later. */
class DeferRun extends Error {}

export interface RunSummary {
  targeted: number;
  sent: number;
  skipped: number;
  failed: number;
  resumed: number;
  deferred: boolean;
}

/**
 * Runs (or resumes) one run of a plan. Safe to run twice at once or after a crash: the unique send record
 * decides who handles each profile, and a record left `reserved` by a crash is re-sent with the same
 * client_msg_id. Returns what this call did.
 */
export async function runPlan(deps: PushDeps, planId: string, runId: string): Promise<RunSummary> {
  const plan = await PushPlan.findById(planId).lean<PushPlanDoc>();
  if (!plan) throw new Error(`push plan ${planId} not found`);
  const summary: RunSummary = { targeted: 0, sent: 0, skipped: 0, failed: 0, resumed: 0, deferred: false };
  if (plan.status !== 'running') return summary;
  const marketing = plan.contents.some((c) => deps.templates.get(c.kind)?.marketing !== false);
  const now = () => deps.now?.() ?? new Date();
  if (marketing && inQuietHours(deps.policy, now())) return { ...summary, deferred: true };

  const members = [...(await deps.members(plan.audienceId))];
  summary.targeted = members.length;
  const log = deps.logger.child({ planId, runId });

  for (let i = 0; i < members.length; i += 200) {
    const current = await PushPlan.findById(planId, { status: 1 }).lean<{ status: string }>();
    if (current?.status !== 'running') {
      log.info({ status: current?.status }, 'push run stopped');
      break;
    }
    if (marketing && inQuietHours(deps.policy, now())) {
      summary.deferred = true;
      break;
    }
    const batch = await recipients(plan.account, members.slice(i, i + 200));
    try {
      for (const r of batch) {
        const outcome = await deliverOne(deps, plan, runId, r, marketing, now());
        summary[outcome] += 1;
      }
    } catch (err) {
      if (!(err instanceof DeferRun)) throw err;
      // The send stays `reserved`: the next pass re-sends it with the same client_msg_id.
      log.warn({ reason: err.message }, 'push run deferred: WeChat keeps refusing for now');
      summary.deferred = true;
      break;
    }
  }
  log.info({ summary }, 'push run pass finished');
  return summary;
}

async function deliverOne(
  deps: PushDeps,
  plan: PushPlanDoc,
  runId: string,
  r: Recipient,
  marketing: boolean,
  at: Date,
): Promise<'sent' | 'skipped' | 'failed' | 'resumed'> {
  const planId = plan._id.toString();
  const variant = variantOf(planId, r.profileId, plan.splitB);
  const base = { planId: plan._id, runId, profileId: r.profileId, account: plan.account, variant, attempts: 0, at };

  const skip = async (reason: string): Promise<'skipped'> => {
    await PushSend.create({ ...base, state: 'skipped', reason }).catch((err: unknown) => {
      if (!isDuplicateKey(err)) throw err;
    });
    return 'skipped';
  };

  // A record from an earlier pass decides: done ones are left alone, a `reserved` one is re-sent.
  const earlier = await PushSend.findOne({ planId: plan._id, runId, profileId: r.profileId }).lean<PushSendDoc>();
  if (earlier && earlier.state !== 'reserved') return 'skipped';

  const content = contentFor(plan, r.tier, variant);
  if (!earlier) {
    if (!r.openid) return skip('not_follower');
    if (!content) return skip('no_content_for_tier');
    if (marketing) {
      if (!r.consent) return skip('consent');
      if (
        await isListed(deps.redis, 'black', [
          ['profile', r.profileId],
          ['openid', r.openid],
        ])
      )
        return skip('blacklist');
      if (await deps.redis.exists(`push:cooldown:${r.profileId}`)) return skip('unfollow_cooldown');
    }
  }
  if (!content || !r.openid) return skip('no_content_for_tier');
  const template = deps.templates.get(content.kind);
  if (!template) return skip('unknown_template');
  let rendered;
  try {
    rendered = renderTemplate(template, plan.account, { ...content.vars });
  } catch (err) {
    if (err instanceof MissingVariables) return skip('missing_variables');
    throw err;
  }

  let send = earlier;
  if (!send) {
    try {
      send = (await PushSend.create({ ...base, openid: r.openid, state: 'reserved' })).toObject();
    } catch (err) {
      if (isDuplicateKey(err)) return 'skipped'; // another worker has this one
      throw err;
    }
    if (marketing) {
      const caps = deps.policy.tierCaps?.[r.tier] ?? { perDay: deps.policy.capPerDay, perWeek: deps.policy.capPerWeek };
      const [dayKey, weekKey] = capKeys(r.profileId, at);
      const capped = (await deps.redis.eval(TAKE_CAP, 2, dayKey, weekKey, caps.perDay, caps.perWeek)) as number;
      if (capped < 0) {
        await PushSend.updateOne(
          { _id: send._id },
          { state: 'skipped', reason: capped === -1 ? 'cap_day' : 'cap_week' },
        );
        return 'skipped';
      }
    }
  }

  const resumed = earlier !== null && earlier !== undefined;
  for (let attempt = send.attempts; ; attempt += 1) {
    await takeToken(deps, plan.account);
    try {
      const { msgId } = await deps.sender.send({
        account: plan.account,
        openid: r.openid,
        templateId: rendered.templateId,
        data: rendered.data,
        ...(content.url ? { url: content.url } : {}),
        clientMsgId: send._id.toString(),
      });
      await PushSend.updateOne({ _id: send._id }, { state: 'sent', msgId, attempts: attempt + 1 });
      if (marketing) await deps.redis.set(`push:last:${r.profileId}`, planId, 'EX', 7 * 86_400);
      return resumed ? 'resumed' : 'sent';
    } catch (err) {
      if (isPlatformError(err) && err.disposition === 'retry') {
        await PushSend.updateOne({ _id: send._id }, { attempts: attempt + 1 });
        // An open breaker, or a refusal that outlasts a few backoffs, ends this pass (resumed later).
        if (err.errcode === 'circuit_open' || attempt - send.attempts >= 5) throw new DeferRun(String(err.errcode));
        // 45009 and friends: slow this worker down; the shared bucket slows the others.
        await sleepOf(deps)(backoffMs(attempt, 500, 30_000));
        continue;
      }
      const reason = isPlatformError(err)
        ? err.errcode === 43004
          ? 'not_subscribed'
          : `errcode_${err.errcode}`
        : 'error';
      await PushSend.updateOne({ _id: send._id }, { state: 'failed', reason, attempts: attempt + 1 });
      return 'failed';
    }
  }
}

/** Applies a TEMPLATESENDJOBFINISH receipt: success → delivered, anything else → failed with WeChat's status. */
export async function onTemplateReceipt(msgId: string, status: string): Promise<boolean> {
  const result = await PushSend.updateOne(
    { msgId, state: 'sent' },
    status === 'success' ? { state: 'delivered' } : { state: 'failed', reason: `receipt_${status}` },
  );
  return result.modifiedCount > 0;
}

export interface FunnelRow {
  variant: 'A' | 'B';
  targeted: number;
  passed: number;
  sent: number;
  delivered: number;
  failed: number;
  skippedBy: Record<string, number>;
}

/** The funnel of a plan run by variant, from its send records. */
export async function funnel(planId: string, runId: string): Promise<FunnelRow[]> {
  const groups = await PushSend.aggregate<{ _id: { variant: 'A' | 'B'; state: string; reason?: string }; n: number }>([
    { $match: { planId: new Types.ObjectId(planId), runId } },
    { $group: { _id: { variant: '$variant', state: '$state', reason: '$reason' }, n: { $sum: 1 } } },
  ]);
  const rows = new Map<string, FunnelRow>();
  for (const g of groups) {
    const row = rows.get(g._id.variant) ?? {
      variant: g._id.variant,
      targeted: 0,
      passed: 0,
      sent: 0,
      delivered: 0,
      failed: 0,
      skippedBy: {},
    };
    row.targeted += g.n;
    if (g._id.state === 'skipped')
      row.skippedBy[g._id.reason ?? 'unknown'] = (row.skippedBy[g._id.reason ?? 'unknown'] ?? 0) + g.n;
    else row.passed += g.n;
    if (g._id.state === 'sent' || g._id.state === 'delivered') row.sent += g.n;
    if (g._id.state === 'delivered') row.delivered += g.n;
    if (g._id.state === 'failed') row.failed += g.n;
    rows.set(g._id.variant, row);
  }
  return [...rows.values()].sort((a, b) => a.variant.localeCompare(b.variant));
}
