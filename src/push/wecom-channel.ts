/**
 * The `wecom` channel of a push plan: reach through staff. Each member of the audience is decided here
 * (content for their tier and variant, consent on WeCom, blacklist, unfollow cool-down) and written as a
 * `reserved` send; then the decided customers are handed to the WeCom domain in waves (one group send per
 * wave, one `add_msg_template` task per owning member). The WeCom domain skips customers without a WeCom
 * owner and those over their frequency cap — the same Redis counters as the template channel — and its
 * per-customer results (sent, not sent, not a friend, …) are mirrored into the send records, which makes
 * them the plan's funnel. A wave's key is written on its sends before the group send is created, so a run
 * resumed after a crash continues the same group send and nobody gets a second task.
 */
import { randomUUID } from 'node:crypto';
import { isDuplicateKey } from '../infra/errors.js';
import type { PushDeps } from './delivery.js';
import { capsOf } from './limits.js';
import { PushPlan, PushRun, PushSend, type PushPlanDoc, type SendState } from './model.js';
import { contentFor, marketingRefusal, recipients, variantOf, type Recipient } from './recipients.js';
import { renderText } from './templates.js';

/** A customer's state in a WeCom group send (the WeCom domain's `TargetState`). */
export type StaffTargetState =
  'queued' | 'capped' | 'no_contact' | 'failed' | 'sent' | 'not_sent' | 'not_friend' | 'received_other';

export interface StaffTarget {
  profileId: string;
  state: StaffTargetState;
  reason?: string;
}

/** What the push domain needs from the WeCom domain (wired in services.ts; push never imports wecom). */
export interface StaffGroupSender {
  /** Creates (or, for the same key, continues) a group send: one task per owning member, caps taken per profile. */
  send(input: {
    corp?: string;
    key: string;
    name: string;
    text: string;
    profileIds: string[];
    capsFor(profileId: string): { perDay: number; perWeek: number };
    by: string;
  }): Promise<void>;
  /** Pulls WeCom's per-customer results of the group send under `key`. */
  refresh(input: { corp?: string; key: string }): Promise<void>;
  /** The targets of the group send under `key` (none when it does not exist). */
  targets(input: { corp?: string; key: string }): Promise<StaffTarget[]>;
}

/** WeCom's answer per customer → the send record's state and reason. */
const MIRROR: Record<StaffTargetState, { state: SendState; reason?: string }> = {
  queued: { state: 'queued' },
  capped: { state: 'skipped', reason: 'cap' },
  no_contact: { state: 'skipped', reason: 'no_wecom_contact' },
  failed: { state: 'failed', reason: 'wecom_task_failed' },
  sent: { state: 'delivered' },
  not_sent: { state: 'not_sent' },
  not_friend: { state: 'failed', reason: 'wecom_not_friend' },
  received_other: { state: 'failed', reason: 'wecom_received_other' },
};

/** A WeCom task holds at most 10,000 customers. */
const WAVE_SIZE = 10_000;

/** Decides one member of a WeCom run: skipped with the reason, or `reserved` for the hand-over. */
export async function decideStaffSend(
  deps: PushDeps,
  plan: PushPlanDoc,
  runId: string,
  r: Recipient,
  at: Date,
): Promise<'queued' | 'skipped'> {
  const variant = variantOf(plan._id.toString(), r.profileId, plan.splitB);
  const base = { planId: plan._id, runId, profileId: r.profileId, account: plan.account, variant, attempts: 0, at };
  const write = async (row: Record<string, unknown>): Promise<boolean> => {
    try {
      await PushSend.create({ ...base, ...row });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false; // decided by an earlier pass or another worker
      throw err;
    }
  };
  // Decided before (done, or reserved and waiting for the hand-over at the end of the pass).
  if (await PushSend.exists({ planId: plan._id, runId, profileId: r.profileId })) return 'skipped';
  const content = contentFor(plan, r.tier, variant);
  if (!content?.text) {
    await write({ state: 'skipped', reason: 'no_content_for_tier' });
    return 'skipped';
  }
  const refusal = await marketingRefusal(deps, r);
  if (refusal) {
    await write({ state: 'skipped', reason: refusal });
    return 'skipped';
  }
  return (await write({ state: 'reserved', content: plan.contents.indexOf(content) })) ? 'queued' : 'skipped';
}

// Releases the hand-over lock only if it is still ours.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Hands every `reserved` send of a run to the WeCom domain and mirrors the outcome. One worker at a time
 * (a Redis lock: Agenda's lock is not exclusive here); a worker that finds it taken leaves the sends to the
 * holder or to the refresh job. Returns how many sends were handed over.
 */
export async function handOverToStaff(deps: PushDeps, plan: PushPlanDoc, runId: string): Promise<number> {
  const staff = deps.staff;
  if (!staff) throw new Error('the wecom channel is not configured');
  const lockKey = `push:handover:${plan._id.toString()}:${runId}`;
  const token = randomUUID();
  if ((await deps.redis.set(lockKey, token, 'PX', 300_000, 'NX')) !== 'OK') return 0;
  try {
    const reserved = await PushSend.find(
      { planId: plan._id, runId, state: 'reserved' },
      { _id: 1, profileId: 1, content: 1, wave: 1 },
    )
      .sort({ _id: 1 })
      .lean();
    // Sends that already carry a wave (a crash came between naming it and mirroring) go again under the
    // same key: the WeCom domain continues that group send instead of creating a second one.
    const waves = new Map<string, { content: number; profileIds: string[] }>();
    const fresh = new Map<number, typeof reserved>();
    for (const send of reserved) {
      const content = send.content ?? 0;
      if (send.wave) {
        const wave = waves.get(send.wave) ?? { content, profileIds: [] };
        wave.profileIds.push(send.profileId);
        waves.set(send.wave, wave);
      } else fresh.set(content, [...(fresh.get(content) ?? []), send]);
    }
    for (const [content, sends] of fresh)
      for (let i = 0; i < sends.length; i += WAVE_SIZE) {
        const chunk = sends.slice(i, i + WAVE_SIZE);
        const key = `push:${chunk[0]!._id.toString()}`; // the first send's id: unique, and ≤ 64 characters
        await PushSend.updateMany(
          { _id: { $in: chunk.map((s) => s._id) }, state: 'reserved' },
          { $set: { wave: key } },
        );
        waves.set(key, { content, profileIds: chunk.map((s) => s.profileId) });
      }

    for (const [key, wave] of waves) {
      const content = plan.contents[wave.content];
      if (!content?.text) continue; // validated at start; a plan cannot change once running
      const tiers = new Map(
        (await recipients(plan.account, wave.profileIds, 'wecom')).map((r) => [r.profileId, r.tier] as const),
      );
      await staff.send({
        ...(plan.corp ? { corp: plan.corp } : {}),
        key,
        name: plan.name.slice(0, 64),
        text: renderText(content.text, content.vars),
        profileIds: wave.profileIds,
        capsFor: (profileId) => capsOf(deps.policy, tiers.get(profileId) ?? ''),
        by: plan.createdBy,
      });
      await mirrorWave(deps, plan, runId, key);
    }
    if (reserved.length > 0)
      deps.logger.info(
        { planId: plan._id.toString(), runId, handed: reserved.length, waves: waves.size },
        'push handed to staff group sends',
      );
    return reserved.length;
  } finally {
    await deps.redis.eval(RELEASE, 1, lockKey, token);
  }
}

/** Copies a wave's per-customer states from WeCom's group send onto the send records. */
async function mirrorWave(deps: PushDeps, plan: PushPlanDoc, runId: string, key: string): Promise<void> {
  const staff = deps.staff!;
  const targets = await staff.targets({ ...(plan.corp ? { corp: plan.corp } : {}), key });
  const groups = new Map<string, { state: SendState; reason?: string; ids: string[] }>();
  for (const t of targets) {
    const mirror = MIRROR[t.state];
    const reason = t.state === 'capped' && t.reason ? t.reason : mirror.reason;
    const id = `${mirror.state}:${reason ?? ''}`;
    const group = groups.get(id) ?? { state: mirror.state, ...(reason ? { reason } : {}), ids: [] };
    group.ids.push(t.profileId);
    groups.set(id, group);
  }
  // One updateMany per outcome (FerretDB: few statements per command), a few hundred ids at a time.
  for (const g of groups.values())
    for (let i = 0; i < g.ids.length; i += 500)
      await PushSend.updateMany(
        { planId: plan._id, runId, wave: key, profileId: { $in: g.ids.slice(i, i + 500) } },
        g.reason ? { $set: { state: g.state, reason: g.reason } } : { $set: { state: g.state }, $unset: { reason: 1 } },
      );
}

/**
 * The refresh job's pass: for WeCom plans with runs in the last `days`, hands over any send still waiting
 * (a worker that lost the lock, a crash) and pulls every wave's results into the funnel. Returns the waves.
 */
export async function refreshStaffSends(deps: PushDeps, now: Date, days = 7): Promise<number> {
  if (!deps.staff) return 0;
  const plans = await PushPlan.find({ channel: 'wecom', status: { $in: ['running', 'paused', 'done'] } }).lean<
    PushPlanDoc[]
  >();
  let refreshed = 0;
  for (const plan of plans) {
    const runs = await PushRun.find(
      { planId: plan._id, startedAt: { $gte: new Date(now.getTime() - days * 86_400_000) } },
      { runId: 1 },
    ).lean();
    for (const { runId } of runs) {
      if (plan.status !== 'paused') await handOverToStaff(deps, plan, runId);
      const waves = (await PushSend.distinct('wave', { planId: plan._id, runId })).filter(
        (w): w is string => typeof w === 'string' && w !== '',
      );
      for (const key of waves) {
        await deps.staff.refresh({ ...(plan.corp ? { corp: plan.corp } : {}), key });
        await mirrorWave(deps, plan, runId, key);
        refreshed += 1;
      }
    }
  }
  return refreshed;
}
