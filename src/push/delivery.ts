/**
 * Delivering a push run: for each member of the audience, pick the content for their tier and variant,
 * apply the anti-harassment rules, write the send record, wait for a token from the account's shared rate
 * limit, and call WeChat. Every decision lands in push_sends, which is both the crash-safe progress of the
 * run and the funnel (target → passed rules → sent → delivered).
 */
import { Types } from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import { createInsertBatcher } from '../infra/insert-batcher.js';
import { createUpdateBatcher } from '../infra/update-batcher.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import { backoffMs, isPlatformError } from '../platform/kernel/errors.js';
import type { ReachLedger } from '../reach/index.js';
import { deliverCustomerService, type CustomerServicePort } from './customer-service-channel.js';
import { capsOf, spendFrequencyCap, takeToken } from './limits.js';
import { PushPlan, PushReceipt, PushSend, type PushPlanDoc, type PushSendDoc } from './model.js';
import { contentFor, marketingRefusal, recipientSource, variantOf, type Recipient } from './recipients.js';
import { MissingVariables, renderTemplate, type MessageTemplate } from './templates.js';
import { decideStaffSend, handOverToStaff, type StaffGroupSender } from './wecom-channel.js';

export { takeFrequencyCap, spendFrequencyCap } from './limits.js';
export { variantOf } from './recipients.js';

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
  /** What the store is: a large run reads its recipients one way on MongoDB and another on FerretDB. */
  storage: { flavor: 'mongodb' | 'ferretdb' };
  /** The audience's members now (audiences/service.ts). */
  members(audienceId: string): Promise<Set<string>>;
  /** The reach ledger, asked once per template send (WeChat's quotas, caps across channels, quiet hours). */
  reach?: Pick<ReachLedger, 'reserve'>;
  /** The `wecom` channel: group-send tasks through each customer's owning member (the WeCom domain). */
  staff?: StaffGroupSender;
  /** The `customer_service` channel: the ledger that knows each follower's 48-hour window, and the sender. */
  customerService?: CustomerServicePort;
  now?: () => Date;
  /** Wraps a landing URL in the send's tracking link (tracking.ts); absent: the URL goes out as is. */
  trackedUrl?: (sendId: string, contentIndex: number, url: string) => string;
  /**
   * Recipients handled at once within a batch (default 32). Their database writes are group-committed (the
   * reserve as one insertMany, later states as one small bulk at a time), so the lanes mostly wait on WeChat
   * and Redis, not on the driver's ten connections to FerretDB.
   */
  concurrency?: number;
  /** Test seam for waiting on the rate limit and backoff. */
  sleep?: (ms: number) => Promise<void>;
}

const sleepOf = (deps: PushDeps) => deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

export function shanghaiHour(at: Date): number {
  return (at.getUTCHours() + 8) % 24;
}

export function inQuietHours(policy: PushPolicy, at: Date): boolean {
  const hour = shanghaiHour(at);
  return policy.quietStartHour > policy.quietEndHour
    ? hour >= policy.quietStartHour || hour < policy.quietEndHour
    : hour >= policy.quietStartHour && hour < policy.quietEndHour;
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

/**
 * Runs `work` over the items with at most `limit` in flight; the first failure stops new work, waits for
 * the work in flight, and is thrown.
 */
async function eachConcurrently<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure) throw failure.err;
}

/** WeChat keeps refusing for now (rate limit, breaker open): stop this pass; the run resumes later. */
class DeferRun extends Error {}

export interface RunSummary {
  targeted: number;
  sent: number;
  /** WeCom channel: handed to staff group-send tasks in this pass. */
  queued: number;
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
  const summary: RunSummary = { targeted: 0, sent: 0, queued: 0, skipped: 0, failed: 0, resumed: 0, deferred: false };
  if (plan.status !== 'running') return summary;
  // A plan's free text (WeCom, customer service) is marketing; a template says what it is.
  const marketing =
    plan.channel !== 'template' ||
    plan.contents.some((c) => !c.kind || deps.templates.get(c.kind)?.marketing !== false);
  const now = () => deps.now?.() ?? new Date();
  if (marketing && inQuietHours(deps.policy, now())) return { ...summary, deferred: true };

  const members = [...(await deps.members(plan.audienceId))];
  summary.targeted = members.length;
  const log = deps.logger.child({ planId, runId });
  const deliver = (r: Recipient, at: Date) =>
    plan.channel === 'wecom'
      ? decideStaffSend(deps, plan, runId, r, at)
      : plan.channel === 'customer_service'
        ? deliverCustomerService(deps, plan, runId, r, at)
        : deliverOne(deps, plan, runId, r, marketing, at);

  const source = await recipientSource(
    plan.account,
    members,
    plan.channel === 'wecom' ? 'wecom' : 'wechat',
    deps.storage,
  );
  log.info({ members: members.length, recipients: source.mode }, 'push run pass started');
  let stopped = false;
  for (let i = 0; i < members.length; i += 200) {
    const current = await PushPlan.findById(planId, { status: 1 }).lean<{ status: string }>();
    if (current?.status !== 'running') {
      log.info({ status: current?.status }, 'push run stopped');
      stopped = true;
      break;
    }
    if (marketing && inQuietHours(deps.policy, now())) {
      summary.deferred = true;
      break;
    }
    const batch = await source.of(members.slice(i, i + 200));
    try {
      // A few recipients at a time (each still decided by deliverOne alone): one at a time leaves the
      // rate limit unused while each send waits on its database writes and WeChat's answer.
      await eachConcurrently(batch, deps.concurrency ?? 32, async (r) => {
        const outcome = await deliver(r, now());
        summary[outcome] += 1;
      });
    } catch (err) {
      if (!(err instanceof DeferRun)) throw err;
      // The send stays `reserved`: the next pass re-sends it with the same client_msg_id.
      log.warn({ reason: err.message }, 'push run deferred: WeChat keeps refusing for now');
      summary.deferred = true;
      break;
    }
  }
  // WeCom: every decided customer is handed to their owner's task at once (one task per member and wave).
  if (plan.channel === 'wecom' && !stopped && !summary.deferred) await handOverToStaff(deps, plan, runId);
  log.info({ summary }, 'push run pass finished');
  return summary;
}

const reservedWrites = createInsertBatcher<Omit<PushSendDoc, 'reason' | 'msgId' | 'content' | 'wave'>>(PushSend);
// A send's later states (sent with its msgid, failed, skipped) are group-committed too: one small bulk in flight.
const stateWrites = createUpdateBatcher(PushSend.collection);

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

  const content = contentFor(plan, r.tier, variant);
  if (!r.openid) return skip('not_follower');
  if (!content) return skip('no_content_for_tier');
  const template = content.kind ? deps.templates.get(content.kind) : undefined;
  if (!template) return skip('unknown_template');
  let rendered;
  try {
    rendered = renderTemplate(template, plan.account, { ...content.vars });
  } catch (err) {
    if (err instanceof MissingVariables) return skip('missing_variables');
    throw err;
  }

  // The send is reserved first, group-committed with its neighbours: the unique index on plan, run and
  // profile says whether an earlier pass (or another worker) has this one, so a first pass pays one batched
  // insert instead of a lookup and an insert. A `reserved` record of an earlier pass is re-sent (same
  // client_msg_id); one in any other state is left alone. A skip decided here is stored on the record.
  const fresh = { _id: new Types.ObjectId(), ...base, openid: r.openid, state: 'reserved' as const };
  let send: Pick<PushSendDoc, '_id' | 'attempts'> = fresh;
  let resumed = false;
  if ((await reservedWrites.insert(fresh)) === 'duplicate') {
    const earlier = await PushSend.findOne({ planId: plan._id, runId, profileId: r.profileId }).lean<PushSendDoc>();
    if (!earlier || earlier.state !== 'reserved') return 'skipped';
    // Reserved before its checks: a pass that crashed in between left it unchecked, so consent, the
    // blacklist and the cool-down are asked again (they spend nothing).
    const refusal = marketing ? await marketingRefusal(deps, r) : undefined;
    if (refusal) {
      await stateWrites.update({ _id: earlier._id, state: 'reserved' }, { state: 'skipped', reason: refusal });
      return 'skipped';
    }
    send = earlier;
    resumed = true;
  } else {
    const skipReserved = async (reason: string): Promise<'skipped'> => {
      await stateWrites.update({ _id: fresh._id }, { state: 'skipped', reason });
      return 'skipped';
    };
    if (marketing) {
      const refusal = await marketingRefusal(deps, r);
      if (refusal) return skipReserved(refusal);
      const capped = await spendFrequencyCap(deps.redis, capsOf(deps.policy, r.tier), r.profileId, at);
      if (capped) return skipReserved(capped);
    }
    const reach = await deps.reach?.reserve({
      account: plan.account,
      openid: r.openid,
      profileId: r.profileId,
      tier: r.tier,
      channel: 'template',
      class: marketing ? 'marketing' : 'transactional',
      key: `push:${fresh._id.toString()}`,
      at,
    });
    if (reach && reach.verdict !== 'allow') return skipReserved(`reach_${reach.reason}`);
  }

  const landing = content.url ?? plan.landingUrl;
  for (let attempt = send.attempts; ; attempt += 1) {
    await takeToken(deps, plan.account);
    try {
      const { msgId } = await deps.sender.send({
        account: plan.account,
        openid: r.openid,
        templateId: rendered.templateId,
        data: rendered.data,
        ...(landing
          ? {
              url: deps.trackedUrl
                ? deps.trackedUrl(send._id.toString(), plan.contents.indexOf(content), landing)
                : landing,
            }
          : {}),
        clientMsgId: send._id.toString(),
      });
      await stateWrites.update({ _id: send._id }, { state: 'sent', msgId, attempts: attempt + 1 });
      await applyParkedReceipt(deps.redis, msgId);
      if (marketing) await deps.redis.set(`push:last:${r.profileId}`, planId, 'EX', 7 * 86_400);
      return resumed ? 'resumed' : 'sent';
    } catch (err) {
      if (isPlatformError(err) && err.disposition === 'retry') {
        await stateWrites.update({ _id: send._id }, { attempts: attempt + 1 });
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
      await stateWrites.update({ _id: send._id }, { state: 'failed', reason, attempts: attempt + 1 });
      return 'failed';
    }
  }
}

const applyReceipt = async (msgId: string, status: string) =>
  (
    await PushSend.updateOne(
      { msgId, state: 'sent' },
      status === 'success' ? { state: 'delivered' } : { state: 'failed', reason: `receipt_${status}` },
    )
  ).modifiedCount > 0;

const parkedKey = (msgId: string) => `push:parked:${msgId}`;

/**
 * Applies a TEMPLATESENDJOBFINISH receipt: success → delivered, anything else → failed with WeChat's status.
 * The receipt is parked first (in MongoDB, and flagged in Redis), then applied. A send marked sent afterwards
 * looks for the flag and applies the parked receipt itself (applyParkedReceipt): if the send was marked before
 * the flag was set, this apply finds it sent; if after, the send finds the flag. Every interleaving ends with
 * the receipt applied once, and a send pays one Redis lookup for it, not a database read.
 */
export async function onTemplateReceipt(
  redis: Redis,
  msgId: string,
  status: string,
  at = new Date(),
): Promise<boolean> {
  let counted = status;
  try {
    await PushReceipt.create({ msgId, status, at });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    // A re-delivered receipt: the first one received is the one that counts.
    counted = (await PushReceipt.findOne({ msgId }).lean())?.status ?? status;
  }
  await redis.set(parkedKey(msgId), '1', 'EX', 7 * 86_400);
  const applied = await applyReceipt(msgId, counted);
  if (applied) await redis.del(parkedKey(msgId));
  return applied;
}

/** After a send is marked sent: a receipt that arrived before its msgId was stored is applied now. */
async function applyParkedReceipt(redis: Redis, msgId: string): Promise<void> {
  if (!(await redis.exists(parkedKey(msgId)))) return;
  const parked = await PushReceipt.findOne({ msgId }).lean();
  if (parked && (await applyReceipt(msgId, parked.status))) await redis.del(parkedKey(msgId));
}

/** Housekeeping: receipts older than `olderThanMs` (default 7 days) are applied or were never ours. */
export async function pruneReceipts(now: Date, olderThanMs = 7 * 86_400_000): Promise<number> {
  return (await PushReceipt.deleteMany({ at: { $lt: new Date(now.getTime() - olderThanMs) } })).deletedCount;
}

export interface FunnelRow {
  variant: 'A' | 'B';
  targeted: number;
  passed: number;
  /** WeCom: in a member's task, not confirmed yet; and what WeCom reports as not sent (yet). */
  queued: number;
  notSent: number;
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
      queued: 0,
      notSent: 0,
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
    if (g._id.state === 'queued') row.queued += g.n;
    if (g._id.state === 'not_sent') row.notSent += g.n;
    rows.set(g._id.variant, row);
  }
  return [...rows.values()].sort((a, b) => a.variant.localeCompare(b.variant));
}
