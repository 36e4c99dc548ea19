/**
 * Scheduling: an event-triggered plan sends N minutes after the event, exactly once per person however
 * often the scanner and the sender run (also concurrently, as two workers would); every cron tick is its own
 * run with its own sends; the report compares a run with the one before it.
 */
import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createAudience } from '../../src/audiences/service.js';
import { cronRunId, runPlanJob } from '../../src/push/jobs.js';
import { PushOutcome, PushPlan, PushRun, PushSend, PushTrigger } from '../../src/push/model.js';
import { fireDueTriggers, scanTriggers } from '../../src/push/triggers.js';
import { bearer, givenStaff } from '../staff/support.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';

const live = useLive({
  PUSH_QUIET_START_HOUR: '0',
  PUSH_QUIET_END_HOUR: '0',
  PUSH_CAP_PER_DAY: '20',
  PUSH_CAP_PER_WEEK: '50',
});

const content = [{ kind: 'campaign_notice', vars: { title: '购买十分钟后', body: '感谢购买' } }];

async function startedPlan(audienceId: string, schedule: Record<string, unknown>) {
  const { app } = live();
  const staff = await givenStaff(app, ['marketing']);
  const created = await app.http
    .post('/admin/api/pushes/plans')
    .set(bearer(staff.accessToken))
    .send({ name: 'after purchase', audienceId, contents: content, schedule });
  expect(created.status).toBe(201);
  const started = await app.http
    .post(`/admin/api/pushes/plans/${created.body.id as string}/start`)
    .set(bearer(staff.accessToken));
  expect(started.body.status).toBe('running');
  return created.body.id as string;
}

describe('scheduled pushes', () => {
  it('fires an event-triggered plan after its wait, exactly once per person', async () => {
    const l = live();
    const { app, sandbox } = l;
    registerMessageTemplates(l);
    const openid = `oTrig${randomBytes(4).toString('hex')}00000`;
    const { profileId } = await givenFollower(l, openid);
    const audience = await createAudience(
      {},
      { name: 'followers', kind: 'condition', condition: { follows: 'default', subscribed: true } },
      'staff:t',
    );
    const planId = await startedPlan(audience._id.toString(), { kind: 'event', event: 'purchase', waitMinutes: 10 });
    const svc = app.deps.push;
    const inbox = () => sandbox.wechat.inbox('default', openid).filter((e) => e.text.includes('购买十分钟后'));

    const boughtAt = new Date();
    const purchase = (n: number, at: Date) =>
      app.deps.crm.timeline.record({
        profileId: new Types.ObjectId(profileId),
        type: 'purchase',
        at,
        source: 'ingest:shop',
        payload: { amountFen: 1000 },
        dedupKey: `order-${planId}-${n}`,
      });
    await purchase(1, boughtAt);

    expect(await scanTriggers(svc, boughtAt)).toBe(1);
    expect(await scanTriggers(svc, boughtAt)).toBe(0); // a rescan (the overlap) adds nothing
    expect(await fireDueTriggers(svc, new Date(boughtAt.getTime() + 9 * 60_000))).toBe(0); // not yet due
    expect(inbox()).toHaveLength(0);

    // Two workers fire at once after the wait: one message.
    const due = new Date(boughtAt.getTime() + 11 * 60_000);
    await Promise.all([fireDueTriggers(svc, due), fireDueTriggers(svc, due)]);
    expect(inbox()).toHaveLength(1);
    expect(await PushTrigger.findOne({ planId }).lean()).toMatchObject({ state: 'fired' });

    // A second purchase does not make the plan send again to the same person.
    await purchase(2, new Date(boughtAt.getTime() + 60_000));
    expect(await scanTriggers(svc, new Date(boughtAt.getTime() + 2 * 60_000))).toBe(0);
    expect(await fireDueTriggers(svc, new Date(boughtAt.getTime() + 30 * 60_000))).toBe(0);
    expect(inbox()).toHaveLength(1);
    expect(await PushSend.countDocuments({ planId })).toBe(1);
  }, 60_000);

  it('makes each cron tick its own run, and reports the previous run beside the latest', async () => {
    const l = live();
    const { app, sandbox } = l;
    registerMessageTemplates(l);
    const openid = `oCron${randomBytes(4).toString('hex')}00000`;
    const { profileId } = await givenFollower(l, openid);
    const audience = await createAudience({}, { name: 'one', kind: 'list', profileIds: [profileId] }, 'staff:t');
    const planId = await startedPlan(audience._id.toString(), { kind: 'cron', cron: '0 9 * * 1' });

    expect(cronRunId(new Date('2026-11-23T01:00:00Z'))).toBe('cron-202611230900'); // Monday 09:00 Shanghai
    const monday = cronRunId(new Date('2026-11-23T01:00:00Z'));
    const nextMonday = cronRunId(new Date('2026-11-30T01:00:00Z'));
    await runPlanJob(app.deps.push, { planId, runId: monday }, 'cron');
    await runPlanJob(app.deps.push, { planId, runId: monday }, 'cron'); // the same tick twice: one send
    await PushRun.updateOne({ planId, runId: monday }, { startedAt: new Date(Date.now() - 7 * 86_400_000) });
    await runPlanJob(app.deps.push, { planId, runId: nextMonday }, 'cron');
    expect(sandbox.wechat.inbox('default', openid).filter((e) => e.channel === 'template')).toHaveLength(2);
    expect(await PushSend.countDocuments({ planId })).toBe(2);

    const staff = await givenStaff(app, ['marketing']);
    const report = await app.http.get(`/admin/api/pushes/plans/${planId}/report`).set(bearer(staff.accessToken));
    expect(report.body).toMatchObject({
      run: { runId: nextMonday },
      previous: { runId: monday },
      runs: [{ runId: nextMonday }, { runId: monday }],
    });
    expect(report.body.vsPrevious.conversionRate).toMatchObject({ verdict: 'insufficient_sample' });
    expect(report.body.ab).toBeNull(); // no B variant
    const status = await app.http.get(`/admin/api/pushes/plans/${planId}`).set(bearer(staff.accessToken));
    expect(status.body.status).toBe('running'); // recurring plans stay running between ticks
  }, 60_000);

  it('compares variant B with A by a two-proportion test and checks the split', async () => {
    const { app } = live();
    const plan = await PushPlan.create({
      name: 'ab',
      account: 'default',
      audienceId: new Types.ObjectId().toHexString(),
      channel: 'template',
      contents: [
        { variant: 'A', kind: 'campaign_notice', vars: { title: 'A', body: 'a' } },
        { variant: 'B', kind: 'campaign_notice', vars: { title: 'B', body: 'b' } },
      ],
      splitB: 0.5,
      status: 'done',
      createdBy: 'staff:t',
    });
    await PushRun.create({ planId: plan._id, runId: 'once', trigger: 'now', startedAt: new Date() });
    const sends = Array.from({ length: 800 }, (_, i) => ({
      _id: new Types.ObjectId(),
      planId: plan._id,
      runId: 'once',
      profileId: new Types.ObjectId().toHexString(),
      account: 'default',
      variant: i % 2 === 0 ? 'A' : 'B',
      state: 'sent',
      attempts: 1,
      at: new Date(),
    }));
    await PushSend.insertMany(sends);
    // A: 20 clicks of 400; B: 60 clicks of 400.
    const clicked = [
      ...sends.filter((x) => x.variant === 'A').slice(0, 20),
      ...sends.filter((x) => x.variant === 'B').slice(0, 60),
    ];
    await PushOutcome.insertMany(
      clicked.map((x) => ({
        kind: 'click',
        key: x._id.toHexString(),
        sendId: x._id,
        planId: plan._id,
        runId: 'once',
        variant: x.variant,
        profileId: x.profileId,
        at: new Date(),
      })),
    );
    const staff = await givenStaff(app, ['auditor']);
    const report = await app.http
      .get(`/admin/api/pushes/plans/${plan._id.toString()}/report`)
      .set(bearer(staff.accessToken));
    expect(report.status).toBe(200);
    expect(report.body.ab.clickRate).toMatchObject({
      controlRate: 0.05,
      treatmentRate: 0.15,
      verdict: 'treatment_better',
    });
    expect(report.body.ab.clickRate.pValue).toBeLessThan(0.001);
    expect(report.body.ab.conversionRate.verdict).toBe('no_significant_difference');
    expect(report.body.ab.sampleRatio.mismatch).toBe(false);
  });
});
