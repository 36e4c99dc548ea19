/**
 * Referrals end to end: followers of the sandbox ask for their code in the chat, friends scan it, the
 * gateway's events attribute them, settlement (on the sandbox's clock) confirms or drops them and grants
 * rewards once, milestones fire once under concurrency, and QR codes renew before they expire.
 */
import { randomUUID } from 'node:crypto';
import { Types } from 'mongoose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Profile } from '../../src/crm/profiles/model.js';
import {
  approveCampaign,
  attributeSubscribe,
  campaignReport,
  codeFor,
  createCampaign,
  dayOf,
  rememberReferrerNetwork,
  renewDueCodes,
  settleDue,
  sceneOf,
  settleReferral,
  startCampaign,
  type CampaignInput,
  type ReferralDeps,
} from '../../src/campaigns/referral/index.js';
import {
  approveCampaign as approveRedEnvelopes,
  createCampaign as createRedEnvelopes,
  startCampaign as startRedEnvelopes,
} from '../../src/campaigns/redenvelope/index.js';
import { RedEnvelopeClaim } from '../../src/campaigns/redenvelope/model.js';
import { Referral, ReferralCode, ReferralReward, ReferralScan } from '../../src/campaigns/referral/model.js';
import { givenFollower, useLive } from '../support/live.js';
import { eventually, hold } from '../support/wait.js';

const live = useLive({
  REFERRAL_QR_EXPIRE_SECONDS: '7200',
  REFERRAL_QR_RENEW_BEFORE_SECONDS: '3600',
  REFERRAL_PERMANENT_QR_LIMIT: '2',
});
const DAY = 86_400_000;
let deps: ReferralDeps;

beforeAll(() => {
  deps = live().app.deps.referrals;
  // The domain follows the sandbox's clock, so windows close when the test advances it.
  deps.now = () => new Date(live().sandbox.clock.now());
});
beforeEach(() => {
  live().sandbox.clock.reset();
});

const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);

async function runningCampaign(overrides: Partial<CampaignInput> = {}) {
  const campaign = await createCampaign(
    {
      name: '老带新',
      account: 'default',
      startAt: new Date(Date.now() - 60_000),
      endAt: new Date(Date.now() + 365 * DAY),
      qualify: { action: 'phone_verified', withinDays: 7 },
      referrerReward: { kind: 'points', points: 100 },
      milestones: [{ friends: 3, reward: { kind: 'points', points: 1000 } }],
      capTotal: 20,
      capPerDay: 10,
      keyword: `邀请${uid().slice(0, 4)}`,
      ...overrides,
    },
    'marketer',
  );
  await approveCampaign(campaign._id, 'manager');
  return startCampaign(campaign._id);
}

/** A follower who asked for their code in the chat, and that code's ticket. */
async function givenReferrer(keyword: string) {
  const a = await givenFollower(live(), `oA_${uid()}`);
  const answer = await a.follower.send(keyword);
  expect(answer.inbox?.text).toContain('专属邀请二维码');
  const code = await ReferralCode.findOne({ referrerProfileId: a.profileId }).lean();
  return { ...a, ticket: code!.ticket };
}

const referralOf = (campaignId: string, friendOpenid: string) =>
  eventually(() =>
    Referral.findOne({ campaignId, friendOpenid })
      .lean()
      .then((r) => r ?? undefined),
  );
const scanOf = (openid: string, outcome: string) =>
  eventually(() =>
    ReferralScan.findOne({ openid, outcome })
      .lean()
      .then((r) => r ?? undefined),
  );

describe('referrals through the sandbox', () => {
  it('A refers B and C: B qualifies and A is rewarded once; C unfollows on day 2 and the credit is dropped', async () => {
    const campaign = await runningCampaign();
    const a = await givenReferrer(campaign.keyword);
    const b = live().sandbox.wechat.follower('default', `oB_${uid()}`);
    const c = live().sandbox.wechat.follower('default', `oC_${uid()}`);
    await b.scan(a.ticket);
    await c.scan(a.ticket);
    expect((await referralOf(campaign._id, b.openid)).state).toBe('pending');
    expect((await referralOf(campaign._id, c.openid)).state).toBe('pending');

    const bProfile = await eventually(() => live().app.deps.profileOf('default', b.openid));
    await live().app.deps.crm.profiles.recordVerification({
      profileId: new Types.ObjectId(bProfile),
      kind: 'phone',
      status: 'verified',
      method: 'sms',
      by: 'test',
    });

    live().sandbox.clock.advance(DAY + 3_600_000);
    await c.unsubscribe();
    // The unsubscribe reaches the referral through the gateway's event after WeChat got its answer: under a
    // loaded CI machine that has taken longer than the default 10 s once.
    await eventually(async () => (await Referral.findOne({ friendOpenid: c.openid }).lean())?.state === 'rejected', {
      timeoutMs: 30_000,
      message: "C's pending credit was not dropped after the unsubscribe",
    });
    expect((await Referral.findOne({ friendOpenid: c.openid }).lean())?.reason).toBe('unsubscribed');

    // Nothing is paid while the window is open.
    expect((await settleDue(deps)).confirmed).toBe(0);
    expect(await ReferralReward.countDocuments({ profileId: a.profileId })).toBe(0);

    live().sandbox.clock.advance(7 * DAY);
    await eventually(() =>
      live()
        .app.deps.crm.followers.state('default', c.openid)
        .then((s) => s?.subscribed === false),
    );
    const referralB = await referralOf(campaign._id, b.openid);
    await settleDue(deps);
    await settleDue(deps);
    await settleReferral(deps, referralB._id.toString());
    expect((await Referral.findById(referralB._id).lean())?.state).toBe('confirmed');
    const rewards = await ReferralReward.find({ campaignId: campaign._id, profileId: a.profileId }).lean();
    expect(rewards.map((r) => [r.key, r.state])).toEqual([[`referral:${referralB._id.toString()}`, 'granted']]);
    const points = await live().app.deps.crm.timeline.list({
      profileId: new Types.ObjectId(a.profileId),
      types: ['referral.points'],
    });
    expect(points.events).toHaveLength(1);

    // "我的邀请" answers with the real numbers and the next milestone.
    const progress = await a.follower.send('我的邀请');
    expect(progress.inbox?.text).toContain('已成功邀请 1 位，待确认 0 位，再成功邀请 2 位');

    // B scanning A's code again (now a follower) changes nothing; the code was renewed meanwhile.
    await renewDueCodes(deps);
    const renewed = await ReferralCode.findOne({ referrerProfileId: a.profileId }).lean();
    await b.scan(renewed!.ticket);
    await scanOf(b.openid, 'interest');
    expect(await Referral.countDocuments({ friendOpenid: b.openid })).toBe(1);
    expect((await Referral.findById(referralB._id).lean())?.state).toBe('confirmed');
  });

  it('refuses A scanning their own code, gives an existing follower no credit, and a returning follower is not new', async () => {
    const campaign = await runningCampaign();
    const a = await givenReferrer(campaign.keyword);
    await a.follower.scan(a.ticket);
    await scanOf(a.follower.openid, 'self');

    const d = await givenFollower(live(), `oD_${uid()}`);
    await d.follower.scan(a.ticket);
    await scanOf(d.follower.openid, 'interest');

    const e = await givenFollower(live(), `oE_${uid()}`);
    await e.follower.unsubscribe();
    await eventually(() =>
      live()
        .app.deps.crm.followers.state('default', e.follower.openid)
        .then((s) => s?.subscribed === false),
    );
    live().sandbox.clock.advance(5_000);
    await e.follower.scan(a.ticket);
    await scanOf(e.follower.openid, 'not_new');

    await hold(200);
    expect(await Referral.countDocuments({ campaignId: campaign._id })).toBe(0);
  });

  it('denies a ring of accounts joining from one IP once the per-IP rate is passed', async () => {
    const campaign = await runningCampaign({ ipPerHour: 3 });
    const a = await givenReferrer(campaign.keyword);
    const code = await ReferralCode.findOne({ referrerProfileId: a.profileId }).lean();
    const results = [];
    for (let i = 0; i < 5; i += 1)
      results.push(
        await attributeSubscribe(deps, {
          eventId: `ring-${uid()}`,
          account: 'default',
          openid: `oRing_${uid()}`,
          scene: code!.scene,
          at: deps.now(),
          network: { ip: '203.0.113.9' },
        }),
      );
    expect(results.map((r) => r.outcome)).toEqual(['credited', 'credited', 'credited', 'rejected', 'rejected']);
    expect(results[4]).toMatchObject({ reason: 'risk:velocity.ip' });
  });

  it('grants the 3-friend milestone exactly once under concurrent confirmations', async () => {
    const campaign = await runningCampaign({ qualify: { action: 'stay', withinDays: 3 } });
    const m = await givenReferrer(campaign.keyword);
    const friends = Array.from({ length: 5 }, () => live().sandbox.wechat.follower('default', `oF_${uid()}`));
    for (const f of friends) await f.scan(m.ticket);
    const referrals = await Promise.all(friends.map((f) => referralOf(campaign._id, f.openid)));
    await Promise.all(friends.map((f) => eventually(() => live().app.deps.profileOf('default', f.openid))));

    live().sandbox.clock.advance(3 * DAY + 60_000);
    await Promise.all([
      ...referrals.flatMap((r) => [1, 2, 3].map(() => settleReferral(deps, r._id.toString()))),
      settleDue(deps),
    ]);
    const rewards = await ReferralReward.find({ campaignId: campaign._id, profileId: m.profileId }).lean();
    expect(rewards.filter((r) => r.key === 'milestone:3')).toHaveLength(1);
    expect(rewards.filter((r) => r.key.startsWith('referral:'))).toHaveLength(5);
    expect(await Referral.countDocuments({ campaignId: campaign._id, state: 'confirmed' })).toBe(5);
  });

  it('renews a temporary code before it expires (sandbox clock); the renewed ticket still attributes', async () => {
    const campaign = await runningCampaign();
    const a = await givenReferrer(campaign.keyword);
    const before = await ReferralCode.findOne({ referrerProfileId: a.profileId }).lean();
    expect(before!.kind).toBe('temporary');
    expect(await renewDueCodes(deps)).toBe(0);

    live().sandbox.clock.advance(90 * 60_000);
    expect(await renewDueCodes(deps)).toBeGreaterThanOrEqual(1);
    const after = await ReferralCode.findOne({ referrerProfileId: a.profileId }).lean();
    expect(after!.ticket).not.toBe(before!.ticket);
    expect(after!.expiresAt!.getTime()).toBeGreaterThan(before!.expiresAt!.getTime());
    const view = await codeFor(deps, { campaignId: campaign._id, profileId: a.profileId, openid: a.follower.openid });
    expect(view.ticket).toBe(after!.ticket);

    // Past the old ticket's expiry, the old one is dead in WeChat and the renewed one works.
    live().sandbox.clock.advance(45 * 60_000);
    const friend = live().sandbox.wechat.follower('default', `oG_${uid()}`);
    expect(() => friend.scan(before!.ticket)).toThrow(/expired/);
    await friend.scan(after!.ticket);
    expect((await referralOf(campaign._id, friend.openid)).state).toBe('pending');
  });

  it('keeps permanent codes within the configured limit, falling back to temporary codes', async () => {
    const campaign = await runningCampaign({ codeKind: 'permanent' });
    const kinds = [];
    for (let i = 0; i < 3; i += 1) {
      const r = await givenFollower(live(), `oP_${uid()}`);
      kinds.push(
        (await codeFor(deps, { campaignId: campaign._id, profileId: r.profileId, openid: r.follower.openid })).kind,
      );
    }
    expect(kinds).toEqual(['permanent', 'permanent', 'temporary']);
    expect(await ReferralCode.countDocuments({ account: 'default', kind: 'permanent' })).toBe(2);
  });

  it('pays a money reward as a red-envelope claim through the red-envelope campaign, once', async () => {
    const envelopes = await createRedEnvelopes(
      {
        name: '推荐奖励红包',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 30 * DAY),
        budgetFen: 10_000,
        prize: { kind: 'fixed', amountFen: 500, count: 20 },
        perCustomerTotal: 10,
        perCustomerPerDay: 10,
        entries: ['api'],
      },
      'marketer',
    );
    await approveRedEnvelopes(envelopes._id, 'manager');
    await startRedEnvelopes(live().app.deps.redis, envelopes._id);
    const campaign = await runningCampaign({
      qualify: { action: 'stay', withinDays: 1 },
      referrerReward: { kind: 'redenvelope', campaignId: envelopes._id },
      milestones: [],
    });
    const a = await givenReferrer(campaign.keyword);
    const friend = live().sandbox.wechat.follower('default', `oH_${uid()}`);
    await friend.scan(a.ticket);
    await referralOf(campaign._id, friend.openid);
    await eventually(() => live().app.deps.profileOf('default', friend.openid));

    live().sandbox.clock.advance(DAY + 60_000);
    await Promise.all([settleDue(deps), settleDue(deps)]);
    const claims = await RedEnvelopeClaim.find({ campaignId: envelopes._id, profileId: a.profileId }).lean();
    expect(claims).toHaveLength(1);
    expect(claims[0]).toMatchObject({ outcome: 'won', amountFen: 500, entry: 'api' });
    const reward = await ReferralReward.findOne({ campaignId: campaign._id, profileId: a.profileId }).lean();
    expect(reward).toMatchObject({ state: 'granted', detail: `won:${claims[0]!._id.toString()}` });
  });
});

describe('the campaign report', () => {
  const crm = () => live().app.deps.crm;
  const ticketOf = async (campaignId: string, profileId: string) =>
    (await ReferralCode.findOne({ campaignId, referrerProfileId: profileId }).lean())!.ticket;
  /** A new WeChat user following through the ticket, their relation once attributed, and their CRM profile. */
  async function friendThrough(campaignId: string, ticket: string) {
    const friend = live().sandbox.wechat.follower('default', `oF_${uid()}`);
    await friend.scan(ticket);
    const referral = await referralOf(campaignId, friend.openid);
    const profileId = await eventually(() => live().app.deps.profileOf('default', friend.openid));
    return { friend, referral, profileId };
  }
  /** Milliseconds from `at` to the next 12:00 in Asia/Shanghai (UTC+8, no DST): days far from midnight. */
  const untilShanghaiNoon = (at: Date) => {
    const sinceMidnight = (at.getTime() + 8 * 3_600_000) % DAY;
    return (12 * 3_600_000 - sinceMidnight + DAY) % DAY || DAY;
  };

  it('counts conversion by depth: B, confirmed through A, brings C, D and E at depth 2', async () => {
    const campaign = await runningCampaign({ qualify: { action: 'stay', withinDays: 3 }, milestones: [] });
    const a = await givenReferrer(campaign.keyword);
    const b = await friendThrough(campaign._id, a.ticket);
    live().sandbox.clock.advance(3 * DAY + 60_000);
    expect(await settleReferral(deps, b.referral._id.toString())).toBe('confirmed');

    // B, now a confirmed friend, asks for a code in the chat: C unfollows inside the window, D stays.
    expect((await b.friend.send(campaign.keyword)).inbox?.text).toContain('专属邀请二维码');
    const c = await friendThrough(campaign._id, await ticketOf(campaign._id, b.profileId));
    const d = await friendThrough(campaign._id, await ticketOf(campaign._id, b.profileId));
    await c.friend.unsubscribe();
    await eventually(async () => (await Referral.findById(c.referral._id).lean())?.state === 'rejected');
    live().sandbox.clock.advance(3 * DAY + 60_000);
    expect(await settleReferral(deps, d.referral._id.toString())).toBe('confirmed');

    // Later still (codes renewed meanwhile), B brings E and A brings X: both pending.
    await renewDueCodes(deps);
    const e = await friendThrough(campaign._id, await ticketOf(campaign._id, b.profileId));
    const x = await friendThrough(campaign._id, await ticketOf(campaign._id, a.profileId));
    expect([b, c, d, e, x].map((f) => f.referral.depth)).toEqual([1, 2, 2, 2, 1]);

    const report = await campaignReport(deps, campaign._id);
    expect(report.depth).toEqual([
      { depth: 1, friends: 2, pending: 1, confirmed: 1, rejected: 0, conversion: 0.5 },
      { depth: 2, friends: 3, pending: 1, confirmed: 1, rejected: 1, conversion: 0.333 },
    ]);
    expect(report).toMatchObject({
      referrers: 2,
      friends: 5,
      states: { pending: 2, confirmed: 2, rejected: 1 },
      rejectedByReason: { unsubscribed: 1 },
      rewards: { granted: 2, failed: 0, byKind: { points: 2 } },
    });
  });

  it('gives the viral coefficient per Asia/Shanghai day: new friends ÷ referrers holding a code by that day', async () => {
    const campaign = await runningCampaign();
    live().sandbox.clock.advance(untilShanghaiNoon(deps.now()));
    const day1 = dayOf(deps.now());

    // Day 1: A is the only referrer; two friends join, a third from A's own IP is rejected and does not count.
    const a = await givenReferrer(campaign.keyword);
    await friendThrough(campaign._id, a.ticket);
    await friendThrough(campaign._id, a.ticket);
    await rememberReferrerNetwork(deps, a.profileId, { ip: '198.51.100.21' });
    const own = await attributeSubscribe(deps, {
      eventId: `own-${uid()}`,
      account: 'default',
      openid: `oR_${uid()}`,
      scene: sceneOf(campaign._id, a.profileId),
      at: deps.now(),
      network: { ip: '198.51.100.21' },
    });
    expect(own).toMatchObject({ outcome: 'rejected', reason: 'risk:self_dealing.ip' });

    // Day 2: B gets a code too; A brings one friend and B two.
    live().sandbox.clock.advance(DAY);
    const day2 = dayOf(deps.now());
    expect(day2 > day1).toBe(true);
    const b = await givenReferrer(campaign.keyword);
    await renewDueCodes(deps);
    await friendThrough(campaign._id, await ticketOf(campaign._id, a.profileId));
    await friendThrough(campaign._id, b.ticket);
    await friendThrough(campaign._id, b.ticket);

    const report = await campaignReport(deps, campaign._id);
    expect(report.viral).toEqual([
      { day: day1, friends: 2, referrers: 1, k: 2 },
      { day: day2, friends: 3, referrers: 2, k: 1.5 },
    ]);
    expect(report.states).toEqual({ pending: 5, confirmed: 0, rejected: 1 });
  });

  it('ranks the leaderboard by confirmed friends (then pending) and shows only masked real names', async () => {
    const campaign = await runningCampaign({ qualify: { action: 'stay', withinDays: 1 }, milestones: [] });
    const referrers = {
      王小明: await givenReferrer(campaign.keyword),
      张三: await givenReferrer(campaign.keyword),
      李四: await givenReferrer(campaign.keyword),
      欧阳娜娜: await givenReferrer(campaign.keyword),
    };
    // Confirmed after the one-day window: 王小明 two friends, 李四 and 张三 one each (李四's first).
    const first = [];
    for (const [name, n] of [
      ['王小明', 2],
      ['李四', 1],
      ['张三', 1],
    ] as const)
      for (let i = 0; i < n; i += 1) first.push(await friendThrough(campaign._id, referrers[name].ticket));
    live().sandbox.clock.advance(DAY + 60_000);
    for (const f of first) expect(await settleReferral(deps, f.referral._id.toString())).toBe('confirmed');
    // Then pending: 张三 two more, 欧阳娜娜 three (the most friends, none confirmed yet).
    await renewDueCodes(deps);
    for (const [name, n] of [
      ['张三', 2],
      ['欧阳娜娜', 3],
    ] as const)
      for (let i = 0; i < n; i += 1)
        await friendThrough(campaign._id, await ticketOf(campaign._id, referrers[name].profileId));

    // Staff record the referrers' real names in the CRM.
    for (const [name, r] of Object.entries(referrers))
      await crm().profiles.update({ profileId: new Types.ObjectId(r.profileId), patch: { name }, by: 't' });
    await eventually(async () => {
      const names = await Promise.all(Object.values(referrers).map((r) => deps.friends.nameOf(r.profileId)));
      return names.join() === Object.keys(referrers).join();
    });

    const report = await campaignReport(deps, campaign._id);
    expect(report.leaderboard).toEqual([
      { rank: 1, name: '王*明', confirmed: 2, pending: 0 },
      { rank: 2, name: '张*', confirmed: 1, pending: 2 },
      { rank: 3, name: '李*', confirmed: 1, pending: 0 },
      { rank: 4, name: '欧**娜', confirmed: 0, pending: 3 },
    ]);
    const shown = JSON.stringify(report);
    for (const name of Object.keys(referrers)) expect(shown).not.toContain(name);
  });
});

describe('who is a new friend, and who is the referrer in disguise', () => {
  const crm = () => live().app.deps.crm;
  const oid = (id: string) => new Types.ObjectId(id);

  it('gives no credit for a friend whose unionid the CRM knew before: another account, WeCom, or the referrer', async () => {
    const campaign = await runningCampaign();
    const a = await givenReferrer(campaign.keyword);
    // Known through another of our accounts (the CRM recorded that follow, with the unionid) …
    const viaAccount = { openid: `oK_${uid()}`, unionid: `uK_${uid()}` };
    await crm().followers.record({
      eventId: uid(),
      account: 'fund2',
      openid: `oK2_${uid()}`,
      unionid: viaAccount.unionid,
      kind: 'subscribe',
      at: new Date(),
    });
    // … or as a WeCom contact …
    const viaWecom = { openid: `oW_${uid()}`, unionid: `uW_${uid()}` };
    await crm().wecom.recordContact({
      eventId: uid(),
      corp: 'corp',
      externalUserId: `wm_${uid()}`,
      unionid: viaWecom.unionid,
      kind: 'add_external_contact',
      at: new Date(),
    });
    // … or the referrer's own unionid (one WeChat user behind both).
    const asReferrer = { openid: `oS_${uid()}`, unionid: `uS_${uid()}` };
    await crm().identities.resolve({
      identities: [
        crm().identities.of.openid('default', a.follower.openid),
        crm().identities.of.unionid(asReferrer.unionid),
      ],
      source: 'wechat:default',
      seed: { stage: 'follower' },
    });
    // A brand-new WeChat user with a unionid nobody knew is credited.
    const fresh = { openid: `oN_${uid()}`, unionid: `uN_${uid()}` };
    for (const f of [viaAccount, viaWecom, asReferrer, fresh]) live().sandbox.wechat.setUnionid([f.openid], f.unionid);

    live().sandbox.clock.advance(5_000); // WeChat's CreateTime has whole seconds
    for (const f of [viaAccount, viaWecom, asReferrer, fresh])
      await live().sandbox.wechat.follower('default', f.openid).scan(a.ticket);
    await scanOf(viaAccount.openid, 'not_new');
    await scanOf(viaWecom.openid, 'not_new');
    await scanOf(asReferrer.openid, 'self');
    expect((await referralOf(campaign._id, fresh.openid)).state).toBe('pending');
    await hold(200);
    expect(await Referral.countDocuments({ campaignId: campaign._id })).toBe(1);
  });

  it('drops at settlement a friend who turns out to share the referrer’s verified phone', async () => {
    const campaign = await runningCampaign({ qualify: { action: 'stay', withinDays: 1 }, milestones: [] });
    const a = await givenReferrer(campaign.keyword);
    const phone = `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    // The referrer's unionid is known (enrichment) and the referrer verified a phone.
    await crm().identities.resolve({
      identities: [
        crm().identities.of.openid('default', a.follower.openid),
        crm().identities.of.unionid(`uA_${uid()}`),
      ],
      source: 'wechat:default',
      seed: { stage: 'follower' },
    });
    await crm().profiles.update({
      profileId: oid(a.profileId),
      patch: { phone: { number: phone, verified: true } },
      by: 't',
    });

    // B (another WeChat user: another unionid) and C (no unionid known yet) follow through A's code, then both
    // verify A's phone during the window: B's claim conflicts (a review), C's profile is merged into A's.
    const b = live().sandbox.wechat.follower('default', `oB_${uid()}`);
    const c = live().sandbox.wechat.follower('default', `oC_${uid()}`);
    const honest = live().sandbox.wechat.follower('default', `oH_${uid()}`);
    for (const f of [b, c, honest]) await f.scan(a.ticket);
    const [rb, rc, rh] = await Promise.all([b, c, honest].map((f) => referralOf(campaign._id, f.openid)));
    expect([rb!.state, rc!.state, rh!.state]).toEqual(['pending', 'pending', 'pending']);
    // The identity is written a moment before its profile: wait for the profile itself, which is updated next.
    const profileOfFriend = (openid: string) =>
      eventually(async () => {
        const id = await live().app.deps.profileOf('default', openid);
        return id && (await Profile.exists({ _id: id })) ? id : undefined;
      });
    const bProfile = await profileOfFriend(b.openid);
    await crm().identities.resolve({
      identities: [crm().identities.of.openid('default', b.openid), crm().identities.of.unionid(`uB_${uid()}`)],
      source: 'wechat:default',
      seed: { stage: 'follower' },
    });
    await crm().profiles.update({
      profileId: oid(bProfile),
      patch: { phone: { number: phone, verified: true } },
      by: 't',
    });
    const cProfile = await profileOfFriend(c.openid);
    await crm().profiles.update({
      profileId: oid(cProfile),
      patch: { phone: { number: phone, verified: true } },
      by: 't',
    });
    await profileOfFriend(honest.openid);
    expect(await live().app.deps.profileOf('default', c.openid)).toBe(a.profileId);

    live().sandbox.clock.advance(DAY + 60_000);
    await settleDue(deps);
    const settled = async (id: Types.ObjectId) => Referral.findById(id).lean();
    expect(await settled(rb!._id)).toMatchObject({ state: 'rejected', reason: 'risk:self_dealing.phone' });
    expect(await settled(rc!._id)).toMatchObject({ state: 'rejected', reason: 'self' });
    expect(await settled(rh!._id)).toMatchObject({ state: 'confirmed' });
    const rewards = await ReferralReward.find({ campaignId: campaign._id, profileId: a.profileId }).lean();
    expect(rewards.map((r) => r.key)).toEqual([`referral:${rh!._id.toString()}`]);
  });

  it('rejects a ring: a friend who is up the chain that brought the referrer', async () => {
    const campaign = await runningCampaign();
    // Accounts the CRM never saw (as a farm's would be), each with a code: A brings B, B brings C.
    const member = (name: string) => ({ openid: `o${name}_${uid()}`, profileId: new Types.ObjectId().toHexString() });
    const [a, b, c, d] = ['A', 'B', 'C', 'D'].map(member) as [
      ReturnType<typeof member>,
      ReturnType<typeof member>,
      ReturnType<typeof member>,
      ReturnType<typeof member>,
    ];
    const codeOf = async (m: ReturnType<typeof member>) => {
      const scene = sceneOf(campaign._id, m.profileId);
      await ReferralCode.create({
        campaignId: campaign._id,
        account: 'default',
        referrerProfileId: m.profileId,
        referrerOpenid: m.openid,
        scene,
        kind: 'permanent',
        ticket: `t_${uid()}`,
        url: 'http://weixin.qq.com/q/x',
      });
      return scene;
    };
    const join = async (friend: ReturnType<typeof member>, scene: string) =>
      attributeSubscribe(deps, { eventId: uid(), account: 'default', openid: friend.openid, scene, at: deps.now() });
    expect((await join(b, await codeOf(a))).outcome).toBe('credited');
    expect((await join(c, await codeOf(b))).outcome).toBe('credited');
    const cScene = await codeOf(c);
    // A, two steps up C's chain, joining through C's code closes the ring; D, outside it, does not.
    expect(await join(a, cScene)).toMatchObject({ outcome: 'rejected', reason: 'ring' });
    expect(await join(d, cScene)).toMatchObject({ outcome: 'credited' });
    expect((await Referral.findOne({ campaignId: campaign._id, friendOpenid: a.openid }).lean())?.depth).toBe(3);
  });

  it('denies a friend arriving from the referrer’s own IP or device (when the entry knows them)', async () => {
    const campaign = await runningCampaign();
    const a = await givenReferrer(campaign.keyword);
    const code = await ReferralCode.findOne({ referrerProfileId: a.profileId }).lean();
    await rememberReferrerNetwork(deps, a.profileId, { ip: '198.51.100.7', device: 'dev-a' });
    const join = (network: { ip?: string; device?: string }) =>
      attributeSubscribe(deps, {
        eventId: uid(),
        account: 'default',
        openid: `oX_${uid()}`,
        scene: code!.scene,
        at: deps.now(),
        network,
      });
    expect(await join({ ip: '198.51.100.7' })).toMatchObject({ outcome: 'rejected', reason: 'risk:self_dealing.ip' });
    expect(await join({ ip: '198.51.100.8', device: 'dev-a' })).toMatchObject({
      outcome: 'rejected',
      reason: 'risk:self_dealing.device',
    });
    expect(await join({ ip: '198.51.100.9', device: 'dev-b' })).toMatchObject({ outcome: 'credited' });
  });
});

describe('the code as an image', () => {
  const images = (openid: string) =>
    live()
      .sandbox.wechat.inbox('default', openid)
      .filter((m) => m.channel === 'custom' && m.msgtype === 'image')
      .map((m) => String(m.content.media_id));
  const uploads = () => live().sandbox.wechat.calls('default')['/cgi-bin/media/upload'] ?? 0;

  it('follows the text with the QR image, uploaded once and re-sent from cache until WeChat would drop it', async () => {
    const campaign = await runningCampaign();
    const before = uploads();
    const a = await givenReferrer(campaign.keyword);
    const [first] = await eventually(() =>
      images(a.follower.openid).length === 1 ? images(a.follower.openid) : undefined,
    );
    expect(first).toMatch(/^SBXM_/);
    expect(uploads()).toBe(before + 1);

    await a.follower.send(campaign.keyword);
    await eventually(() => images(a.follower.openid).length === 2);
    expect(images(a.follower.openid)[1]).toBe(first);
    expect(uploads()).toBe(before + 1);

    // Three days on, WeChat has dropped the material (40007); the renewed code gets a fresh upload.
    live().sandbox.clock.advance(3 * DAY);
    await expect(
      live()
        .app.deps.wechatClients('default')
        .sendCustomMessage(a.follower.openid, {
          msgtype: 'image',
          image: { media_id: first! },
        }),
    ).rejects.toMatchObject({ errcode: 40007 });
    await renewDueCodes(deps);
    await a.follower.send(campaign.keyword);
    await eventually(() => images(a.follower.openid).length === 3);
    expect(images(a.follower.openid)[2]).not.toBe(first);
    expect(uploads()).toBe(before + 2);
  });

  it('refuses uploads WeChat would refuse', async () => {
    const client = live().app.deps.wechatClients('default');
    await expect(
      client.uploadTemporaryMedia('image', {
        bytes: Buffer.from('hello'),
        filename: 'a.txt',
        contentType: 'text/plain',
      }),
    ).rejects.toMatchObject({ errcode: 40005 });
    await expect(
      client.uploadTemporaryMedia('image', { bytes: Buffer.alloc(0), filename: 'a.png', contentType: 'image/png' }),
    ).rejects.toMatchObject({ errcode: 41005 });
    await expect(
      client.uploadTemporaryMedia('thumb', {
        bytes: Buffer.alloc(70 * 1024, 1),
        filename: 'a.jpg',
        contentType: 'image/jpeg',
      }),
    ).rejects.toMatchObject({ errcode: 40012 });
    const ok = await client.uploadTemporaryMedia('image', {
      bytes: Buffer.from('89504e470d0a1a0a', 'hex'),
      filename: 'a.png',
      contentType: 'image/png',
    });
    expect(ok.mediaId).toMatch(/^SBXM_/);
  });
});
