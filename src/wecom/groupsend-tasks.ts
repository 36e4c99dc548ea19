/**
 * Calling `add_msg_template` for group-send task rows, crash-safe and at most once per attempt.
 *
 * WeCom has no idempotency key for `add_msg_template`, so a retried call is a second task on the member's
 * phone. Each call is therefore preceded by a Redis claim (`SET NX`, one per task and attempt) and its outcome
 * is written into the claim before the row: whoever finds a claim knows a call was (or is being) made.
 *   - WeCom answered with a msgid            → the task is `created`.
 *   - WeCom answered with an errcode          → no task exists; transient errcodes are retried (next attempt,
 *                                               a new claim), the others fail the task and its targets.
 *   - no answer (timeout, reset, crash before the outcome was stored)
 *                                             → unknown. After the claim's lease we reconcile: list the tasks
 *                                               WeCom created since the claim (`get_groupmsg_list_v2`) and
 *                                               look for one of this member whose customers are this task's.
 *                                               Found: record its msgid. Not found: WeCom never made it, so
 *                                               the next attempt calls again. More than one: `review`.
 * The trade-off: a reconciliation cannot see a task WeCom accepted but does not list yet; the lease
 * (minutes) gives WeCom the time, and a task whose attempts run out goes to `review` rather than a new call.
 * A duplicate is possible only if WeCom lists an accepted task later than the lease; a customer is never
 * silently left unsent: every unresolved task stays `pending` (resumed by the job) or shows as `review`.
 * A reconciliation could take another send's task for ours only if that send has the same member, text and
 * a subset of our customers and its own msgid is not stored yet (itself lost mid-call): then our customers
 * would be left unsent rather than sent twice, the side we prefer.
 */
import { dispositionOf, isPlatformError } from '../platform/kernel/errors.js';
import { addMsgTemplate, getGroupMsgListV2, getGroupMsgSendResult } from '../platform/wecom/index.js';
import type { WecomAttachment } from '../platform/wecom/index.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomGroupSend, WecomGroupSendTarget, WecomGroupSendTask, type TaskState } from './groupsend-model.js';

/** How long a claim without an outcome is taken for a call in flight before it is reconciled. */
export const CALL_LEASE_MS = 120_000;
/** How long a batch may stay `open` (deciding its targets) before its worker is taken for dead. */
export const BATCH_LEASE_MS = 600_000;
/** Calls per task before it goes to review instead of another call. */
const MAX_ATTEMPTS = 5;
const CLAIM_TTL_SECONDS = 30 * 86_400;

export const batchLeaseKey = (batch: string) => `wecom:groupsend:batch:${batch}`;
const claimKey = (taskId: string, attempt: number) => `wecom:groupsend:call:${taskId}:${attempt}`;

/** Test seams: a crash is simulated by throwing from one of these. */
export interface GroupSendHooks {
  /** After the task row and its claim are written, before `add_msg_template`. */
  beforeCall?(task: TaskRef): void | Promise<void>;
  /** After WeCom accepted the task, before its msgid is stored anywhere. */
  afterCall?(task: TaskRef, msgid: string): void | Promise<void>;
}

export interface TaskRef {
  taskId: string;
  sendId: string;
  userid: string;
  batch: string;
}

interface Claim {
  at: number;
  msgid?: string;
  failList?: string[];
  /** WeCom refused the call with this errcode: no task was created. */
  refused?: number;
}

interface TaskRow {
  _id: string;
  sendId: string;
  userid: string;
  batch?: string | null;
  state?: TaskState | null;
  attempt?: number | null;
}

interface SendRow {
  _id: string;
  corp: string;
  text?: string | null;
  attachments?: unknown[] | null;
}

type Outcome = 'created' | 'empty' | 'pending' | 'in_flight' | 'failed' | 'review';

/**
 * Seals the open tasks of dead batches and calls WeCom for every pending task of a send; returns the
 * outcome per task. Safe to run from any number of workers at once.
 */
export async function deliverGroupSendTasks(
  deps: WecomDeps,
  sendId: string,
  hooks: GroupSendHooks = {},
): Promise<Outcome[]> {
  const send = await WecomGroupSend.findById(sendId).lean<SendRow>();
  if (!send) return [];
  const tasks = await WecomGroupSendTask.find({ sendId, state: { $in: ['open', 'pending'] } })
    .sort({ createdAt: 1 })
    .lean<TaskRow[]>();
  const outcomes: Outcome[] = [];
  for (const task of tasks) {
    if (task.state === 'open') {
      if (await deps.redis.exists(batchLeaseKey(task.batch ?? ''))) continue; // its worker is still deciding
      await WecomGroupSendTask.updateOne({ _id: task._id, state: 'open' }, { $set: { state: 'pending' } });
    }
    outcomes.push(await deliverTask(deps, send, task, hooks));
  }
  return outcomes;
}

/** The resume job's pass over a corp: every send with open or pending tasks. Returns the tasks looked at. */
export async function resumeGroupSends(deps: WecomDeps, corp: string, hooks: GroupSendHooks = {}): Promise<number> {
  const sendIds = (await WecomGroupSendTask.distinct('sendId', { state: { $in: ['open', 'pending'] } })).filter(
    (id): id is string => typeof id === 'string',
  );
  if (sendIds.length === 0) return 0;
  const sends = await WecomGroupSend.find({ _id: { $in: sendIds }, corp }, { _id: 1 }).lean<{ _id: string }[]>();
  let n = 0;
  for (const send of sends) n += (await deliverGroupSendTasks(deps, send._id, hooks)).length;
  return n;
}

async function deliverTask(deps: WecomDeps, send: SendRow, task: TaskRow, hooks: GroupSendHooks): Promise<Outcome> {
  const attempt = task.attempt ?? 0;
  const ref: TaskRef = { taskId: task._id, sendId: task.sendId, userid: task.userid, batch: task.batch ?? '' };
  const log = deps.logger.child({ sendId: task.sendId, taskId: task._id, attempt });
  const key = claimKey(task._id, attempt);
  const at = deps.now().getTime();
  if ((await deps.redis.set(key, JSON.stringify({ at }), 'EX', CLAIM_TTL_SECONDS, 'NX')) !== 'OK') {
    const claim = parseClaim(await deps.redis.get(key));
    if (!claim) return markReview(task, 'claim_lost'); // older than its TTL: nobody can tell any more
    if (claim.msgid) return recordCreated(task, claim.msgid, claim.failList ?? []);
    if (claim.refused !== undefined) return recordRefused(deps, task, attempt, claim.refused, '');
    if (at - claim.at < CALL_LEASE_MS) return 'in_flight';
    return reconcile(deps, send, task, attempt, claim, hooks);
  }

  const members = await membersOf(task);
  if (members.length === 0) {
    await WecomGroupSendTask.updateOne({ _id: task._id }, { $set: { state: 'empty' } });
    return 'empty';
  }
  await hooks.beforeCall?.(ref);
  let res: { msgid: string; failList: string[] };
  try {
    res = await addMsgTemplate(clientOf(deps, send.corp), {
      chatType: 'single',
      sender: task.userid,
      externalUserIds: members,
      ...(send.text ? { text: send.text } : {}),
      ...(send.attachments?.length ? { attachments: send.attachments as WecomAttachment[] } : {}),
    });
  } catch (err) {
    if (!isPlatformError(err)) throw err;
    if (err.httpStatus === 200 && typeof err.errcode === 'number') {
      // WeCom answered with an errcode: it created nothing, so another attempt cannot duplicate.
      await deps.redis.set(key, JSON.stringify({ at, refused: err.errcode } satisfies Claim), 'KEEPTTL');
      return recordRefused(deps, task, attempt, err.errcode, err.errmsg);
    }
    // No answer: WeCom may or may not have created it. The claim stays without an outcome until reconciled.
    log.warn({ errcode: err.errcode }, 'add_msg_template outcome unknown; reconciled after the lease');
    return 'pending';
  }
  await hooks.afterCall?.(ref, res.msgid);
  await deps.redis.set(
    key,
    JSON.stringify({ at, msgid: res.msgid, failList: res.failList } satisfies Claim),
    'KEEPTTL',
  );
  return recordCreated(task, res.msgid, res.failList);
}

/** The customers of a task: its batch's targets of this member that are still to be sent. */
async function membersOf(task: TaskRow): Promise<string[]> {
  const targets = await WecomGroupSendTarget.find(
    { sendId: task.sendId, userid: task.userid, batch: task.batch, state: 'queued' },
    { externalUserId: 1 },
  ).lean();
  return targets.flatMap((t) => (t.externalUserId ? [t.externalUserId] : []));
}

async function recordCreated(task: TaskRow, msgid: string, failList: string[]): Promise<Outcome> {
  await WecomGroupSendTask.updateOne({ _id: task._id }, { $set: { state: 'created', msgid }, $unset: { error: 1 } });
  if (failList.length > 0)
    await WecomGroupSendTarget.updateMany(
      { sendId: task.sendId, userid: task.userid, batch: task.batch, externalUserId: { $in: failList } },
      { $set: { state: 'failed' } },
    );
  return 'created';
}

async function recordRefused(
  deps: WecomDeps,
  task: TaskRow,
  attempt: number,
  errcode: number,
  errmsg: string,
): Promise<Outcome> {
  const error = `${errcode} ${errmsg}`.trim();
  // Busy, rate limits, a token WeCom still refused: it created nothing and may accept the same call later.
  if (dispositionOf(errcode) !== 'give_up' && attempt + 1 < MAX_ATTEMPTS) {
    await WecomGroupSendTask.updateOne({ _id: task._id }, { $set: { state: 'pending', attempt: attempt + 1, error } });
    deps.logger.warn({ sendId: task.sendId, taskId: task._id, errcode }, 'add_msg_template refused; retried later');
    return 'pending';
  }
  await WecomGroupSendTask.updateOne({ _id: task._id }, { $set: { state: 'failed', error } });
  await WecomGroupSendTarget.updateMany(
    { sendId: task.sendId, userid: task.userid, batch: task.batch, state: 'queued' },
    { $set: { state: 'failed' } },
  );
  deps.logger.warn({ sendId: task.sendId, taskId: task._id, errcode }, 'add_msg_template refused; task failed');
  return 'failed';
}

async function markReview(task: TaskRow, why: string): Promise<Outcome> {
  await WecomGroupSendTask.updateOne({ _id: task._id }, { $set: { state: 'review', error: why } });
  return 'review';
}

/** A claim without an outcome, past its lease: did WeCom create the task? (See the file's comment.) */
async function reconcile(
  deps: WecomDeps,
  send: SendRow,
  task: TaskRow,
  attempt: number,
  claim: Claim,
  hooks: GroupSendHooks,
): Promise<Outcome> {
  const client = clientOf(deps, send.corp);
  const members = new Set(
    (
      await WecomGroupSendTarget.find(
        { sendId: task.sendId, userid: task.userid, batch: task.batch },
        { externalUserId: 1 },
      ).lean()
    ).flatMap((t) => (t.externalUserId ? [t.externalUserId] : [])),
  );
  const candidates: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await getGroupMsgListV2(client, {
      chatType: 'single',
      startTime: Math.floor(claim.at / 1000) - 60,
      endTime: Math.floor(deps.now().getTime() / 1000) + 60,
      creator: task.userid,
      filterType: 0,
      ...(cursor ? { cursor } : {}),
    });
    for (const m of page.groupMsgs)
      if ((m.creator === undefined || m.creator === task.userid) && (m.text ?? '') === (send.text ?? ''))
        candidates.push(m.msgid);
    cursor = page.nextCursor;
  } while (cursor);
  const taken = new Set(
    (
      await WecomGroupSendTask.find({ msgid: { $in: candidates }, _id: { $ne: task._id } }, { msgid: 1 }).lean()
    ).flatMap((t) => (t.msgid ? [t.msgid] : [])),
  );
  const matches: { msgid: string; reached: Set<string> }[] = [];
  for (const msgid of candidates.filter((m) => !taken.has(m))) {
    const reached = await customersOf(deps, send.corp, msgid, task.userid);
    if (reached && reached.size > 0 && [...reached].every((id) => members.has(id))) matches.push({ msgid, reached });
  }
  const key = claimKey(task._id, attempt);
  if (matches.length === 1) {
    const { msgid, reached } = matches[0]!;
    const failList = [...members].filter((id) => !reached.has(id));
    await deps.redis.set(key, JSON.stringify({ at: claim.at, msgid, failList } satisfies Claim), 'KEEPTTL');
    deps.logger.info({ sendId: task.sendId, taskId: task._id }, 'group-send task reconciled with WeCom');
    return recordCreated(task, msgid, failList);
  }
  if (matches.length > 1) return markReview(task, 'ambiguous_reconciliation');
  // WeCom holds no such task: the call never took effect, so the next attempt may call again.
  if (attempt + 1 >= MAX_ATTEMPTS) return markReview(task, 'attempts_exhausted');
  await WecomGroupSendTask.updateOne({ _id: task._id }, { $set: { attempt: attempt + 1, error: 'no_answer' } });
  deps.logger.warn({ sendId: task.sendId, taskId: task._id }, 'group-send task not found in WeCom; calling again');
  return deliverTask(deps, send, { ...task, attempt: attempt + 1 }, hooks);
}

/** The customers WeCom holds for a task and member; undefined when the task is not this member's. */
async function customersOf(
  deps: WecomDeps,
  corp: string,
  msgid: string,
  userid: string,
): Promise<Set<string> | undefined> {
  const out = new Set<string>();
  let cursor: string | undefined;
  try {
    do {
      const page = await getGroupMsgSendResult(clientOf(deps, corp), {
        msgid,
        userid,
        ...(cursor ? { cursor } : {}),
      });
      for (const r of page.sendList) out.add(r.externalUserId);
      cursor = page.nextCursor;
    } while (cursor);
  } catch (err) {
    // 41058 no such msgid, 60111 not this member's: not a candidate. Anything else is not ours to explain.
    if (isPlatformError(err, 41058) || isPlatformError(err, 60111)) return undefined;
    throw err;
  }
  return out;
}

function parseClaim(raw: string | null): Claim | undefined {
  if (!raw) return undefined;
  const v = JSON.parse(raw) as Partial<Claim>;
  return typeof v.at === 'number' ? (v as Claim) : undefined;
}
