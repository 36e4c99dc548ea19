/**
 * A push plan on the customer-service channel, through the WeChat sandbox: only followers inside their
 * 48-hour window (per the reach ledger) get the message; a closed window, a non-follower and the shared
 * frequency cap each stop a send and show in the funnel; a re-run sends nothing twice and a send cut off by
 * a crash is never repeated.
 */
import { Types } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAudience, membersOf } from '../../src/audiences/service.js';
import { funnel, runPlan, takeFrequencyCap, type PushDeps } from '../../src/push/delivery.js';
import { PushPlan, PushSend } from '../../src/push/model.js';
import { createReachHistory, createReachLedger, DEFAULT_REACH_POLICY } from '../../src/reach/index.js';
import { givenFollower, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const live = useLive();
let deps: PushDeps;

beforeAll(() => {
  const { app } = live();
  // The app's own ledger state (windows opened by the gateway), read by a ledger without quiet hours.
  const ledger = createReachLedger({
    redis: app.deps.redis,
    logger: app.deps.logger,
    policy: { ...DEFAULT_REACH_POLICY, quietStartHour: 0, quietEndHour: 0, capPerDay: 20, capPerWeek: 50 },
    history: createReachHistory(app.deps.logger),
  });
  deps = {
    storage: app.deps.push.delivery.storage,
    redis: app.deps.redis,
    logger: app.deps.logger,
    sender: { send: () => Promise.reject(new Error('no template sends in this test')) },
    templates: app.deps.templates,
    policy: {
      capPerDay: 1,
      capPerWeek: 3,
      quietStartHour: 0,
      quietEndHour: 0,
      unfollowCooldownHours: 24,
      ratePerSecond: 50,
    },
    members: (audienceId) => membersOf({}, audienceId),
    customerService: {
      ledger,
      send: ({ account, openid, text }) =>
        app.deps.wechatClients(account).sendCustomMessage(openid, { msgtype: 'text', text: { content: text } }),
    },
    // Two minutes on: the one-minute windows a follow opens have closed, a message's 48 hours have not.
    now: () => new Date(Date.now() + 2 * 60_000),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
  };
});

describe('a push plan on the customer-service channel', () => {
  it('reaches only followers inside their window, once, and counts the others with the reason', async () => {
    const l = live();
    const { app, sandbox } = l;
    const open = await givenFollower(l, 'oCsPushOpen000000000');
    const capped = await givenFollower(l, 'oCsPushCapped0000000');
    const closed = await givenFollower(l, 'oCsPushClosed0000000');
    const stranger = (
      await app.deps.crm.identities.resolve({
        identities: [app.deps.crm.identities.of.unionid('oUnionCsPushStranger')],
        source: 'test',
        seed: { stage: 'lead' },
      })
    ).profileId.toHexString();
    // Writing to the account opens the 48-hour window (the gateway feeds the ledger).
    for (const f of [open, capped]) await f.follower.send('你好');
    await eventually(async () => {
      const state = await app.deps.reach.state('default', 'oCsPushCapped0000000');
      return state.msg_until ? true : undefined;
    });
    expect(await takeFrequencyCap(app.deps.redis, { perDay: 1, perWeek: 3 }, capped.profileId, new Date())).toBe(true);

    const audience = await createAudience(
      {},
      {
        name: 'cs',
        kind: 'list',
        profileIds: [open.profileId, capped.profileId, closed.profileId, stranger],
      },
      'staff:t',
    );
    const plan = await PushPlan.create({
      name: 'window push',
      account: 'default',
      audienceId: audience._id.toString(),
      channel: 'customer_service',
      contents: [{ variant: 'A', text: '{{name}}：新品今晚截止预约', vars: { name: '理财小助手' } }],
      splitB: 0,
      status: 'running',
      createdBy: 'staff:t',
    });
    const planId = plan._id.toString();
    const inbox = (openid: string) =>
      sandbox.wechat.inbox('default', openid).filter((e) => JSON.stringify(e.content).includes('新品今晚截止'));

    const summary = await runPlan(deps, planId, 'run-1');
    expect(summary).toMatchObject({ targeted: 4, sent: 1, skipped: 3, failed: 0 });
    expect(inbox('oCsPushOpen000000000')).toHaveLength(1);
    expect(JSON.stringify(inbox('oCsPushOpen000000000')[0]!.content)).toContain('理财小助手：新品今晚截止预约');
    expect(inbox('oCsPushCapped0000000')).toHaveLength(0);
    expect(inbox('oCsPushClosed0000000')).toHaveLength(0);
    const [row] = await funnel(planId, 'run-1');
    expect(row).toMatchObject({
      targeted: 4,
      passed: 1,
      sent: 1,
      skippedBy: { cap_day: 1, reach_cs_window_closed: 1, not_follower: 1 },
    });

    // A second worker sends nothing new; a send a crash left `reserved` is closed, not repeated.
    await runPlan(deps, planId, 'run-1');
    await PushSend.updateOne({ planId: plan._id, profileId: open.profileId }, { $set: { state: 'reserved' } });
    await runPlan(deps, planId, 'run-1');
    expect(inbox('oCsPushOpen000000000')).toHaveLength(1);
    expect(
      await PushSend.findOne({ planId: plan._id, profileId: new Types.ObjectId(open.profileId).toHexString() }).lean(),
    ).toMatchObject({ state: 'failed', reason: 'interrupted' });
  }, 90_000);
});
