/**
 * The `template` channel's pass over a run: the hot path of a large push. It is built around what a send
 * must never do twice (reach the customer, spend their cap) and around what the store can afford (on FerretDB
 * an insert costs 0.1–0.2 ms and an update 2–5 ms, so a send writes one document, once).
 *
 * - A send's id is derived from plan, run and profile, the same on every pass and every worker. It is the
 *   template's client_msg_id (WeChat sends one message per openid and id within 10 minutes), the reach
 *   ledger's idempotency key and the id of the send record.
 * - Which pass handles a member is decided per batch by one Redis script over claim keys. A claim held by a
 *   pass that is no longer alive (its heartbeat expired: it crashed, or it finished) is taken over; one held
 *   by a live pass is waited for, then left to a later pass.
 * - The claimed batch is written as one intent page before any call (push_intents): the durable trace of
 *   what may have gone out. A taken-over member found on a page is a resumed send: its cap was spent.
 * - Each send record is written once, with its outcome (sent with its msgid, failed, skipped), through the
 *   group-committing insert batcher; the unique index on plan, run and profile still decides.
 * - Records written by earlier passes are read first (streamed once for a large run, by key for a small
 *   one): those members are not sent again, whatever Redis remembers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { createInsertBatcher } from '../infra/insert-batcher.js';
import type { Logger } from '../infra/logger.js';
import { redisScript, type Redis } from '../infra/redis.js';
import { createUpdateBatcher } from '../infra/update-batcher.js';
import { backoffMs, isPlatformError } from '../platform/kernel/errors.js';
import type { PushDeps, RunSummary } from './delivery.js';
import { capsOf, sleepOf, spendFrequencyCaps, tokenPool } from './limits.js';
import {
  PushIntentPage,
  PushReceipt,
  PushSend,
  type PlanContent,
  type PushPlanDoc,
  type PushSendDoc,
  type SendState,
} from './model.js';
import { contentFor, marketingRefusals, variantOf, type Recipient } from './recipients.js';
import { MissingVariables, renderTemplate, type RenderedTemplate } from './templates.js';

/** WeChat keeps refusing for now (rate limit, breaker open): stop this pass; the run resumes later. */
export class DeferRun extends Error {}

/** The id of a member's send in a run: the same whichever pass or worker computes it. */
export function sendIdOf(planId: string, runId: string, profileId: string): Types.ObjectId {
  return new Types.ObjectId(createHash('sha256').update(`${planId}:${runId}:${profileId}`).digest().subarray(0, 12));
}

// Claims a batch of sends for this pass. 1: claimed (free, or already ours); 2: taken over from a pass whose
// heartbeat is gone; 0: held by a live pass. The heartbeat keys are read by name (single-instance Redis).
const CLAIM = `
local out = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if not owner or owner == ARGV[1] then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2]); out[i] = 1
  elseif redis.call('EXISTS', ARGV[3] .. owner) == 0 then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2]); out[i] = 2
  else
    out[i] = 0
  end
end
return out`;

const claimScript = redisScript(CLAIM);

/**
 * A claim outlives the passes that may still be working on its run (a deferred pass comes back within minutes,
 * a crashed one's job within Agenda's lock lifetime); a finished run's records, not its claims, keep a later
 * pass from sending again. About 200 bytes of Redis per member (MEMORY USAGE: 168, plus its expiry) for six
 * hours.
 */
const CLAIM_TTL_S = 6 * 3600;
/** Members held by live passes that one pass keeps to retry at its end; past this it defers. */
const MAX_HELD = 2000;
/** A pass's heartbeat: renewed every few seconds, gone this long after a crash. */
const ALIVE_TTL_S = 10;

/** A decided member: what it gets (content and its rendering), or why it gets nothing. */
interface Decided {
  r: Recipient;
  id: Types.ObjectId;
  /** A `reserved` record left by an earlier version of this pass: settled by update, under its own id. */
  legacy?: boolean;
  skip?: string;
  content?: PlanContent;
  rendered?: RenderedTemplate;
}

type Ready = Decided & { content: PlanContent; rendered: RenderedTemplate };

type Outcome = 'sent' | 'skipped' | 'failed' | 'resumed';

/** A send WeChat accepted and its record stored, waiting for the batch's follow-up (afterSent). */
interface Sent {
  msgId: string;
  profileId: string;
}

const records = createInsertBatcher<Omit<PushSendDoc, 'content' | 'wave'>>(PushSend, {
  maxBatch: 50,
  trusted: true,
});
const legacyWrites = createUpdateBatcher(PushSend.collection);

export interface TemplatePass {
  /** Decides, claims and sends one batch of recipients; throws DeferRun when WeChat keeps refusing. */
  deliver(batch: Recipient[], at: Date): Promise<void>;
  /**
   * Members held by another live pass are waited for (as long as a heartbeat lives), then sent or found
   * done; any still held leave the run deferred.
   */
  settleHeld(at: () => Date): Promise<void>;
  /** Ends the heartbeat: this pass's claims can be taken over at once. */
  close(): Promise<void>;
}

export async function openTemplatePass(
  deps: PushDeps,
  plan: PushPlanDoc,
  runId: string,
  input: { marketing: boolean; members: number; summary: RunSummary; log: Logger },
): Promise<TemplatePass> {
  const { marketing, summary } = input;
  const planId = plan._id.toString();
  const redis = deps.redis;
  const me = randomBytes(8).toString('hex');
  const alivePrefix = `${redis.options.keyPrefix ?? ''}push:alive:`;
  const aliveKey = `push:alive:${me}`;
  const priorOf = await priorRecords(plan, runId, input.members);
  await redis.set(aliveKey, '1', 'EX', ALIVE_TTL_S);
  const heartbeat = setInterval(() => {
    redis.set(aliveKey, '1', 'EX', ALIVE_TTL_S).catch((err: unknown) => input.log.warn({ err }, 'push heartbeat'));
  }, 3000);
  heartbeat.unref();
  let intents: Set<string> | undefined;
  const intended = async (profileId: string): Promise<boolean> => {
    if (!intents) {
      intents = new Set();
      for await (const page of PushIntentPage.find({ planId: plan._id, runId }, { profiles: 1 }).lean().cursor())
        for (const id of JSON.parse(page.profiles) as string[]) intents.add(id);
    }
    return intents.has(profileId);
  };
  let held: Decided[] = [];
  const token = tokenPool(deps, plan.account);

  const base = (r: Recipient, at: Date) => ({
    planId: plan._id,
    runId,
    profileId: r.profileId,
    account: plan.account,
    variant: variantOf(planId, r.profileId, plan.splitB),
    at,
  });

  /** Writes a send's one record (or, for a legacy reservation, its final state). */
  const settle = async (
    item: { r: Recipient; id: Types.ObjectId; legacy?: boolean },
    at: Date,
    fields: { state: SendState; reason?: string; msgId?: string; attempts: number },
  ): Promise<'inserted' | 'duplicate'> => {
    if (item.legacy) {
      await legacyWrites.update({ _id: item.id, state: 'reserved' }, fields);
      return 'inserted';
    }
    return records.insert({
      _id: item.id,
      ...base(item.r, at),
      ...(item.r.openid ? { openid: item.r.openid } : {}),
      ...fields,
    });
  };

  /** The member's content for their tier and variant, rendered; or why they get none. */
  const decide = (item: Pick<Decided, 'r' | 'id' | 'legacy'>): Decided => {
    if (!item.r.openid) return { ...item, skip: 'not_follower' };
    const content = contentFor(plan, item.r.tier, variantOf(planId, item.r.profileId, plan.splitB));
    if (!content) return { ...item, skip: 'no_content_for_tier' };
    const template = content.kind ? deps.templates.get(content.kind) : undefined;
    if (!template) return { ...item, skip: 'unknown_template' };
    try {
      return { ...item, content, rendered: renderTemplate(template, plan.account, { ...content.vars }) };
    } catch (err) {
      if (!(err instanceof MissingVariables)) throw err;
      return { ...item, skip: 'missing_variables' };
    }
  };

  /** Sends one claimed member that passed the marketing rules and its cap: the reach ledger, then WeChat. */
  async function sendOne(item: Ready, fresh: boolean, at: Date, sentNow: Sent[]): Promise<Outcome> {
    const { r, id } = item;
    if (fresh && deps.reach) {
      const reach = await deps.reach.reserve({
        account: plan.account,
        openid: r.openid!,
        profileId: r.profileId,
        tier: r.tier,
        channel: 'template',
        class: marketing ? 'marketing' : 'transactional',
        key: `push:${id.toString()}`,
        at,
      });
      if (reach.verdict !== 'allow') {
        await settle(item, at, { state: 'skipped', reason: `reach_${reach.reason}`, attempts: 0 });
        return 'skipped';
      }
    }
    const landing = item.content.url ?? plan.landingUrl;
    for (let attempt = 0; ; attempt += 1) {
      await token();
      try {
        const { msgId } = await deps.sender.send({
          account: plan.account,
          openid: r.openid!,
          templateId: item.rendered.templateId,
          data: item.rendered.data,
          ...(landing
            ? {
                url: deps.trackedUrl
                  ? deps.trackedUrl(id.toString(), plan.contents.indexOf(item.content), landing)
                  : landing,
              }
            : {}),
          clientMsgId: id.toString(),
        });
        await settle(item, at, { state: 'sent', msgId, attempts: attempt + 1 });
        sentNow.push({ msgId, profileId: r.profileId });
        return fresh ? 'sent' : 'resumed';
      } catch (err) {
        if (isPlatformError(err) && err.disposition === 'retry') {
          // An open breaker, or a refusal that outlasts a few backoffs, ends this pass; the next one takes
          // this claim over and sends again with the same client_msg_id.
          if (err.errcode === 'circuit_open' || attempt >= 5) throw new DeferRun(String(err.errcode));
          // 45009 and friends: slow this worker down; the shared bucket slows the others.
          await sleepOf(deps)(backoffMs(attempt, 500, 30_000));
          continue;
        }
        const reason = isPlatformError(err)
          ? err.errcode === 43004
            ? 'not_subscribed'
            : `errcode_${err.errcode}`
          : 'error';
        await settle(item, at, { state: 'failed', reason, attempts: attempt + 1 });
        return 'failed';
      }
    }
  }

  /**
   * What follows the batch's stored sends, in one pipeline: each marketing send starts its unfollow window
   * (`push:last`), and a receipt that arrived before its msgId was stored is applied now (`push:parked`).
   */
  async function afterSent(sent: Sent[]): Promise<void> {
    if (sent.length === 0) return;
    const pipeline = redis.pipeline();
    for (const x of sent) {
      if (marketing) pipeline.set(`push:last:${x.profileId}`, planId, 'EX', 7 * 86_400);
      pipeline.exists(parkedKey(x.msgId));
    }
    const answers = (await pipeline.exec()) ?? [];
    const parked = sent.filter((_, i) => answers[marketing ? 2 * i + 1 : i]?.[1] === 1);
    for (const x of parked) await applyParkedReceipt(redis, x.msgId);
  }

  /**
   * Claims the decided members (a skip is claimed too: its record must not race a live pass's send), records
   * the skips, writes the intent page of the rest, and sends them a few at a time.
   */
  async function claimAndSend(ready: Decided[], at: Date): Promise<void> {
    if (ready.length === 0) return;
    const claims = (await claimScript(
      redis,
      ready.map((x) => `push:claim:${planId}:${runId}:${x.r.profileId}`),
      [me, CLAIM_TTL_S, alivePrefix],
    )) as number[];
    const go: { item: Ready; fresh: boolean }[] = [];
    const skips: Decided[] = [];
    for (const [i, item] of ready.entries()) {
      const claim = claims[i];
      if (claim === 0) held.push(item);
      else if (
        (claim !== 1 || item.legacy) &&
        (await PushSend.exists({ planId: plan._id, runId, profileId: item.r.profileId, state: { $ne: 'reserved' } }))
      )
        summary.skipped += 1; // the pass it was taken from finished it
      else if (item.skip || !item.content || !item.rendered) skips.push(item);
      else
        go.push({
          item: { ...item, content: item.content, rendered: item.rendered },
          fresh: claim === 1 ? !item.legacy : !item.legacy && !(await intended(item.r.profileId)),
        });
    }
    await Promise.all(skips.map((item) => settle(item, at, { state: 'skipped', reason: item.skip!, attempts: 0 })));
    summary.skipped += skips.length;
    if (go.length === 0) return;
    await PushIntentPage.collection.insertOne({
      _id: new Types.ObjectId(),
      planId: plan._id,
      runId,
      at,
      profiles: JSON.stringify(go.map((g) => g.item.r.profileId)),
    });
    // Marketing: consent, the blacklist and the cool-down for the batch at once (they spend nothing), then the
    // caps of the fresh ones in one script (a resumed send spent its cap before it was interrupted).
    let passed = go;
    if (marketing) {
      const refusals = await marketingRefusals(
        deps,
        go.map((g) => g.item.r),
      );
      const fresh = go.filter((_, i) => !refusals[i] && go[i]!.fresh);
      const capped = await spendFrequencyCaps(
        redis,
        fresh.map((g) => ({ caps: capsOf(deps.policy, g.item.r.tier), profileId: g.item.r.profileId })),
        at,
      );
      const refused = new Map<(typeof go)[number], string>();
      go.forEach((g, i) => refusals[i] && refused.set(g, refusals[i]));
      fresh.forEach((g, i) => capped[i] && refused.set(g, capped[i]));
      await Promise.all(
        [...refused].map(([g, reason]) => settle(g.item, at, { state: 'skipped', reason, attempts: 0 })),
      );
      summary.skipped += refused.size;
      passed = go.filter((g) => !refused.has(g));
    }
    const sentNow: Sent[] = [];
    try {
      await eachConcurrently(passed, deps.concurrency ?? 32, async ({ item, fresh }) => {
        summary[await sendOne(item, fresh, at, sentNow)] += 1;
      });
    } finally {
      await afterSent(sentNow);
    }
  }

  return {
    async deliver(batch, at) {
      const prior = await priorOf(batch.map((r) => r.profileId));
      const ready: Decided[] = [];
      for (const r of batch) {
        const earlier = prior.get(r.profileId);
        if (earlier && earlier.state !== 'reserved') {
          summary.skipped += 1; // settled by an earlier pass
          continue;
        }
        const item = {
          r,
          id: earlier?._id ?? sendIdOf(planId, runId, r.profileId),
          ...(earlier ? { legacy: true } : {}),
        };
        ready.push(decide(item));
      }
      await claimAndSend(ready, at);
      // A live pass is working through this run: leave it the rest rather than hold its members in memory.
      if (held.length > MAX_HELD) throw new DeferRun('held_by_live_pass');
    },

    async settleHeld(at) {
      for (let round = 0; held.length > 0 && round <= ALIVE_TTL_S + 2; round += 1) {
        await new Promise((res) => setTimeout(res, 1000));
        const waiting = held;
        held = [];
        intents = undefined; // the passes waited for may have written pages since
        await claimAndSend(waiting, at());
      }
      if (held.length > 0) {
        input.log.info({ held: held.length }, 'push run deferred: members held by another live pass');
        summary.deferred = true;
      }
    },

    async close() {
      clearInterval(heartbeat);
      await redis.del(aliveKey);
    },
  };
}

type Prior = Map<string, { _id: Types.ObjectId; state: SendState }>;

/**
 * The run's records from earlier passes, for a batch of members. A large run reads them all once, streamed
 * (a first pass finds none, with one indexed read); a small one asks for its members by key.
 */
async function priorRecords(
  plan: PushPlanDoc,
  runId: string,
  members: number,
): Promise<(profileIds: string[]) => Promise<Prior>> {
  const projection = { profileId: 1, state: 1 };
  if (members <= 200)
    return async (ids) => {
      const found = await Promise.all(
        ids.map((profileId) =>
          PushSend.findOne({ planId: plan._id, runId, profileId }, projection).lean<PushSendDoc>(),
        ),
      );
      return new Map(found.filter((d) => d !== null).map((d) => [d.profileId, { _id: d._id, state: d.state }]));
    };
  const all: Prior = new Map();
  if (await PushSend.exists({ planId: plan._id, runId })) {
    const cursor = PushSend.find({ planId: plan._id, runId }, projection).lean<PushSendDoc[]>().cursor();
    for await (const d of cursor as AsyncIterable<PushSendDoc>) all.set(d.profileId, { _id: d._id, state: d.state });
  }
  return async (ids) => {
    const out: Prior = new Map();
    for (const id of ids) {
      const d = all.get(id);
      if (d) out.set(id, d);
    }
    return out;
  };
}

/**
 * Runs `work` over the items with at most `limit` in flight; the first failure stops new work, waits for
 * the work in flight, and is thrown.
 */
export async function eachConcurrently<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
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

const applyReceipt = async (msgId: string, status: string) =>
  (
    await PushSend.updateOne(
      { msgId, state: 'sent' },
      status === 'success' ? { state: 'delivered' } : { state: 'failed', reason: `receipt_${status}` },
    )
  ).modifiedCount > 0;

export const parkedKey = (msgId: string) => `push:parked:${msgId}`;

/** A receipt parked before its send's msgId was stored (its flag was seen set): applied now. */
async function applyParkedReceipt(redis: Redis, msgId: string): Promise<void> {
  const parked = await PushReceipt.findOne({ msgId }).lean();
  if (parked && (await applyReceipt(msgId, parked.status))) await redis.del(parkedKey(msgId));
}

export { applyReceipt };
