/**
 * Rehearsals: a red-envelope campaign run against sandbox followers cloned from its real audience's shape
 * (how many customers per tier — never their identities), in a stack of its own (sandbox, web and worker
 * processes on a throw-away database and Redis prefix), with the sandbox's faults (payouts failing for a
 * share of customers). The report says what customers would have experienced; a campaign whose budget is
 * over REHEARSAL_REQUIRED_ABOVE_FEN cannot be approved without a passing rehearsal of its current version.
 */
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { DomainError } from '../infra/errors.js';
import { createRedis, deleteByPrefix } from '../infra/redis.js';
import { getCampaign, type Campaign } from '../campaigns/redenvelope/index.js';
import { inParallel } from '../demo/http.js';
import {
  assignTiers,
  confirmTransfers,
  reportPurchases,
  seedStaff,
  subscribeEveryone,
  type DemoWorld,
  type Person,
} from '../demo/scenario.js';
import { startStack } from '../demo/stack.js';
import { Rehearsal, type RehearsalFailure, type RehearsalReport } from './model.js';

export interface RehearsalEnv {
  mongoUrl: string;
  /** The service's database: the rehearsal's own is named after it and dropped afterwards. */
  database: string;
  redisUrl: string;
  redisPrefix: string;
  tiers: string[];
  logDir: string;
}

export interface RehearsalOptions {
  /** Share of customers whose payouts fail at WeChat Pay (0..1). */
  payoutFailureRate: number;
  failReason?: string;
  /** Sandbox followers to clone (default 30). */
  followers?: number;
}

/** Customers per tier in the campaign's audience (eligible tiers only), scaled to `total` followers. */
export async function audienceShape(
  campaign: Campaign,
  total: number,
  tiers: string[],
): Promise<Record<string, number>> {
  const eligibleTiers = (campaign.eligibility as { tiers?: string[] } | undefined)?.tiers;
  const groups = await mongoose.connection
    .db!.collection('crm_profiles')
    .aggregate<{ _id: string | null; n: number }>([{ $group: { _id: '$tier', n: { $sum: 1 } } }])
    .toArray();
  const counts = groups
    .map((g) => ({ tier: g._id ?? tiers[0]!, n: g.n }))
    .filter((g) => tiers.includes(g.tier) && (!eligibleTiers || eligibleTiers.includes(g.tier)));
  const sum = counts.reduce((s, g) => s + g.n, 0);
  if (sum === 0) return { [eligibleTiers?.[0] ?? tiers[0]!]: total };
  const shape: Record<string, number> = {};
  for (const g of counts) shape[g.tier] = Math.max(1, Math.round((g.n / sum) * total));
  return shape;
}

function clonePeople(shape: Record<string, number>, boughtFen: number | undefined, runId: string): Person[] {
  const people: Person[] = [];
  for (const [tier, count] of Object.entries(shape))
    for (let i = 0; i < count; i++) {
      const n = people.length;
      const id = `${runId}${String(n).padStart(5, '0')}`;
      people.push({
        n,
        unionid: `oUrh${id}`,
        accounts: [{ account: 'default', openid: `oRh${id}` }],
        tier: tier as Person['tier'],
        ...(boughtFen !== undefined ? { boughtFen } : {}),
        farmer: false,
        frozen: false,
        confirms: true,
      });
    }
  return people;
}

export async function rehearseRedEnvelope(
  env: RehearsalEnv,
  campaignId: string,
  options: RehearsalOptions,
  by: string,
): Promise<RehearsalReport> {
  const campaign = await getCampaign(campaignId);
  const total = options.followers ?? 30;
  const shape = await audienceShape(campaign, total, env.tiers);
  const event = (campaign.eligibility as { event?: { minAmountFen?: number } } | undefined)?.event;
  const runId = randomUUID().replace(/-/g, '').slice(0, 8);
  const database = `${env.database}_rh_${runId}`;
  const redisPrefix = `${env.redisPrefix}rh:${runId}:`;
  const adminPassword = `rehearsal-${randomUUID()}`;
  const log: string[] = [];
  const stack = await startStack({
    mongoUrl: env.mongoUrl,
    database,
    redisUrl: env.redisUrl,
    redisPrefix,
    logDir: `${env.logDir}/rehearsal-${runId}`,
    settings: {
      CRM_TIERS: env.tiers.join(','),
      ADMIN_USERNAME: 'rehearsal',
      ADMIN_PASSWORD: adminPassword,
      // Inside the rehearsal the campaign copy is approved at once: the gate is for the real one.
      REHEARSAL_REQUIRED_ABOVE_FEN: String(Number.MAX_SAFE_INTEGER),
    },
    say: (line) => log.push(line),
  });
  const db = await mongoose.createConnection(env.mongoUrl, { dbName: database, maxPoolSize: 4 }).asPromise();
  try {
    const world: DemoWorld = {
      stack,
      db,
      say: (line) => log.push(line),
      fast: true,
      people: clonePeople(shape, event ? (event.minAmountFen ?? 0) + 100 : undefined, runId),
      paths: [],
      staff: {},
      skipped: [],
      doubleRedeemAttempts: 0,
    };
    await seedStaff(world, 'rehearsal', adminPassword);
    await subscribeEveryone(world);
    await assignTiers(world);
    if (event) await reportPurchases(world);

    const c = campaign;
    const eligibility = { ...(campaign.eligibility as Record<string, unknown> | undefined) };
    delete eligibility.audienceId; // saved audiences are not cloned; tiers and events are
    const copy = await world.staff.marketer!.call<{ id: string }>('POST', '/campaigns/red-envelopes', {
      name: `${campaign.name}（演练）`.slice(0, 60),
      accounts: ['default'],
      startAt: new Date(Date.now() - 60_000).toISOString(),
      endAt: new Date(Date.now() + 86_400_000).toISOString(),
      budgetFen: campaign.budgetFen,
      prize: campaign.prize as unknown,
      ...(c.drawChance !== undefined ? { drawChance: c.drawChance } : {}),
      ...(c.perCustomerTotal !== undefined ? { perCustomerTotal: c.perCustomerTotal } : {}),
      ...(c.perCustomerPerDay !== undefined ? { perCustomerPerDay: c.perCustomerPerDay } : {}),
      eligibility,
      entries: ['keyword'],
      keyword: campaign.keyword ?? '抢红包',
    });
    world.campaignId = copy.id;
    await world.staff.manager!.call('POST', `/campaigns/red-envelopes/${copy.id}/approve`);
    await world.staff.marketer!.call('POST', `/campaigns/red-envelopes/${copy.id}/start`);

    // The sandbox's fault: WeChat Pay refuses transfers to this share of the customers.
    const failing = Math.round(options.payoutFailureRate * world.people.length);
    const reason = options.failReason ?? 'ACCOUNT_FROZEN';
    for (let j = 0; j < failing; j++) {
      const p = world.people[Math.floor((j * world.people.length) / failing)]!;
      p.frozen = true;
      stack.sandbox.pay.failPaymentsTo(p.accounts[0]!.openid, reason);
    }

    const refusals: Record<string, number> = {};
    await inParallel(world.people, 8, async (p) => {
      const f = stack.sandbox.wechat.follower('default', p.accounts[0]!.openid);
      const reply = (await f.send(campaign.keyword ?? '抢红包')).inbox?.text ?? 'no answer';
      if (!reply.includes('恭喜')) refusals[reply] = (refusals[reply] ?? 0) + 1;
    });
    await confirmTransfers(world, 60_000);
    const report = await readReport(world, campaign, shape, options, refusals);
    await Rehearsal.create({
      campaignId,
      kind: 'red_envelope',
      passed: report.passed,
      report,
      campaignVersion: campaign.updatedAt ?? new Date(0),
      by,
    });
    return report;
  } finally {
    await stack.stop().catch(() => undefined);
    await db.dropDatabase().catch(() => undefined);
    await db.close();
    const redis = createRedis({ url: env.redisUrl, prefix: '' });
    await deleteByPrefix(redis, redisPrefix).catch(() => undefined);
    await redis.quit();
  }
}

async function readReport(
  world: DemoWorld,
  campaign: Campaign,
  shape: Record<string, number>,
  options: RehearsalOptions,
  refusals: Record<string, number>,
): Promise<RehearsalReport> {
  const db = world.db.db!;
  const claims = await db.collection('red_envelope_claims').find({ campaignId: world.campaignId }).toArray();
  const decisions = await db.collection('red_envelope_risk_decisions').find({ campaignId: world.campaignId }).toArray();
  const tierOf = new Map(world.people.map((p) => [p.accounts[0]!.openid, p.tier]));
  const won = claims.filter((c) => c.outcome === 'won');
  const stateOf = (c: (typeof claims)[number]) => (c.payout as { state?: string } | undefined)?.state ?? 'pending';
  const sum = (list: typeof claims) => list.reduce((s, c) => s + Number(c.amountFen), 0);
  const failed = won.filter((c) => stateOf(c) === 'failed');
  const paid = won.filter((c) => stateOf(c) === 'success');
  const failures: RehearsalFailure[] = failed.map((c) => {
    const payout = c.payout as { failReason?: string; lastError?: string } | undefined;
    return {
      follower: String(c.openid),
      tier: tierOf.get(String(c.openid)) ?? 'unknown',
      amountFen: Number(c.amountFen),
      reason: payout?.failReason ?? payout?.lastError ?? 'failed',
    };
  });
  // Payouts still being retried after the wait are failures a customer would feel too.
  for (const c of won.filter((x) => ['pending', 'submitted'].includes(stateOf(x))))
    failures.push({
      follower: String(c.openid),
      tier: tierOf.get(String(c.openid)) ?? 'unknown',
      amountFen: Number(c.amountFen),
      reason: `still ${stateOf(c)}: ${(c.payout as { lastError?: string } | undefined)?.lastError ?? 'not paid in time'}`,
    });
  const riskDenials: Record<string, number> = {};
  for (const d of decisions)
    for (const r of (d.rules as { rule: string }[] | undefined) ?? [])
      riskDenials[r.rule] = (riskDenials[r.rule] ?? 0) + 1;
  const wonFen = sum(won);
  const budget = {
    budgetFen: campaign.budgetFen,
    wonFen,
    paidFen: sum(paid),
    failedFen: sum(failed),
    ok: wonFen <= campaign.budgetFen,
  };
  const problems: string[] = [];
  if (failures.length > 0) problems.push(`${failures.length} customers would win and not be paid`);
  if (!budget.ok) problems.push('the money won would exceed the budget');
  if (won.length === 0) problems.push('no customer could win');
  return {
    campaignId: campaign._id,
    kind: 'red_envelope',
    followers: world.people.length,
    shape,
    faults: { payoutFailureRate: options.payoutFailureRate },
    claimed: claims.length + decisions.length,
    won: won.length,
    paid: paid.length,
    awaitingConfirmation: won.filter((c) => stateOf(c) === 'wait_user_confirm').length,
    failures,
    riskDenials,
    refusals,
    budget,
    passed: problems.length === 0,
    problems,
  };
}

/** The approval gate: a campaign over the threshold needs a passing rehearsal of its current version. */
export function createRehearsalGate(requiredAboveFen: number): (campaign: Campaign) => Promise<void> {
  return async (campaign) => {
    if (campaign.budgetFen <= requiredAboveFen) return;
    const version = campaign.updatedAt ?? new Date(0);
    const latest = await Rehearsal.findOne({ campaignId: campaign._id, campaignVersion: { $gte: version } })
      .sort({ createdAt: -1 })
      .lean<{ passed: boolean; report: RehearsalReport }>();
    if (latest?.passed) return;
    throw new DomainError(
      'conflict',
      'rehearsal_required',
      latest
        ? `The last rehearsal did not pass: ${latest.report.problems.join('; ')}.`
        : `Campaigns over ¥${(requiredAboveFen / 100).toFixed(2)} need a passing rehearsal before approval.`,
      { campaignId: campaign._id, budgetFen: campaign.budgetFen, requiredAboveFen },
    );
  };
}
