/**
 * The reach ledger through the sandbox: the ledger follows WeChat's customer-service windows exactly, so our
 * senders switch to a template (or wait) before WeChat would answer 45015/45047; marketing waits out quiet hours
 * in Asia/Shanghai while a payout notice goes through; one-time consents and monthly quotas are spent once.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { replies } from '../../src/gateway/index.js';
import {
  applyInbound,
  DEFAULT_HOLDOUT_POLICY,
  inGlobalControl,
  isReachRefused,
  type ReachRequest,
} from '../../src/reach/index.js';
import type { SubscribeMsgPopupEvent } from '../../src/platform/wechat/inbound.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const live = useLive(
  { WECHAT_CALLBACK_DEADLINE_MS: '400' },
  { services: (sandbox) => ({ reachClock: () => new Date(sandbox.clock.now()) }) },
);
const CUSTOM_SEND = '/cgi-bin/message/custom/send';
let n = 0;
const newOpenid = () => `oReach${String(++n).padStart(4, '0')}${randomUUID().slice(0, 8)}`;

/** A follower who followed more than a minute ago (the follow window has closed at WeChat too). */
async function settledFollower() {
  const openid = newOpenid();
  const given = await givenFollower(live(), openid);
  live().sandbox.clock.advance(61_000);
  return { openid, ...given };
}

/** A settled follower outside the global control group, so marketing may reach them. */
async function marketableFollower() {
  for (;;) {
    const f = await settledFollower();
    if (!inGlobalControl(DEFAULT_HOLDOUT_POLICY, f.profileId)) return f;
  }
}

const quotaErrors = () =>
  live()
    .sandbox.wechat.errors('default')
    .filter((e) => [45015, 45047, 45028].includes(e.errcode));

const csCalls = () => live().sandbox.wechat.calls('default')[CUSTOM_SEND] ?? 0;

describe('customer-service windows', () => {
  it('a follower who wrote once gets exactly the five sends the window allows, then templates, and WeChat answers no 45047', async () => {
    const { app, sandbox } = live();
    registerMessageTemplates(live());
    const { openid, profileId, follower } = await settledFollower();
    await follower.send('你好');
    const base: Omit<ReachRequest, 'channel'> = { account: 'default', openid, profileId, class: 'transactional' };
    await eventually(
      async () =>
        (await app.deps.reach.check({ ...base, channel: 'customer_service' })).verdict === 'allow' || undefined,
    );
    const before = quotaErrors().length;
    // Seven payout notices: the red-envelope notifier asks the ledger, customer-service first, then the template.
    for (let i = 0; i < 7; i++) {
      await app.deps.redEnvelopes.notifier.notify({
        claimId: `claim${n}x${i}`,
        kind: 'paid',
        profileId,
        account: 'default',
        openid,
        amountFen: 100 + i,
      });
    }
    const inbox = sandbox.wechat.inbox('default', openid);
    expect(inbox.filter((e) => e.channel === 'custom')).toHaveLength(5);
    expect(inbox.filter((e) => e.channel === 'template')).toHaveLength(2);
    expect(quotaErrors()).toHaveLength(before);
    const decision = await app.deps.reach.check({ ...base, channel: 'customer_service' });
    expect(decision).toMatchObject({ verdict: 'deny', reason: 'cs_quota_used', quota: { customerService: 0 } });
    expect(follower.snapshot().windows.message?.left).toBe(0);
  });

  it('a follower outside any window gets no customer-service attempt at all', async () => {
    const { app } = live();
    const { openid } = await settledFollower();
    const calls = csCalls();
    const err: unknown = await app.deps.customerService.send('default', openid, replies.text('late answer')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isReachRefused(err) && err.decision.reason).toBe('cs_window_closed');
    expect(csCalls()).toBe(calls);
  });

  it("the gateway's late reply spends one send of the window, as WeChat counts it", async () => {
    const { app } = live();
    const { openid, follower } = await settledFollower();
    const stop = app.deps.wechatHandlers.onText(async (m) => {
      if (m.openid !== openid) return undefined;
      await new Promise((r) => setTimeout(r, 800)); // misses the 400 ms deadline
      return replies.text('slow answer');
    });
    try {
      await follower.send('慢一点');
      await eventually(() => follower.inbox().find((e) => e.channel === 'custom'));
    } finally {
      stop();
    }
    expect(follower.snapshot().windows.message?.left).toBe(4);
    const decision = await app.deps.reach.check({
      account: 'default',
      openid,
      channel: 'customer_service',
      class: 'reply',
    });
    expect(decision.quota.customerService).toBe(4);
  });

  it('20 concurrent reserves of a fresh window allow exactly five', async () => {
    const { app } = live();
    const { openid, follower } = await settledFollower();
    await follower.send('hi');
    const req: ReachRequest = { account: 'default', openid, channel: 'customer_service', class: 'reply' };
    await eventually(async () => (await app.deps.reach.check(req)).verdict === 'allow' || undefined);
    const decisions = await Promise.all(Array.from({ length: 20 }, () => app.deps.reach.reserve(req)));
    expect(decisions.filter((d) => d.verdict === 'allow')).toHaveLength(5);
    expect(new Set(decisions.filter((d) => d.verdict !== 'allow').map((d) => d.reason))).toEqual(
      new Set(['cs_quota_used']),
    );
  });

  it('a retried reserve with the same key spends once; a release gives the send back', async () => {
    const { app } = live();
    const { openid, follower } = await settledFollower();
    await follower.send('hi');
    const req: ReachRequest = { account: 'default', openid, channel: 'customer_service', class: 'reply' };
    await eventually(async () => (await app.deps.reach.check(req)).verdict === 'allow' || undefined);
    const first = await app.deps.reach.reserve({ ...req, key: 'k-once' + openid });
    const again = await app.deps.reach.reserve({ ...req, key: 'k-once' + openid });
    expect(again.verdict).toBe('allow');
    expect((await app.deps.reach.check(req)).quota.customerService).toBe(4);
    await app.deps.reach.release({ ...req, key: 'k-once' + openid }, first);
    await app.deps.reach.release({ ...req, key: 'k-once' + openid }, first);
    expect((await app.deps.reach.check(req)).quota.customerService).toBe(5);
  });

  it('an unfollow closes every window and refuses templates', async () => {
    const { app } = live();
    const { openid, follower } = await settledFollower();
    await follower.send('bye');
    await follower.unsubscribe();
    const req = { account: 'default', openid, class: 'transactional' as const };
    await eventually(
      async () =>
        (await app.deps.reach.check({ ...req, channel: 'template' })).reason === 'not_subscribed' || undefined,
    );
    expect((await app.deps.reach.check({ ...req, channel: 'customer_service' })).verdict).toBe('deny');
  });
});

describe('quotas and consents', () => {
  it('a one-time subscription consent is used once', async () => {
    const { app } = live();
    const { openid } = await settledFollower();
    const popup: SubscribeMsgPopupEvent = {
      kind: 'event',
      event: 'subscribe_msg_popup_event',
      toUserName: 'gh_x',
      openid,
      createTime: Math.floor(live().sandbox.clock.now() / 1000),
      fields: {},
      items: [
        { templateId: 'TPL_ARRIVAL', status: 'accept', popupScene: '1' },
        { templateId: 'TPL_OTHER', status: 'reject', popupScene: '1' },
      ],
    };
    await applyInbound(app.deps.reach, { account: 'default', inbound: popup, requestId: 'r', receivedAt: new Date() });
    const req: ReachRequest = {
      account: 'default',
      openid,
      channel: 'subscription',
      class: 'transactional',
      templateId: 'TPL_ARRIVAL',
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => app.deps.reach.reserve(req)));
    expect(results.filter((d) => d.verdict === 'allow')).toHaveLength(1);
    expect((await app.deps.reach.check(req)).reason).toBe('no_subscription_consent');
    expect((await app.deps.reach.check({ ...req, templateId: 'TPL_OTHER' })).verdict).toBe('deny');
  });

  it('four broadcasts a month per follower, the fifth refused before WeChat filters it', async () => {
    const { app } = live();
    const { openid } = await settledFollower();
    const req: ReachRequest = { account: 'default', openid, channel: 'mass', class: 'transactional' };
    const verdicts = [];
    for (let i = 0; i < 5; i++) verdicts.push((await app.deps.reach.reserve(req)).verdict);
    expect(verdicts).toEqual(['allow', 'allow', 'allow', 'allow', 'deny']);
    expect((await app.deps.reach.check(req)).reason).toBe('mass_monthly_quota');
  });

  it('marketing caps count across channels by tier; transactional sends bypass them', async () => {
    const { app } = live();
    const { openid, profileId } = await marketableFollower();
    const at = new Date(Date.UTC(2026, 10, 24, 4)); // 12:00 Shanghai
    const m = { account: 'default', openid, profileId, tier: 'vip', class: 'marketing' as const, at };
    expect((await app.deps.reach.reserve({ ...m, channel: 'template' })).verdict).toBe('allow');
    expect(await app.deps.reach.reserve({ ...m, channel: 'mass' })).toMatchObject({
      verdict: 'deny',
      reason: 'cap_day',
    });
    expect((await app.deps.reach.reserve({ ...m, channel: 'template', class: 'transactional' })).verdict).toBe('allow');
  });
});

describe('global control group', () => {
  it('a profile in the control group gets no marketing, on any channel, but still its payout notices', async () => {
    const { app } = live();
    const { openid, follower } = await settledFollower();
    await follower.send('hi');
    // Any profile id will do for the ledger's decision; find one the hash puts in the control group.
    let profileId = '';
    for (let i = 0; !profileId; i++) if (inGlobalControl(DEFAULT_HOLDOUT_POLICY, `ctl${i}`)) profileId = `ctl${i}`;
    const at = new Date(Date.UTC(2026, 10, 24, 4)); // 12:00 Shanghai
    const base = { account: 'default', openid, profileId, at };
    await eventually(
      async () =>
        (await app.deps.reach.check({ ...base, channel: 'customer_service', class: 'reply' })).verdict === 'allow' ||
        undefined,
    );
    for (const channel of ['customer_service', 'template', 'mass'] as const)
      expect((await app.deps.reach.reserve({ ...base, channel, class: 'marketing' })).reason).toBe('holdout_control');
    expect((await app.deps.reach.reserve({ ...base, channel: 'template', class: 'transactional' })).verdict).toBe(
      'allow',
    );
  });
});

describe('quiet hours (Asia/Shanghai)', () => {
  it('a marketing push at 23:00 Shanghai is deferred to 08:00 and goes out then', async () => {
    const { app } = live();
    const { openid, profileId } = await marketableFollower();
    const at2300 = new Date(Date.UTC(2026, 10, 24, 15)); // 23:00 Shanghai
    const req: ReachRequest = { account: 'default', openid, profileId, channel: 'template', class: 'marketing' };
    const deferred = await app.deps.reach.reserve({ ...req, at: at2300 });
    expect(deferred).toMatchObject({ verdict: 'defer', reason: 'quiet_hours' });
    expect(deferred.verdict === 'defer' && deferred.until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    // Nothing was spent by the deferral; at 08:00 the send is allowed.
    expect((await app.deps.reach.reserve({ ...req, at: new Date('2026-11-25T00:00:00.000Z') })).verdict).toBe('allow');
    expect((await app.deps.reach.reserve({ ...req, at: new Date('2026-11-24T23:59:59.000Z') })).verdict).toBe('defer');
  });

  it('a payout notice goes through during quiet hours; a marketing notice waits', async () => {
    const { app, sandbox } = live();
    registerMessageTemplates(live());
    // Outside the global control group: a control-group profile gets no marketing at any hour.
    const { openid, profileId } = await marketableFollower();
    // Move WeChat's (and the ledger's) clock to the next 23:30 Shanghai.
    const now = sandbox.clock.now();
    const day = Math.floor((now + 8 * 3600_000) / 86_400_000) * 86_400_000 - 8 * 3600_000;
    let target = day + 23.5 * 3600_000;
    if (target <= now) target += 86_400_000;
    sandbox.clock.advance(target - now);
    const payout = await app.deps.notices.notify({
      profileId,
      kind: 'payout_status',
      vars: { amountYuan: '8.88', status: '已到账' },
      idempotencyKey: `payout${n}`,
    });
    expect(payout.sent).toBe(true);
    const promo = await app.deps.notices.notify({
      profileId,
      kind: 'campaign_notice',
      vars: { title: '双十二', body: '满减' },
      idempotencyKey: `promo${n}`,
    });
    expect(promo.sent === false && promo.reason).toBe('reach_quiet_hours');
    expect(sandbox.wechat.inbox('default', openid).filter((e) => e.channel === 'template')).toHaveLength(1);
  });
});
