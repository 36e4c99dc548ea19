/**
 * A tiered push through the sandbox: VIPs get the VIP content and others theirs; opt-out, blacklist and the
 * frequency cap each stop a send and show in the funnel; a run interrupted after its call resumes without a
 * second copy; two passes at once split a run; a 45009 storm slows the push without losing or duplicating a
 * message.
 */
import { Types } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAudience, membersOf } from '../../src/audiences/service.js';
import { funnel, inQuietHours, onTemplateReceipt, runPlan, variantOf, type PushDeps } from '../../src/push/delivery.js';
import { PushPlan, PushSend } from '../../src/push/model.js';
import { createClientTemplateSender } from '../../src/push/notices.js';
import { deleteByPrefix } from '../../src/infra/redis.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';

const live = useLive({ WECHAT_API_BREAKER_COOLDOWN_MS: '300' });
let deps: PushDeps;
const people: Record<string, { openid: string; profileId: string }> = {};

async function follower(name: string, tier: string) {
  const openid = `oPush${name.padEnd(11, '0')}`;
  const { profileId } = await givenFollower(live(), openid, tier);
  people[name] = { openid, profileId };
}

const inboxOf = (name: string) =>
  live()
    .sandbox.wechat.inbox('default', people[name]!.openid)
    .filter((e) => e.channel === 'template');

beforeAll(async () => {
  const { app } = live();
  registerMessageTemplates(live());
  await follower('vip', 'vip');
  await follower('gold', 'gold');
  await follower('std', 'standard');
  await follower('optout', 'vip');
  await follower('black', 'standard');
  await app.deps.crm.consent.optOut({
    subject: { profileId: new Types.ObjectId(people.optout!.profileId) },
    channel: 'wechat',
    source: 'keyword:TD',
  });
  await app.deps.risk.addToList({
    list: 'black',
    kind: 'profile',
    value: people.black!.profileId,
    reason: 'complaints',
    addedBy: 'staff:t',
  });
  deps = {
    storage: app.deps.push.delivery.storage,
    redis: app.deps.redis,
    logger: app.deps.logger,
    sender: createClientTemplateSender((account) => app.deps.wechatClients(account)),
    templates: app.deps.templates,
    policy: {
      capPerDay: 1,
      capPerWeek: 3,
      quietStartHour: 0,
      quietEndHour: 0, // no quiet hours in this test; quiet hours have their own case
      unfollowCooldownHours: 24,
      ratePerSecond: 50,
    },
    members: (audienceId) => membersOf({}, audienceId),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
  };
});

async function plan(name: string, audienceId: string, kindTitle: string) {
  return PushPlan.create({
    name,
    account: 'default',
    audienceId,
    channel: 'template',
    contents: [
      {
        tiers: ['vip'],
        variant: 'A',
        kind: 'campaign_notice',
        vars: { title: `${kindTitle}VIP专享`, body: '高端产品开放预约' },
      },
      { variant: 'A', kind: 'campaign_notice', vars: { title: `${kindTitle}新品上线`, body: '欢迎了解' } },
    ],
    splitB: 0,
    status: 'running',
    createdBy: 'staff:t',
  });
}

describe('a tiered push', () => {
  it('sends each tier its content, stops opt-outs, blacklisted and capped customers, and never sends twice', async () => {
    const audience = await createAudience(
      {},
      { name: 'followers', kind: 'condition', condition: { follows: 'default', subscribed: true } },
      'staff:t',
    );
    const first = await plan('tiered', audience._id.toString(), '');
    const summary = await runPlan(deps, first._id.toString(), 'run-1');
    expect(summary).toMatchObject({ targeted: 5, sent: 3, skipped: 2, failed: 0 });
    expect(
      inboxOf('vip')
        .map((e) => e.text)
        .join(),
    ).toContain('VIP专享');
    expect(
      inboxOf('gold')
        .map((e) => e.text)
        .join(),
    ).toContain('新品上线');
    expect(
      inboxOf('std')
        .map((e) => e.text)
        .join(),
    ).toContain('新品上线');
    expect(inboxOf('optout')).toHaveLength(0);
    expect(inboxOf('black')).toHaveLength(0);

    // Running the same run again (a second worker, a retried job) sends nothing new.
    await runPlan(deps, first._id.toString(), 'run-1');
    expect(inboxOf('vip')).toHaveLength(1);
    const [row] = await funnel(first._id.toString(), 'run-1');
    expect(row).toMatchObject({ targeted: 5, passed: 3, sent: 3, skippedBy: { consent: 1, blacklist: 1 } });

    // A second push the same day hits the daily cap of 1.
    const second = await plan('same day', audience._id.toString(), '再次');
    await runPlan(deps, second._id.toString(), 'run-1');
    const [capped] = await funnel(second._id.toString(), 'run-1');
    expect(capped?.skippedBy).toMatchObject({ cap_day: 3, consent: 1, blacklist: 1 });
    expect(inboxOf('vip')).toHaveLength(1);
  }, 60_000);

  it('resumes an interrupted run without a second copy, and rides out a 45009 storm', async () => {
    const { sandbox } = live();
    await deleteByPrefix(deps.redis, `${deps.redis.options.keyPrefix ?? ''}push:cap:`); // a new day
    const audience = await createAudience(
      {},
      { name: 'vip only', kind: 'list', profileIds: [people.vip!.profileId] },
      'staff:t',
    );
    const interrupted = await plan('interrupted', audience._id.toString(), '恢复');
    await runPlan(deps, interrupted._id.toString(), 'run-1');
    expect(inboxOf('vip').filter((e) => e.text.includes('恢复'))).toHaveLength(1);
    // As if the worker died after WeChat accepted the message but before it wrote the record: its claim and
    // its intent page remain, the record does not.
    await PushSend.deleteOne({ planId: interrupted._id, profileId: people.vip!.profileId });
    const resumed = await runPlan(deps, interrupted._id.toString(), 'run-1');
    expect(resumed.resumed).toBe(1);
    expect(inboxOf('vip').filter((e) => e.text.includes('恢复'))).toHaveLength(1); // same client_msg_id: dropped

    const stormy = await plan('storm', audience._id.toString(), '风暴');
    await deleteByPrefix(deps.redis, `${deps.redis.options.keyPrefix ?? ''}push:cap:`); // a new day
    sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/message/template/send', errcode: 45009, times: 5 });
    // The storm trips the client's breaker: the run defers, and a later pass (the scheduler's) finishes it.
    let passes = 0;
    for (;;) {
      passes += 1;
      const summary = await runPlan(deps, stormy._id.toString(), 'run-1');
      if (!summary.deferred || passes > 10) break;
      await new Promise((r) => setTimeout(r, 400));
    }
    const sends = await PushSend.find({ planId: stormy._id }).lean();
    // Sent, or already delivered when the sandbox's TEMPLATESENDJOBFINISH receipt came back.
    expect(sends.map((x) => x.state)).toEqual([expect.stringMatching(/^(sent|delivered)$/)]);
    expect(inboxOf('vip').filter((e) => e.text.includes('风暴'))).toHaveLength(1);
  }, 60_000);

  it('shares a run between two passes at once, and takes over claims whose pass is gone', async () => {
    await deleteByPrefix(deps.redis, `${deps.redis.options.keyPrefix ?? ''}push:cap:`); // a new day
    const three = [people.vip!, people.gold!, people.std!];
    const audience = await createAudience(
      {},
      { name: 'three', kind: 'list', profileIds: three.map((p) => p.profileId) },
      'staff:t',
    );
    const ofText = (text: string) => (p: { openid: string }) =>
      live()
        .sandbox.wechat.inbox('default', p.openid)
        .filter((e) => e.channel === 'template' && e.text.includes(text));

    // Two workers on the same run at once: the claims split it; whoever waits finds the others' records.
    const both = await plan('twice at once', audience._id.toString(), '并发');
    const [a, b] = await Promise.all([
      runPlan(deps, both._id.toString(), 'run-1'),
      runPlan(deps, both._id.toString(), 'run-1'),
    ]);
    expect(a.sent + b.sent).toBe(3);
    expect(a.deferred || b.deferred).toBe(false);
    for (const p of three) expect(ofText('并发')(p)).toHaveLength(1);
    expect(await PushSend.countDocuments({ planId: both._id })).toBe(3);
    // Redis forgets every claim: the records, read first, still keep a third pass from sending again.
    await deleteByPrefix(deps.redis, `${deps.redis.options.keyPrefix ?? ''}push:claim:`);
    expect(await runPlan(deps, both._id.toString(), 'run-1')).toMatchObject({ sent: 0, skipped: 3 });
    for (const p of three) expect(ofText('并发')(p)).toHaveLength(1);

    // A claim left by a pass that died (no heartbeat) is taken over at once; one held by a live pass is
    // waited for until its heartbeat ends. Neither was written on an intent page: both are fresh sends.
    await deleteByPrefix(deps.redis, `${deps.redis.options.keyPrefix ?? ''}push:cap:`);
    const orphaned = await plan('orphaned claims', audience._id.toString(), '接管');
    const claimOf = (p: { profileId: string }) => `push:claim:${orphaned._id.toString()}:run-1:${p.profileId}`;
    await deps.redis.set(claimOf(people.vip!), 'dead-pass', 'EX', 3600);
    await deps.redis.set(claimOf(people.gold!), 'live-pass', 'EX', 3600);
    await deps.redis.set('push:alive:live-pass', '1', 'PX', 1500);
    const started = Date.now();
    const summary = await runPlan(deps, orphaned._id.toString(), 'run-1');
    expect(summary).toMatchObject({ sent: 3, resumed: 0, deferred: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // it waited for the live pass's heartbeat
    for (const p of three) expect(ofText('接管')(p)).toHaveLength(1);
  }, 60_000);

  it('applies a delivery receipt that arrives before the worker stored the message id, once', async () => {
    await deleteByPrefix(deps.redis, `${deps.redis.options.keyPrefix ?? ''}push:cap:`); // a new day
    const audience = await createAudience(
      {},
      { name: 'gold and std', kind: 'list', profileIds: [people.gold!.profileId, people.std!.profileId] },
      'staff:t',
    );
    // WeChat's receipt wins the race: it is handled after WeChat accepted the message but before the send
    // record says 'sent' with its msgId (and again, re-delivered, afterwards; the sandbox's own receipt for
    // the same message comes later still and does not change the first one's verdict).
    const racing: PushDeps = {
      ...deps,
      sender: {
        async send(input) {
          const accepted = await deps.sender.send(input);
          const status = input.openid === people.gold!.openid ? 'success' : 'failed:user block';
          expect(await onTemplateReceipt(deps.redis, accepted.msgId, status)).toBe(false);
          setTimeout(() => void onTemplateReceipt(deps.redis, accepted.msgId, status), 50);
          return accepted;
        },
      },
    };
    const early = await plan('early receipts', audience._id.toString(), '回执');
    expect(await runPlan(racing, early._id.toString(), 'run-1')).toMatchObject({ sent: 2 });
    await new Promise((r) => setTimeout(r, 300));
    const sends = await PushSend.find({ planId: early._id }).lean();
    const byProfile = new Map(sends.map((x) => [x.profileId, x]));
    expect(byProfile.get(people.gold!.profileId)).toMatchObject({ state: 'delivered' });
    expect(byProfile.get(people.std!.profileId)).toMatchObject({
      state: 'failed',
      reason: 'receipt_failed:user block',
    });
    const [row] = await funnel(early._id.toString(), 'run-1');
    expect(row).toMatchObject({ delivered: 1, failed: 1 });
  }, 60_000);

  it('splits A/B the same way every time', () => {
    const ids = Array.from({ length: 2000 }, () => new Types.ObjectId().toHexString());
    const first = ids.map((id) => variantOf('plan-1', id, 0.3));
    expect(ids.map((id) => variantOf('plan-1', id, 0.3))).toEqual(first);
    const share = first.filter((v) => v === 'B').length / ids.length;
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
  });

  it('keeps marketing out of quiet hours (Asia/Shanghai, across midnight) and defers the run', async () => {
    const policy = { ...deps.policy, quietStartHour: 22, quietEndHour: 8 };
    expect(inQuietHours(policy, new Date('2026-11-23T15:30:00Z'))).toBe(true); // 23:30 in Shanghai
    expect(inQuietHours(policy, new Date('2026-11-23T23:59:00Z'))).toBe(true); // 07:59
    expect(inQuietHours(policy, new Date('2026-11-24T00:00:00Z'))).toBe(false); // 08:00
    expect(inQuietHours(policy, new Date('2026-11-23T04:00:00Z'))).toBe(false); // 12:00
    const audience = await createAudience(
      {},
      { name: 'night', kind: 'list', profileIds: [people.std!.profileId] },
      'staff:t',
    );
    const night = await plan('night', audience._id.toString(), '夜间');
    const summary = await runPlan(
      { ...deps, policy, now: () => new Date('2026-11-23T15:30:00Z') },
      night._id.toString(),
      'run-1',
    );
    expect(summary.deferred).toBe(true);
    expect(await PushSend.countDocuments({ planId: night._id })).toBe(0);
  });
});
