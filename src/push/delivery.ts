/**
 * Delivering a push run: for each member of the audience, pick the content for their tier and variant,
 * apply the anti-harassment rules, wait for a token from the account's shared rate limit, and call WeChat
 * (template messages: template-channel.ts; WeCom and customer service: their own modules). Every decision
 * lands in push_sends, the funnel (target → passed rules → sent → delivered); the crash-safe progress is
 * each channel's own (claims and intent pages, or reserved records).
 */
import { Types } from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import type { ReachLedger } from '../reach/index.js';
import { deliverCustomerService, type CustomerServicePort } from './customer-service-channel.js';
import { PushPlan, PushReceipt, PushSend, type PushPlanDoc } from './model.js';
import { recipientSource, type Recipient } from './recipients.js';
import type { MessageTemplate } from './templates.js';
import { applyReceipt, DeferRun, eachConcurrently, openTemplatePass, parkedKey } from './template-channel.js';
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
      : deliverCustomerService(deps, plan, runId, r, at);

  const source = await recipientSource(
    plan.account,
    members,
    plan.channel === 'wecom' ? 'wecom' : 'wechat',
    deps.storage,
  );
  log.info({ members: members.length, recipients: source.mode }, 'push run pass started');
  // The template channel decides, claims and sends a batch at a time (template-channel.ts); the others
  // decide each recipient on its own.
  const pass =
    plan.channel === 'template'
      ? await openTemplatePass(deps, plan, runId, { marketing, members: members.length, summary, log })
      : undefined;
  let stopped = false;
  try {
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
        // A few recipients at a time: one at a time leaves the rate limit unused while each send waits on its
        // database writes and WeChat's answer.
        if (pass) await pass.deliver(batch, now());
        else
          await eachConcurrently(batch, deps.concurrency ?? 32, async (r) => {
            const outcome = await deliver(r, now());
            summary[outcome] += 1;
          });
      } catch (err) {
        if (!(err instanceof DeferRun)) throw err;
        // The send in flight has no record: the next pass takes its claim over and re-sends it with the same
        // client_msg_id.
        log.warn({ reason: err.message }, 'push run deferred: WeChat keeps refusing for now');
        summary.deferred = true;
        break;
      }
    }
    if (pass && !stopped && !summary.deferred) await pass.settleHeld(now);
  } finally {
    await pass?.close();
  }
  // WeCom: every decided customer is handed to their owner's task at once (one task per member and wave).
  if (plan.channel === 'wecom' && !stopped && !summary.deferred) await handOverToStaff(deps, plan, runId);
  log.info({ summary }, 'push run pass finished');
  return summary;
}

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
