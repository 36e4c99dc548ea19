/**
 * The acceptance suite's harness: the demo's stack (sandbox, separate web and worker processes) on this
 * file's database, the demo's day, and one check per promise the project makes, read from the stores.
 */
import { join } from 'node:path';
import mongoose, { Types, type Connection } from 'mongoose';
import { inject } from 'vitest';
import { PUSH_TITLES, VIP_TIERS } from '../../src/demo/push.js';
import { runDemoDay, type DayOptions } from '../../src/demo/day.js';
import { ledgerAgrees, type DemoWorld, type Summary } from '../../src/demo/scenario.js';
import { demoSettings } from '../../src/demo/settings.js';
import { startStack, type Stack } from '../../src/demo/stack.js';
import type { RawSettings } from '../../src/infra/config.js';
import { fileScope } from '../support/app.js';

export interface DayRun {
  stack: Stack;
  db: Connection;
  world: DemoWorld;
  summary: Summary;
  log: string[];
}

export async function playDay(options: {
  tag: string;
  people: number;
  redisUrl?: string;
  settings?: RawSettings;
  between?: DayOptions['between'];
}): Promise<DayRun> {
  const scope = fileScope();
  const database = `${scope.database}_${options.tag}`;
  const log: string[] = [];
  const say = (line: string) => log.push(line);
  const stack = await startStack({
    mongoUrl: inject('mongoUrl'),
    database,
    redisUrl: options.redisUrl ?? inject('redisUrl'),
    redisPrefix: `${scope.redisPrefix}${options.tag}:`,
    logDir: join(import.meta.dirname, '..', '..', '.cache', 'acceptance', `${database}`),
    settings: { ...demoSettings({ username: 'admin', password: 'admin-password-accept' }), ...options.settings },
    say,
  });
  const db = await mongoose.createConnection(inject('mongoUrl'), { dbName: database, maxPoolSize: 4 }).asPromise();
  try {
    const { summary, world } = await runDemoDay({
      stack,
      db,
      say,
      fast: true,
      people: options.people,
      runId: options.tag,
      admin: { username: 'admin', password: 'admin-password-accept' },
      between: options.between,
    });
    return { stack, db, world, summary, log };
  } catch (err) {
    await stack.stop().catch(() => undefined);
    await db.close();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${log.join('\n')}`);
  }
}

export async function endDay(run: DayRun | undefined): Promise<void> {
  if (!run) return;
  await run.stack.stop();
  await run.db.dropDatabase().catch(() => undefined);
  await run.db.close();
}

// ------------------------------------------------------------------------------------------ promises

/** Every push WeChat made to our callback was answered with a valid reply (or "success") within 5 s. */
export function unansweredPushes(run: DayRun): string[] {
  return run.stack.sandbox.wechat
    .pushLog()
    .filter(
      (e) => e.answeredMs === undefined || e.answeredMs > 5000 || e.reply === 'invalid' || e.reply === 'unanswered',
    )
    .map((e) => `${e.account}/${e.openid} ${e.type}: ${e.answeredMs ?? 'no answer'} ms, ${e.reply}`);
}

/**
 * Every won envelope is paid, or in a state its customer was told about: waiting for their confirmation
 * (they got the confirm message), failed (they got the failure message, and staff have a case), or still
 * being retried with the reason recorded.
 */
export async function unexplainedEnvelopes(run: DayRun): Promise<string[]> {
  const claims = await run.db
    .db!.collection('red_envelope_claims')
    .find({ campaignId: run.world.campaignId, outcome: 'won' })
    .toArray();
  const problems: string[] = [];
  for (const c of claims) {
    const payout = (c.payout ?? {}) as { state?: string; packageInfo?: string; lastError?: string; caseState?: string };
    const inbox = run.stack.sandbox.wechat.inbox(String(c.account), String(c.openid)).map((m) => m.text);
    const told = (words: string) => inbox.some((t) => t.includes(words));
    const ok =
      payout.state === 'success' ||
      (payout.state === 'wait_user_confirm' && !!payout.packageInfo && told('待确认收款')) ||
      (payout.state === 'failed' && payout.caseState !== undefined && told('发放失败')) ||
      ((payout.state === 'pending' || payout.state === 'submitted') && !!payout.lastError);
    if (!ok)
      problems.push(
        `${String(c._id)}: ${payout.state ?? 'no payout'} (${payout.lastError ?? 'no reason'}; package ${
          payout.packageInfo ? 'kept' : 'missing'
        }; profile ${String(c.profileId)}; inbox: ${inbox.slice(-4).join(' | ') || 'empty'})`,
      );
  }
  return problems;
}

export function ledgerMatches(run: DayRun): boolean {
  return run.summary.ledger !== undefined && ledgerAgrees(run.summary.ledger);
}

/** Codes redeemed more than once (two redeemed outcomes for one code). */
export async function doubleRedemptions(run: DayRun): Promise<string[]> {
  const groups = await run.db
    .db!.collection('reservation_outcomes')
    .aggregate<{ _id: unknown; n: number }>([
      { $match: { outcome: 'redeemed' } },
      { $group: { _id: '$codeId', n: { $sum: 1 } } },
    ])
    .toArray();
  return groups.filter((g) => g.n > 1).map((g) => String(g._id));
}

/** Staff writes made through the admin API that have no audit entry (by staff member and count). */
export async function unauditedWrites(run: DayRun): Promise<string[]> {
  const clients = [run.world.admin!, ...Object.values(run.world.staff)];
  const problems: string[] = [];
  for (const client of clients) {
    const audited = await run.db
      .db!.collection('audit_log')
      .countDocuments({ actorUsername: client.username, action: { $not: /^auth\./ } });
    if (audited < client.writes.length)
      problems.push(`${client.username}: ${client.writes.length} writes, ${audited} audit entries`);
  }
  return problems;
}

/**
 * Marketing sends per customer and Asia/Shanghai day, and sends in the quiet hours the service runs with
 * (22:00–08:00 unless the day is played at night: src/demo/settings.ts), from the push domain's records.
 */
function inQuietHours(q: { quietStartHour: number; quietEndHour: number }, hour: number): boolean {
  return q.quietStartHour > q.quietEndHour
    ? hour >= q.quietStartHour || hour < q.quietEndHour
    : hour >= q.quietStartHour && hour < q.quietEndHour;
}

export async function pushDiscipline(
  run: DayRun,
  capPerDay: number,
): Promise<{ overCap: string[]; atNight: string[] }> {
  const sends = await run.db
    .db!.collection('push_sends')
    .find({ state: { $in: ['sent', 'delivered'] } }, { projection: { profileId: 1, at: 1 } })
    .toArray();
  const perDay = new Map<string, number>();
  const atNight: string[] = [];
  for (const s of sends) {
    const local = new Date((s.at as Date).getTime() + 8 * 3600_000);
    const key = `${String(s.profileId)} ${local.toISOString().slice(0, 10)}`;
    perDay.set(key, (perDay.get(key) ?? 0) + 1);
    const hour = local.getUTCHours();
    if (inQuietHours(run.stack.config.push, hour)) atNight.push(`${String(s.profileId)} at ${local.toISOString()}`);
  }
  return { overCap: [...perDay].filter(([, n]) => n > capPerDay).map(([k, n]) => `${k}: ${n}`), atNight };
}

/**
 * Recipients of the tiered push who read another tier's words: VIP and qualified customers must get the VIP
 * content, everyone else the default content (from the send records, the profiles' tiers and what the
 * sandbox delivered to each follower).
 */
export async function wrongTierContent(run: DayRun): Promise<string[]> {
  const db = run.db.db!;
  const sends = await db
    .collection('push_sends')
    .find({ state: { $in: ['sent', 'delivered'] } }, { projection: { profileId: 1, account: 1, openid: 1 } })
    .toArray();
  const profiles = await db
    .collection('crm_profiles')
    .find({ _id: { $in: sends.map((s) => new Types.ObjectId(String(s.profileId))) } }, { projection: { tier: 1 } })
    .toArray();
  const tierOf = new Map(profiles.map((p) => [String(p._id), String(p.tier ?? '')]));
  const problems: string[] = [];
  for (const s of sends) {
    const tier = tierOf.get(String(s.profileId)) ?? '';
    const expected = VIP_TIERS.includes(tier) ? PUSH_TITLES.vip : PUSH_TITLES.default;
    const titles = run.stack.sandbox.wechat
      .inbox(String(s.account), String(s.openid))
      .filter((m) => m.msgtype === 'template' && m.content.title === '活动通知')
      .map((m) => (m.content.data as Record<string, string> | undefined)?.thing1 ?? '');
    if (titles.length !== 1 || titles[0] !== expected)
      problems.push(`${String(s.profileId)} (${tier}): read ${JSON.stringify(titles)}, expected ${expected}`);
  }
  return problems;
}

/** Referral relations confirmed for a friend other than the one who bought within their window. */
export async function wrongConfirmations(run: DayRun): Promise<string[]> {
  const confirmed = await run.db
    .db!.collection('referral_relations')
    .find({ campaignId: run.world.referralCampaignId, state: 'confirmed' }, { projection: { friendOpenid: 1 } })
    .toArray();
  return confirmed.map((r) => String(r.friendOpenid)).filter((openid) => openid !== run.world.referral?.qualified);
}
