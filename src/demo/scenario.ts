/**
 * The demo's fund company and its day, as separate steps. Staff work goes through the admin API (so it is
 * audited like a person's), business events through the CRM's ingestion API, and followers act through the
 * sandbox (signed, encrypted callbacks to the web process). A step whose domain is not in this build (its
 * admin paths are missing from the OpenAPI document) is skipped with a note.
 */
import { Types, type Connection } from 'mongoose';
import { MATRIX, type Stack } from './stack.js';
import { adminPaths, inParallel, postEvents, signIn, type AdminClient } from './http.js';

export const DEMO_TIERS = ['regular', 'vip', 'qualified'] as const;
export type DemoTier = (typeof DEMO_TIERS)[number];

/** Demo logins (local sandbox only). */
export const DEMO_LOGINS = [
  { username: 'marketer', displayName: '市场部 小王', roles: ['marketing'], password: 'Demo-marketer-2024!' },
  { username: 'manager', displayName: '财务 李经理', roles: ['finance'], password: 'Demo-manager-2024!' },
  { username: 'adviser', displayName: '投顾 张老师', roles: ['service', 'sales'], password: 'Demo-adviser-2024!' },
  { username: 'auditor', displayName: '合规 陈', roles: ['auditor'], password: 'Demo-auditor-2024!' },
  // A second marketing lead: pushes need four eyes, and finance may not approve marketing messages.
  { username: 'director', displayName: '市场总监 赵', roles: ['marketing'], password: 'Demo-director-2024!' },
] as const;

export interface Person {
  n: number;
  unionid: string;
  /** Every person follows the service account ('default'); some also follow subscription accounts. */
  accounts: { account: string; openid: string }[];
  tier: DemoTier;
  /** What they bought today (fen), if anything. */
  boughtFen?: number;
  /** Subscribes and unsubscribes repeatedly to farm rewards (the risk rules should deny them). */
  farmer: boolean;
  /** Their WeChat Pay account refuses transfers (the payout fails, visibly). */
  frozen: boolean;
  /** Confirms receipt of a transfer when asked. */
  confirms: boolean;
}

export interface DemoWorld {
  stack: Stack;
  db: Connection;
  say: (line: string) => void;
  fast: boolean;
  people: Person[];
  paths: string[];
  admin?: AdminClient;
  staff: Partial<Record<(typeof DEMO_LOGINS)[number]['username'], AdminClient>>;
  apiKey?: string;
  campaignId?: string;
  programId?: string;
  referralCampaignId?: string;
  pushPlanId?: string;
  /** The referral step's cast: the referrers' openids, their friends, who bought in time and who left. */
  referral?: { referrers: string[]; friends: string[]; qualified: string; left: string };
  /** Steps skipped because their domain is missing, with the reason. */
  skipped: string[];
  /** Reservation codes a customer tried to redeem twice. */
  doubleRedeemAttempts: number;
}

/** A small seeded generator: the same day for the same inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The people of the day: deterministic for a given count and run id. */
export function makePeople(count: number, runId: string): Person[] {
  const random = rng(count * 7919 + runId.length);
  return Array.from({ length: count }, (_, n) => {
    const id = `${runId}${String(n).padStart(5, '0')}`;
    const accounts = [{ account: 'default', openid: `oSvc${id}` }];
    for (const a of MATRIX.slice(1)) if (random() < 0.3) accounts.push({ account: a.key, openid: `o${a.key}${id}` });
    const r = random();
    const tier: DemoTier = r < 0.06 ? 'qualified' : r < 0.2 ? 'vip' : 'regular';
    const b = random();
    const boughtFen = b < 0.35 ? 101 + Math.floor(random() * 5_000_000) : b < 0.4 ? 100 : undefined;
    // At least one of each, whatever the size of the day. Farmers buy a little to get past eligibility,
    // so it is the risk rules that stop them; frozen payees bought too, so they win and cannot be paid.
    const farmer = n === 3 || random() < 0.03;
    const frozen = n === 5 || random() < 0.03;
    const bought = farmer || frozen ? (boughtFen ?? 500) : boughtFen;
    return {
      n,
      unionid: `oUdemo${id}`,
      accounts,
      tier,
      ...(bought !== undefined ? { boughtFen: bought } : {}),
      farmer,
      frozen,
      confirms: random() < 0.9,
    };
  });
}

export function has(world: DemoWorld, pathPrefix: string): boolean {
  return world.paths.some((p) => p.startsWith(`/admin/api${pathPrefix}`));
}

/** Polls `check` every second until it holds or the time is up (then says so and goes on). */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  say: (l: string) => void,
  describe?: () => Promise<string>,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const detail = describe ? `: ${await describe()}` : '';
  say(`  (still waiting for ${what} after ${Math.round(timeoutMs / 1000)} s${detail}; going on)`);
  return false;
}

export const follower = (world: DemoWorld, a: { account: string; openid: string }) =>
  world.stack.sandbox.wechat.follower(a.account, a.openid);

/** The profile a follower belongs to now (merges move identities, so it is looked up each time). */
export async function profileOf(db: Connection, account: string, openid: string): Promise<string | undefined> {
  const doc = await db.db!.collection('crm_identities').findOne({ kind: 'openid', key: `${account}:${openid}` });
  return doc ? String(doc.profileId) : undefined;
}

// -------------------------------------------------------------------------------------------- steps

export async function seedStaff(world: DemoWorld, adminUser: string, adminPassword: string): Promise<void> {
  world.paths = await adminPaths(world.stack.webUrl);
  world.admin = await signIn(world.stack.webUrl, adminUser, adminPassword);
  for (const login of DEMO_LOGINS) {
    const { password, ...rest } = login;
    await world.admin.call('POST', '/staff', { ...rest, roles: [...rest.roles], password }).catch((err: unknown) => {
      // A second demo run against the same database finds them already there.
      if (!(err instanceof Error && /409|exists|duplicate/i.test(err.message))) throw err;
    });
    world.staff[login.username] = await signIn(world.stack.webUrl, login.username, password);
  }
  const source = await world.admin.call<{ apiKey: string }>('POST', '/crm/sources', {
    name: `demo-trading-${Date.now()}`,
  });
  world.apiKey = source.apiKey;
  world.say(`staff: ${DEMO_LOGINS.map((l) => l.username).join(', ')} signed in; trading system API key issued`);
}

export async function subscribeEveryone(world: DemoWorld): Promise<void> {
  const { sandbox } = world.stack;
  for (const p of world.people)
    if (p.accounts.length > 1)
      sandbox.wechat.setUnionid(
        p.accounts.map((a) => a.openid),
        p.unionid,
      );
  const follows = world.people.flatMap((p) => p.accounts.map((a) => ({ p, a })));
  const scenes = ['ADD_SCENE_SEARCH', 'ADD_SCENE_QR_CODE', 'ADD_SCENE_PROFILE_CARD', 'ADD_SCENE_ACCOUNT_MIGRATION'];
  await inParallel(follows, 12, async ({ a }, i) => {
    await follower(world, a).subscribe({ scene: scenes[i % scenes.length] });
  });
  // Farmers follow and leave again and again (the CRM records every subscribe for the risk rules). WeChat
  // tells events apart by FromUserName + CreateTime, so the sandbox clock moves on between their steps.
  const farmers = world.people.filter((p) => p.farmer);
  for (let i = 0; i < 3 && farmers.length > 0; i++) {
    sandbox.clock.advance(1500);
    await inParallel(farmers, 6, (p) => follower(world, p.accounts[0]!).unsubscribe());
    sandbox.clock.advance(1500);
    await inParallel(farmers, 6, (p) => follower(world, p.accounts[0]!).subscribe());
  }
  const db = world.db.db!;
  let last = -1;
  await waitUntil(
    'the CRM to record every follow',
    async () => {
      const [rows, events] = await Promise.all([
        db.collection('crm_followers').countDocuments({}),
        db.collection('crm_subscription_events').countDocuments({}),
      ]);
      const settled = rows >= follows.length && events === last;
      last = events;
      return settled;
    },
    world.fast ? 60_000 : 180_000,
    world.say,
    async () =>
      `${await db.collection('crm_followers').countDocuments({})} of ${follows.length} followers, ${last} events`,
  );
  // Enrichment (user/info/batchget, every 10 s) learns the unionids and merges each person's followers.
  const multi = world.people.filter((p) => p.accounts.length > 1);
  await waitUntil(
    'unionid merges',
    async () => {
      for (const p of multi.slice(-20)) {
        const ids = new Set(await Promise.all(p.accounts.map((a) => profileOf(world.db, a.account, a.openid))));
        if (ids.size !== 1 || ids.has(undefined)) return false;
      }
      return true;
    },
    world.fast ? 15_000 : 120_000,
    world.say,
  );
  world.say(
    `followers: ${world.people.length} people followed ${follows.length} times across ${MATRIX.length} accounts`,
  );
}

export async function assignTiers(world: DemoWorld): Promise<void> {
  const adviser = world.staff.adviser!;
  const upgraded = world.people.filter((p) => p.tier !== 'regular');
  await inParallel(upgraded, 6, async (p) => {
    const profileId = await profileOf(world.db, 'default', p.accounts[0]!.openid);
    if (!profileId) return;
    await adviser.call('POST', `/crm/profiles/${profileId}/tier`, {
      tier: p.tier,
      reason: p.tier === 'qualified' ? '合格投资者认定' : '资产达到 VIP 标准',
    });
  });
  world.say(`tiers: ${upgraded.length} customers moved to vip / qualified by the adviser`);
}

export async function reportPurchases(world: DemoWorld): Promise<void> {
  const buyers = world.people.filter((p) => p.boughtFen !== undefined);
  const events = buyers.map((p) => ({
    idempotencyKey: `demo-order-${p.accounts[0]!.openid}`,
    type: 'purchase' as const,
    at: new Date().toISOString(),
    customer: { openid: { account: 'default', openid: p.accounts[0]!.openid } },
    amountFen: p.boughtFen,
    payload: { product: '稳健增利债券A', orderNo: `ORD${p.n}` },
  }));
  for (let i = 0; i < events.length; i += 50)
    await postEvents(world.stack.webUrl, world.apiKey!, events.slice(i, i + 50));
  await waitUntil(
    'purchases on the timeline',
    async () => (await world.db.db!.collection('crm_timeline').countDocuments({ type: 'purchase' })) >= events.length,
    30_000,
    world.say,
  );
  world.say(
    `purchases: ${buyers.length} reported by the trading system (${events.filter((e) => e.amountFen! > 100).length} over ¥1)`,
  );
}

export async function setUpRedEnvelope(world: DemoWorld, options: { budgetFen?: number } = {}): Promise<void> {
  const marketer = world.staff.marketer!;
  const eligible = world.people.filter((p) => (p.boughtFen ?? 0) > 100).length;
  const count = Math.max(20, eligible + 10);
  const budgetFen = options.budgetFen ?? count * 888;
  const created = await marketer.call<{ id: string }>('POST', '/campaigns/red-envelopes', {
    name: '今日申购红包',
    accounts: ['default'],
    startAt: new Date(Date.now() - 60_000).toISOString(),
    endAt: new Date(Date.now() + 86_400_000).toISOString(),
    budgetFen,
    prize: { kind: 'random', minFen: 30, maxFen: 888, count },
    eligibility: { event: { type: 'purchase', minAmountFen: 101, from: 'T' } },
    entries: ['keyword'],
    keyword: '抢红包',
  });
  world.campaignId = created.id;
  await world.staff.manager!.call('POST', `/campaigns/red-envelopes/${created.id}/approve`);
  await marketer.call('POST', `/campaigns/red-envelopes/${created.id}/start`);
  world.say(
    `red envelopes: campaign ${created.id} — ${count} envelopes, ¥${(budgetFen / 100).toFixed(2)}, buyers > ¥1 today`,
  );
}

export async function setUpReservations(world: DemoWorld): Promise<void> {
  const quota = Math.max(5, Math.round(world.people.length * 0.08));
  const now = Date.now();
  const program = await world.staff.marketer!.call<{ id: string }>('POST', '/reservations/programs', {
    name: '新发基金额度预约',
    description: '限量额度，VIP 与合格投资者专享',
    productRef: 'FUND-NEW-2024',
    quota,
    eligibility: { tiers: ['vip', 'qualified'] },
    issueFrom: new Date(now - 60_000).toISOString(),
    issueUntil: new Date(now + 86_400_000).toISOString(),
    redeemFrom: new Date(now - 60_000).toISOString(),
    redeemUntil: new Date(now + 7 * 86_400_000).toISOString(),
    issueMode: 'claim',
  });
  world.programId = program.id;
  world.say(`reservations: program ${program.id}, ${quota} codes for vip and qualified customers`);
}

const CHAT = ['你好', '净值', '帮助', '余额', '人工', '基金经理是谁', '怎么赎回', '0', '1', '2', '3'];

/** The service desk's keyword rules and numbered commands, set up by the adviser through the admin API. */
export async function setUpConversation(world: DemoWorld): Promise<void> {
  const adviser = world.staff.adviser!;
  const rules = [
    {
      name: '资产查询',
      match: 'exact',
      pattern: '余额',
      command: '1',
      answer: { action: 'reply', params: { text: '{{name}}，您的资产明细请在“我的账户”查看；回复 0 查看全部服务。' } },
    },
    {
      name: '净值查询',
      match: 'contains',
      pattern: '净值',
      command: '2',
      answer: { action: 'reply', params: { text: '今日净值：稳健增利 1.2345，成长精选 2.0456（示例数据）。' } },
    },
    {
      name: '人工顾问',
      match: 'exact',
      pattern: '人工',
      command: '3',
      answer: { action: 'handoff' },
    },
    {
      name: '帮助',
      match: 'prefix',
      pattern: '帮助',
      priority: 10,
      answer: { action: 'reply', params: { text: '回复 1 查资产，2 查净值，3 找人工顾问，0 查看全部服务。' } },
    },
    {
      name: '赎回',
      match: 'regex',
      pattern: '(怎么|如何)赎回',
      answer: { action: 'reply', params: { text: '赎回请在“交易”菜单操作，T+1 到账。' } },
    },
  ];
  for (const rule of rules) await adviser.call('POST', '/conversation/rules', rule);
  world.say(`conversation: ${rules.length} keyword rules (numbered commands 1–3, help, NAV, redemption, hand-off)`);
}

export async function chat(world: DemoWorld): Promise<void> {
  const random = rng(42);
  const talks = world.people.flatMap((p) =>
    p.accounts.flatMap((a) => (random() < 0.6 ? [{ a, text: CHAT[Math.floor(random() * CHAT.length)]! }] : [])),
  );
  await inParallel(talks, 12, async ({ a, text }) => {
    await follower(world, a).send(text);
  });
  world.say(`chat: ${talks.length} messages written to the accounts`);
}

export async function claimEnvelopes(world: DemoWorld): Promise<void> {
  const { sandbox } = world.stack;
  const random = rng(7);
  const claimers = world.people.filter((p) => p.boughtFen !== undefined || p.farmer || random() < 0.1);
  for (const p of claimers) if (p.frozen) sandbox.pay.failPaymentsTo(p.accounts[0]!.openid, 'ACCOUNT_FROZEN');
  const replies = await inParallel(
    claimers,
    10,
    async (p) => (await follower(world, p.accounts[0]!).send('抢红包')).inbox?.text ?? '',
  );
  const won = replies.filter((r) => r.includes('恭喜')).length;
  world.say(`claims: ${claimers.length} followers typed 抢红包, ${won} won`);
}

/** Followers confirm receipt when WeChat Pay asks them (most do; a few never do). */
export async function confirmTransfers(world: DemoWorld, timeoutMs: number): Promise<void> {
  const db = world.db.db!;
  const confirming = new Map(world.people.map((p) => [p.accounts[0]!.openid, p.confirms]));
  const done = new Set<string>();
  const settled = async () => {
    const claims = await db
      .collection('red_envelope_claims')
      .find({ campaignId: world.campaignId, outcome: 'won' }, { projection: { openid: 1, payout: 1 } })
      .toArray();
    let open = 0;
    for (const c of claims) {
      const state = (c.payout as { state?: string } | undefined)?.state;
      const pkg = (c.payout as { packageInfo?: string } | undefined)?.packageInfo;
      const told = (c.payout as { confirmToldAt?: Date } | undefined)?.confirmToldAt !== undefined;
      if (state === 'wait_user_confirm' && pkg && confirming.get(String(c.openid)) && !done.has(String(c._id))) {
        done.add(String(c._id));
        try {
          world.stack.sandbox.pay.confirmTransfer(pkg, String(c.openid));
        } catch {
          done.delete(String(c._id)); // not ready yet: try again on the next pass
        }
      }
      const finalOrWaiting =
        state === 'success' ||
        state === 'failed' ||
        // One who never confirms has settled once told how to (the promise: they know what to do).
        (state === 'wait_user_confirm' && !confirming.get(String(c.openid)) && told);
      if (!finalOrWaiting) open += 1;
    }
    return open === 0;
  };
  await waitUntil('every payout to settle', settled, timeoutMs, world.say, async () => {
    const states = await db
      .collection('red_envelope_claims')
      .aggregate<{ _id: string; n: number }>([
        { $match: { campaignId: world.campaignId, outcome: 'won' } },
        { $group: { _id: '$payout.state', n: { $sum: 1 } } },
      ])
      .toArray();
    return states.map((st) => `${st._id} ${st.n}`).join(', ');
  });
  world.say(`payouts: ${done.size} transfers confirmed by their followers`);
}

export async function reserveAndRedeem(world: DemoWorld): Promise<void> {
  const random = rng(99);
  const askers = world.people.filter((p) => p.tier !== 'regular' || random() < 0.05);
  let issued = 0;
  let redeemed = 0;
  await inParallel(askers, 8, async (p) => {
    const f = follower(world, p.accounts[0]!);
    const reply = (await f.send('预约')).inbox?.text ?? '';
    const code = /预约码：([A-Z0-9-]+)/.exec(reply)?.[1];
    if (!code) return;
    issued += 1;
    if (random() < 0.3) return; // keeps the code for later
    const first = (await f.send(`预约码 ${code}`)).inbox?.text ?? '';
    if (first.includes('使用成功')) redeemed += 1;
    if (random() < 0.2) {
      world.doubleRedeemAttempts += 1;
      await f.send(`预约码 ${code}`); // tries again: must be refused
    }
  });
  world.say(`reservations: ${askers.length} asked, ${issued} codes issued, ${redeemed} redeemed in the chat`);
}

// ------------------------------------------------------------------------------------------- summary

/** The figures the demo reads from the referral campaign's report API. */
interface ReferralReportFigures {
  referrers: number;
  friends: number;
  states: { pending: number; confirmed: number; rejected: number };
  rejectedByReason: Record<string, number>;
  scans: Record<string, number>;
  rewards: { granted: number; failed: number };
}

export interface Summary {
  followers: { subscribed: number; byAccount: Record<string, number>; customers: number };
  messages: { pushed: number; answeredWithin5s: number; unanswered: number; p50Ms: number; p99Ms: number };
  /** Marketing and service messages sent or delivered by push plans, per customer tier. */
  pushesPerTier: Record<string, number> | undefined;
  /** The tiered push's funnel per variant, from its report API. */
  push:
    | {
        planId: string;
        status: string;
        audienceSize: number;
        quietHours: { start: number; end: number };
        rows: PushFunnelRow[];
      }
    | undefined;
  /** The referral campaign, from its report API, its codes and the referrers' timelines. */
  referral:
    | (ReferralReportFigures & {
        campaignId: string;
        codes: number;
        /** Reward records for referrals (one per confirmed referral at most, by a unique index). */
        referralRewards: number;
        /** `referral.points` events on the referrers' timelines (the points granted). */
        pointsEvents: number;
      })
    | undefined;
  funnel: { customers: number; boughtOver1Yuan: number; claimed: number; won: number; paid: number };
  envelopes:
    | {
        won: number;
        paid: number;
        inFlight: number;
        failed: number;
        wonFen: number;
        paidFen: number;
        inFlightFen: number;
        failedFen: number;
        budgetFen: number;
        budgetLeftFen: number;
      }
    | undefined;
  codes: { issued: number; redeemed: number } | undefined;
  riskDenials: Record<string, number>;
  /**
   * Our claims against WeChat Pay's bills: what we call paid, what the merchant's bills say succeeded, and
   * the merchant balance spent (succeeded + still locked for bills awaiting confirmation).
   */
  ledger:
    | { oursPaidFen: number; merchantSucceededFen: number; merchantSpentFen: number; merchantLockedFen: number }
    | undefined;
}

export interface PushFunnelRow {
  variant: 'A' | 'B' | 'total';
  targeted: number;
  passed: number;
  sent: number;
  delivered: number;
  failed: number;
  clicked: number;
  converted: number;
  skippedBy: Record<string, number>;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Everything read back from MongoDB and the sandbox (WeChat's and WeChat Pay's own records). */
export async function readSummary(world: DemoWorld, merchantStartFen: number): Promise<Summary> {
  const db = world.db.db!;
  const followers = await db
    .collection('crm_followers')
    .find({ subscribed: true }, { projection: { account: 1, profileId: 1 } })
    .toArray();
  const byAccount: Record<string, number> = {};
  for (const f of followers) byAccount[String(f.account)] = (byAccount[String(f.account)] ?? 0) + 1;
  const customers = new Set(followers.map((f) => String(f.profileId))).size;

  const log = world.stack.sandbox.wechat.pushLog();
  const times = log.flatMap((e) => (e.answeredMs === undefined ? [] : [e.answeredMs])).sort((a, b) => a - b);
  const messages = {
    pushed: log.length,
    answeredWithin5s: log.filter((e) => e.answeredMs !== undefined && e.answeredMs <= 5000 && e.reply !== 'invalid')
      .length,
    unanswered: log.filter((e) => e.answeredMs === undefined).length,
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
  };

  const pushesPerTier = await pushesByTier(world);

  const purchases = await db
    .collection('crm_timeline')
    .distinct('profileId', { type: 'purchase', 'payload.amountFen': { $gt: 100 } });
  let envelopes: Summary['envelopes'];
  let ledger: Summary['ledger'];
  const funnel = { customers, boughtOver1Yuan: purchases.length, claimed: 0, won: 0, paid: 0 };
  const riskDenials: Record<string, number> = {};
  if (world.campaignId) {
    const claims = await db
      .collection('red_envelope_claims')
      .find({ campaignId: world.campaignId }, { projection: { outcome: 1, amountFen: 1, payout: 1, openid: 1 } })
      .toArray();
    const decisions = await db
      .collection('red_envelope_risk_decisions')
      .find({ campaignId: world.campaignId })
      .toArray();
    const campaign = await db.collection('red_envelope_campaigns').findOne({ _id: world.campaignId as never });
    const won = claims.filter((c) => c.outcome === 'won');
    const stateOf = (c: (typeof claims)[number]) => (c.payout as { state?: string } | undefined)?.state ?? 'pending';
    const sum = (list: typeof claims) => list.reduce((s, c) => s + Number(c.amountFen), 0);
    const paid = won.filter((c) => stateOf(c) === 'success');
    const failed = won.filter((c) => stateOf(c) === 'failed');
    const inFlight = won.filter((c) => !['success', 'failed'].includes(stateOf(c)));
    const budgetFen = Number(campaign?.budgetFen ?? 0);
    envelopes = {
      won: won.length,
      paid: paid.length,
      inFlight: inFlight.length,
      failed: failed.length,
      wonFen: sum(won),
      paidFen: sum(paid),
      inFlightFen: sum(inFlight),
      failedFen: sum(failed),
      budgetFen,
      budgetLeftFen: budgetFen - sum(won),
    };
    funnel.claimed = claims.length + decisions.length;
    funnel.won = won.length;
    funnel.paid = paid.length;
    for (const d of decisions)
      for (const r of (d.rules as { rule: string }[] | undefined) ?? [])
        riskDenials[r.rule] = (riskDenials[r.rule] ?? 0) + 1;
    let merchantSucceededFen = 0;
    let merchantLockedFen = 0;
    for (const c of won) {
      const no = (c.payout as { outBillNo?: string } | undefined)?.outBillNo;
      const bill = no ? world.stack.sandbox.pay.bill(no) : undefined;
      if (bill?.state === 'SUCCESS') merchantSucceededFen += bill.amountFen;
      else if (bill?.fundsLocked) merchantLockedFen += bill.amountFen;
    }
    ledger = {
      oursPaidFen: sum(paid),
      merchantSucceededFen,
      merchantLockedFen,
      merchantSpentFen: merchantStartFen - world.stack.sandbox.pay.balance(),
    };
  }
  let codes: Summary['codes'];
  if (world.programId) {
    codes = {
      issued: await db.collection('reservation_codes').countDocuments({ programId: world.programId }),
      redeemed: await db
        .collection('reservation_outcomes')
        .countDocuments({ programId: world.programId, outcome: 'redeemed' }),
    };
  }
  return {
    followers: { subscribed: followers.length, byAccount, customers },
    messages,
    pushesPerTier,
    push: await pushSummary(world),
    referral: await referralSummary(world),
    funnel,
    envelopes,
    codes,
    riskDenials,
    ledger,
  };
}

/** Sends that went out (sent or delivered) per tier of the customer they went to. */
async function pushesByTier(world: DemoWorld): Promise<Record<string, number> | undefined> {
  const db = world.db.db!;
  const sends = await db
    .collection('push_sends')
    .find({ state: { $in: ['sent', 'delivered'] } }, { projection: { profileId: 1 } })
    .toArray();
  if (sends.length === 0) return undefined;
  const ids = [...new Set(sends.map((s) => String(s.profileId)))]
    .filter((id) => Types.ObjectId.isValid(id))
    .map((id) => new Types.ObjectId(id));
  const profiles = await db
    .collection('crm_profiles')
    .find({ _id: { $in: ids } }, { projection: { tier: 1 } })
    .toArray();
  const tierOf = new Map(profiles.map((p) => [String(p._id), String(p.tier ?? 'untiered')]));
  const perTier: Record<string, number> = {};
  for (const s of sends) {
    const tier = tierOf.get(String(s.profileId)) ?? 'untiered';
    perTier[tier] = (perTier[tier] ?? 0) + 1;
  }
  return perTier;
}

async function pushSummary(world: DemoWorld): Promise<Summary['push']> {
  if (!world.pushPlanId) return undefined;
  const marketer = world.staff.marketer!;
  const plan = await marketer.call<{ status: string; audienceSize: number | null }>(
    'GET',
    `/pushes/plans/${world.pushPlanId}`,
  );
  const report = await marketer.call<{ run: { rows: PushFunnelRow[] } | null }>(
    'GET',
    `/pushes/plans/${world.pushPlanId}/report`,
  );
  return {
    planId: world.pushPlanId,
    status: plan.status,
    audienceSize: plan.audienceSize ?? 0,
    quietHours: { start: world.stack.config.push.quietStartHour, end: world.stack.config.push.quietEndHour },
    rows: report.run?.rows ?? [],
  };
}

async function referralSummary(world: DemoWorld): Promise<Summary['referral']> {
  const campaignId = world.referralCampaignId;
  if (!campaignId) return undefined;
  const db = world.db.db!;
  const report = await world.staff.marketer!.call<ReferralReportFigures>(
    'GET',
    `/campaigns/referrals/${campaignId}/report`,
  );
  const codes = await db
    .collection('referral_codes')
    .find({ campaignId }, { projection: { referrerProfileId: 1 } })
    .toArray();
  const referrerProfiles = [...new Set(codes.map((c) => String(c.referrerProfileId)))]
    .filter((id) => Types.ObjectId.isValid(id))
    .map((id) => new Types.ObjectId(id));
  return {
    campaignId,
    codes: codes.length,
    referrers: report.referrers,
    friends: report.friends,
    states: report.states,
    rejectedByReason: report.rejectedByReason,
    scans: report.scans,
    rewards: { granted: report.rewards.granted, failed: report.rewards.failed },
    referralRewards: await db.collection('referral_rewards').countDocuments({ campaignId, key: /^referral:/ }),
    pointsEvents: await db
      .collection('crm_timeline')
      .countDocuments({ type: 'referral.points', profileId: { $in: referrerProfiles } }),
  };
}

export function ledgerAgrees(l: NonNullable<Summary['ledger']>): boolean {
  return (
    l.oursPaidFen === l.merchantSucceededFen && l.merchantSpentFen === l.merchantSucceededFen + l.merchantLockedFen
  );
}

function ledgerLine(l: NonNullable<Summary['ledger']>): string {
  return (
    `ours paid ${yuan(l.oursPaidFen)}, WeChat Pay succeeded ${yuan(l.merchantSucceededFen)}, ` +
    `awaiting confirmation ${yuan(l.merchantLockedFen)}, merchant balance spent ${yuan(l.merchantSpentFen)}: ` +
    (ledgerAgrees(l) ? 'agree' : 'DISAGREE')
  );
}

const counts = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';
const hh = (h: number) => `${String(h).padStart(2, '0')}:00`;

function pushLines(p: NonNullable<Summary['push']>): string[] {
  const row = (r: PushFunnelRow) =>
    `${r.variant === 'total' ? 'total' : `variant ${r.variant}`}: ${r.targeted} targeted → ${r.passed} passed the rules → ` +
    `${r.sent} sent → ${r.delivered} delivered → ${r.clicked} clicked (${r.converted} converted)`;
  const total = p.rows.find((r) => r.variant === 'total');
  return [
    `push plan      ${p.status}, audience ${p.audienceSize}; quiet hours ${hh(p.quietHours.start)}–${hh(p.quietHours.end)} Asia/Shanghai`,
    ...p.rows.filter((r) => r.variant !== 'total').map((r) => `push funnel    ${row(r)}`),
    ...(total ? [`push funnel    ${row(total)}; skipped: ${counts(total.skippedBy)}`] : []),
  ];
}

function referralLines(r: NonNullable<Summary['referral']>): string[] {
  return [
    `referral       ${r.codes} codes, ${r.friends} friends of ${r.referrers} referrers → ${r.states.confirmed} confirmed, ` +
      `${r.states.rejected} rejected (${counts(r.rejectedByReason)}), ${r.states.pending} pending; scans: ${counts(r.scans)}`,
    `rewards        ${r.rewards.granted} granted, ${r.rewards.failed} failed; ${r.referralRewards} referral rewards for ` +
      `${r.states.confirmed} confirmed referrals, ${r.pointsEvents} points grants on the referrers' timelines`,
  ];
}

const yuan = (fen: number) => `¥${(fen / 100).toFixed(2)}`;

export function formatSummary(s: Summary, skipped: string[]): string {
  const lines = [
    '─── summary (read back from MongoDB and the sandbox) ───',
    `followers      ${s.followers.subscribed} subscriptions (${Object.entries(s.followers.byAccount)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}) = ${s.followers.customers} customers after unionid merges`,
    `messages       ${s.messages.pushed} callbacks, ${s.messages.answeredWithin5s} answered within 5 s, ${s.messages.unanswered} unanswered; p50 ${s.messages.p50Ms} ms, p99 ${s.messages.p99Ms} ms`,
    s.pushesPerTier
      ? `pushes         sent per tier: ${Object.entries(s.pushesPerTier)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`
      : 'pushes         none',
  ];
  if (s.push) lines.push(...pushLines(s.push));
  lines.push(
    `funnel         ${s.funnel.customers} customers → ${s.funnel.boughtOver1Yuan} bought > ¥1 → ${s.funnel.claimed} claimed → ${s.funnel.won} won → ${s.funnel.paid} paid`,
  );
  if (s.envelopes) {
    const e = s.envelopes;
    lines.push(
      `envelopes      won ${e.won} (${yuan(e.wonFen)}), paid ${e.paid} (${yuan(e.paidFen)}), in flight ${e.inFlight} (${yuan(e.inFlightFen)}), failed ${e.failed} (${yuan(e.failedFen)}); budget ${yuan(e.budgetFen)}, left ${yuan(e.budgetLeftFen)}`,
    );
  }
  if (s.ledger) lines.push(`ledger         ${ledgerLine(s.ledger)}`);
  if (s.codes) lines.push(`codes          ${s.codes.issued} issued, ${s.codes.redeemed} redeemed`);
  if (s.referral) lines.push(...referralLines(s.referral));
  const denials = Object.entries(s.riskDenials);
  lines.push(`risk           ${denials.length ? denials.map(([k, v]) => `${k} ${v}`).join(', ') : 'no denials'}`);
  for (const note of skipped) lines.push(`skipped        ${note}`);
  return lines.join('\n');
}
