/**
 * Reach through staff: a group send to a list of profiles becomes WeCom group-send tasks per owning member
 * (`add_msg_template`, the member confirms it in the client). Each profile is reached through its most
 * recent active relationship and only while under its frequency cap — the same Redis counters as the
 * service-account pushes (push/delivery `takeFrequencyCap`), so the two channels share one budget.
 * Every target is a row keyed (sendId, profileId). Each call of `createGroupSend` is a batch: its targets
 * get one task per member (sendId, userid, batch), so a later call under the same key (more profiles, a
 * push wave handed over again) reaches its new customers with a new task, never the old ones again. A task
 * row is written (`open`, then `pending`) before WeCom is called; groupsend-tasks.ts makes the call at most
 * once and resumes what a crash left. `refreshGroupSend` pulls WeCom's per-customer results into the funnel.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { DomainError, isDuplicateKey } from '../infra/errors.js';
import { getGroupMsgSendResult } from '../platform/wecom/index.js';
import { spendFrequencyCap } from '../push/delivery.js';
import { clientOf, type WecomDeps } from './deps.js';
import {
  migrateGroupSendTasks,
  TARGET_STATES,
  WecomGroupSend,
  WecomGroupSendTarget,
  WecomGroupSendTask,
  type TargetState,
} from './groupsend-model.js';
import { BATCH_LEASE_MS, batchLeaseKey, deliverGroupSendTasks, type GroupSendHooks } from './groupsend-tasks.js';
import { WecomRelation } from './model.js';
import { WelcomeAttachment } from './welcome.js';

export { TARGET_STATES, type TargetState } from './groupsend-model.js';
export { resumeGroupSends, type GroupSendHooks } from './groupsend-tasks.js';

export const GroupSendInput = z
  .object({
    key: z.string().min(1).max(64),
    name: z.string().min(1).max(64),
    profileIds: z
      .array(z.string().regex(/^[0-9a-f]{24}$/))
      .min(1)
      .max(10_000),
    text: z.string().max(4000).optional(),
    attachments: z.array(WelcomeAttachment).max(9).optional(),
    /** The customer's frequency cap, shared with service-account pushes. */
    caps: z
      .object({ perDay: z.number().int().min(0).max(100), perWeek: z.number().int().min(0).max(500) })
      .strict()
      .default({ perDay: 1, perWeek: 3 }),
  })
  .strict()
  .refine((v) => (v.text ?? '') !== '' || (v.attachments?.length ?? 0) > 0, 'text or attachments are required');
export type GroupSendInput = z.input<typeof GroupSendInput>;

/**
 * Targets per state, and the tasks: `tasks` created in WeCom, `pendingTasks` still to be called (or being
 * reconciled; the resume job finishes them), `reviewTasks` whose outcome staff must check in WeCom.
 */
export type GroupSendFunnel = {
  sendId: string;
  name: string;
  tasks: number;
  pendingTasks: number;
  reviewTasks: number;
} & Record<TargetState, number>;

type Caps = { perDay: number; perWeek: number };

export interface GroupSendOptions {
  /** A profile's own cap (e.g. by tier); absent: the input's `caps` for everyone. */
  capsFor?: (profileId: string) => Caps;
  /** Test seams around the WeCom call (a simulated crash). */
  hooks?: GroupSendHooks;
}

async function decide(sendId: string, profileId: string, row: Record<string, unknown>): Promise<boolean> {
  try {
    await WecomGroupSendTarget.create({ sendId, profileId, ...row });
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** Creates (or, for the same key, continues) a group send and its tasks; returns the funnel so far. */
export async function createGroupSend(
  deps: WecomDeps,
  corp: string,
  raw: GroupSendInput,
  by: string,
  options: GroupSendOptions = {},
): Promise<GroupSendFunnel> {
  const input = GroupSendInput.parse(raw);
  let sendId: string = randomUUID();
  try {
    await WecomGroupSend.create({
      _id: sendId,
      corp,
      key: input.key,
      name: input.name,
      text: input.text ?? '',
      attachments: input.attachments ?? [],
      createdBy: by,
    });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const first = await WecomGroupSend.findOne({ corp, key: input.key }).lean();
    if (!first) throw err;
    sendId = first._id;
  }

  await migrateGroupSendTasks();
  // This call's batch: its targets get their own tasks, whatever tasks earlier calls made.
  const batch = randomUUID();
  const lease = batchLeaseKey(batch);
  await deps.redis.set(lease, sendId, 'PX', BATCH_LEASE_MS);
  const opened = new Set<string>();
  const at = deps.now();
  let decided = 0;
  for (const profileId of [...new Set(input.profileIds)]) {
    if (++decided % 200 === 0) await deps.redis.pexpire(lease, BATCH_LEASE_MS); // still alive
    if (await WecomGroupSendTarget.exists({ sendId, profileId })) continue;
    const relation = await WecomRelation.findOne({ corp, profileId, status: 'active' }).sort({ addedAt: -1 }).lean();
    if (!relation) {
      await decide(sendId, profileId, { state: 'no_contact' });
      continue;
    }
    // The task row comes before its first target: a target is never without a task that will send it.
    if (!opened.has(relation.userid)) {
      await openTask(sendId, relation.userid, batch);
      opened.add(relation.userid);
    }
    const contact = { userid: relation.userid, externalUserId: relation.externalUserId, batch };
    // The row is claimed first: only its creator takes from the cap, so a re-run never takes twice.
    if (!(await decide(sendId, profileId, { ...contact, state: 'queued' }))) continue;
    const capped = await spendFrequencyCap(deps.redis, options.capsFor?.(profileId) ?? input.caps, profileId, at);
    if (capped)
      await WecomGroupSendTarget.updateOne({ sendId, profileId }, { $set: { state: 'capped', reason: capped } });
  }
  // Sealed: the batch's tasks are complete and may be called (by this call, a re-run or the resume job).
  await WecomGroupSendTask.updateMany({ sendId, batch, state: 'open' }, { $set: { state: 'pending' } });
  await deps.redis.del(lease);

  const outcomes = await deliverGroupSendTasks(deps, sendId, options.hooks);
  deps.logger.info({ corp, sendId, batch, tasks: outcomes.length }, 'wecom group send created');
  return groupSendFunnel(sendId);
}

/** Writes a member's task of a batch (`open`: its targets are still being decided); a re-write is a no-op. */
async function openTask(sendId: string, userid: string, batch: string): Promise<void> {
  try {
    await WecomGroupSendTask.create({ _id: randomUUID(), sendId, userid, batch, state: 'open', attempt: 0 });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
}

const STATUS: Record<number, TargetState> = { 0: 'not_sent', 1: 'sent', 2: 'not_friend', 3: 'received_other' };

/** Pulls each task's per-customer results from WeCom into the targets; returns the funnel. */
export async function refreshGroupSend(deps: WecomDeps, corp: string, sendId: string): Promise<GroupSendFunnel> {
  const send = await WecomGroupSend.findOne({ _id: sendId, corp }).lean();
  if (!send) throw new DomainError('not_found', 'group_send_not_found', 'No such group send.');
  const tasks = await WecomGroupSendTask.find({ sendId, msgid: { $exists: true } }).lean();
  // A task's msgid is its own: several tasks (batches) of one member are refreshed one by one.
  for (const task of tasks) {
    let cursor: string | undefined;
    do {
      const page = await getGroupMsgSendResult(clientOf(deps, corp), {
        msgid: task.msgid!,
        userid: task.userid,
        ...(cursor ? { cursor } : {}),
      });
      // One update per outcome (FerretDB: few statements per command).
      const byState = new Map<TargetState, string[]>();
      for (const r of page.sendList) {
        const state = STATUS[r.status];
        if (state) byState.set(state, [...(byState.get(state) ?? []), r.externalUserId]);
      }
      for (const [state, ids] of byState)
        await WecomGroupSendTarget.updateMany(
          {
            sendId,
            userid: task.userid,
            ...(task.batch ? { batch: task.batch } : {}),
            externalUserId: { $in: ids },
            state: { $nin: ['failed', 'capped'] },
          },
          { $set: { state } },
        );
      cursor = page.nextCursor;
    } while (cursor);
  }
  return groupSendFunnel(sendId);
}

/** The id of the group send created under a key, if any. */
export async function findGroupSend(corp: string, key: string): Promise<string | undefined> {
  const send = await WecomGroupSend.findOne({ corp, key }, { _id: 1 }).lean();
  return send?._id;
}

export interface GroupSendTarget {
  profileId: string;
  state: TargetState;
  reason?: string;
}

/** Every target of a group send with its state (streamed: a send may hold 10,000 customers). */
export async function groupSendTargets(sendId: string): Promise<GroupSendTarget[]> {
  const out: GroupSendTarget[] = [];
  for await (const t of WecomGroupSendTarget.find({ sendId }, { profileId: 1, state: 1, reason: 1 }).lean().cursor())
    out.push({ profileId: t.profileId, state: t.state, ...(t.reason ? { reason: t.reason } : {}) });
  return out;
}

/** Targets per state: the group send's funnel. */
export async function groupSendFunnel(sendId: string): Promise<GroupSendFunnel> {
  const send = await WecomGroupSend.findById(sendId).lean();
  if (!send) throw new DomainError('not_found', 'group_send_not_found', 'No such group send.');
  const groups = await WecomGroupSendTarget.aggregate<{ _id: TargetState; n: number }>([
    { $match: { sendId } },
    { $group: { _id: '$state', n: { $sum: 1 } } },
  ]);
  const counts = Object.fromEntries(TARGET_STATES.map((s) => [s, 0])) as Record<TargetState, number>;
  for (const g of groups) counts[g._id] = g.n;
  return {
    sendId,
    name: send.name,
    tasks: await WecomGroupSendTask.countDocuments({ sendId, msgid: { $exists: true } }),
    pendingTasks: await WecomGroupSendTask.countDocuments({ sendId, state: { $in: ['open', 'pending'] } }),
    reviewTasks: await WecomGroupSendTask.countDocuments({ sendId, state: 'review' }),
    ...counts,
  };
}
