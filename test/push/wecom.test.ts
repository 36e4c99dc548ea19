/**
 * A push plan on the WeCom channel, through the WeCom sandbox: customers with a WeCom owner get group-send
 * tasks through their owners, only while under the frequency cap they share with service-account pushes;
 * the others show in the funnel with their reason; a re-run (even after a crash between naming a wave and
 * mirroring it) creates no second task; the members' results reach the plan's report through the refresh job.
 * A WeCom call whose answer is lost mid-run leaves the customer queued, and the WeCom resume job sends it once.
 */
import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createAudience } from '../../src/audiences/service.js';
import { runPlan, takeFrequencyCap } from '../../src/push/delivery.js';
import { runPlanJob } from '../../src/push/jobs.js';
import { PushPlan, PushSend } from '../../src/push/model.js';
import { refreshStaffSends } from '../../src/push/wecom-channel.js';
import { resumeGroupSends } from '../../src/wecom/groupsend.js';
import { CALL_LEASE_MS } from '../../src/wecom/groupsend-tasks.js';
import { bearer, givenStaff } from '../staff/support.js';
import { givenProfileWithUnionid, givenWecomCustomer, useWecomLive } from '../wecom/support.js';

const live = useWecomLive({
  PUSH_CAP_PER_DAY: '1',
  PUSH_CAP_PER_WEEK: '3',
  PUSH_QUIET_START_HOUR: '0',
  PUSH_QUIET_END_HOUR: '0',
});

const givenCustomer = (userid: string) => givenWecomCustomer(live(), userid);

const totalOf = (body: unknown) =>
  (body as { run: { rows: { variant: string }[] } }).run.rows.find((r) => r.variant === 'total');

describe('a push plan on the WeCom channel', () => {
  it('refuses contents that do not fit the channel', async () => {
    const { app } = live();
    const marketing = await givenStaff(app, ['marketing']);
    const body = { name: 'wecom', audienceId: '0'.repeat(24), channel: 'wecom', contents: [{ text: '你好' }] };
    for (const bad of [
      { ...body, contents: [{ kind: 'campaign_notice', vars: { title: 't', body: 'b' } }] }, // no text
      { ...body, channel: 'template' }, // a template plan names its template
      { ...body, channel: 'template', corp: 'default', contents: [{ kind: 'campaign_notice' }] },
      { ...body, channel: 'sms' },
      { ...body, contents: [{ text: { $gt: '' } }] },
    ]) {
      const res = await app.http.post('/admin/api/pushes/plans').set(bearer(marketing.accessToken)).send(bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_input');
    }
  });

  it('creates tasks only for customers under their cap, never twice, and reports the members’ results', async () => {
    const { app, sandbox, corpid } = live();
    const a = await givenCustomer('zhangsan');
    const capped = await givenCustomer('zhangsan');
    const c = await givenCustomer('lisi');
    const optedOut = await givenCustomer('lisi');
    const stranger = (await givenProfileWithUnionid(app, `o${randomBytes(10).toString('hex')}`)).toHexString();
    await app.deps.crm.consent.optOut({
      subject: { profileId: new Types.ObjectId(optedOut.profileId) },
      channel: 'wecom',
      source: 'test',
    });
    // A service-account push already reached this customer today (cap: 1 a day).
    expect(await takeFrequencyCap(app.deps.redis, { perDay: 1, perWeek: 3 }, capped.profileId, new Date())).toBe(true);

    const audience = await createAudience(
      {},
      {
        name: 'wecom customers',
        kind: 'list',
        profileIds: [a.profileId, capped.profileId, c.profileId, optedOut.profileId, stranger],
      },
      'staff:t',
    );
    const marketing = await givenStaff(app, ['marketing']);
    const auth = bearer(marketing.accessToken);
    const created = await app.http
      .post('/admin/api/pushes/plans')
      .set(auth)
      .send({
        name: 'Autumn fund through advisers',
        audienceId: audience._id.toString(),
        channel: 'wecom',
        contents: [{ text: '秋季基金{{fund}}开放预约，欢迎咨询', vars: { fund: '稳健一号' } }],
      });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ channel: 'wecom', corp: null, contents: [{ text: expect.any(String) }] });
    const id = created.body.id as string;
    const started = await app.http.post(`/admin/api/pushes/plans/${id}/start`).set(auth);
    expect(started.body.status).toBe('running');

    await runPlanJob(app.deps.push, { planId: id, runId: 'once' });
    const ours = () => sandbox.wecom.msgTemplates(corpid).filter((t) => t.text?.includes('稳健一号'));
    expect(ours().map((t) => [t.sender, t.externalUserIds, t.text])).toEqual(
      expect.arrayContaining([
        ['zhangsan', [a.externalUserId], '秋季基金稳健一号开放预约，欢迎咨询'],
        ['lisi', [c.externalUserId], '秋季基金稳健一号开放预约，欢迎咨询'],
      ]),
    );
    expect(ours()).toHaveLength(2);
    // The group send spent the customers' shared cap: a service-account push today would now be refused.
    expect(await takeFrequencyCap(app.deps.redis, { perDay: 1, perWeek: 3 }, a.profileId, new Date())).toBe(false);

    const report = async () => {
      const res = await app.http.get(`/admin/api/pushes/plans/${id}/report`).set(auth);
      expect(res.status).toBe(200);
      return totalOf(res.body);
    };
    expect(await report()).toMatchObject({
      targeted: 5,
      passed: 2,
      queued: 2,
      sent: 0,
      skippedBy: { cap_day: 1, consent: 1, no_wecom_contact: 1 },
    });

    // Re-runs: a second worker, and one resuming after a crash that left a handed-over send `reserved`.
    await PushPlan.updateOne({ _id: id }, { $set: { status: 'running' } });
    await PushSend.updateOne({ planId: id, profileId: a.profileId }, { $set: { state: 'reserved' } });
    await Promise.all([runPlan(app.deps.push.delivery, id, 'once'), runPlan(app.deps.push.delivery, id, 'once')]);
    await refreshStaffSends(app.deps.push.delivery, new Date()); // hands over whatever a lost lock left behind
    expect(ours()).toHaveLength(2);
    // Handed over once, and WeCom (pulled by the refresh) says the member has not sent it yet.
    expect(await PushSend.findOne({ planId: id, profileId: a.profileId }).lean()).toMatchObject({ state: 'not_sent' });
    expect(await report()).toMatchObject({ passed: 2, queued: 0, notSent: 2, sent: 0 });
    expect(await takeFrequencyCap(app.deps.redis, { perDay: 2, perWeek: 3 }, c.profileId, new Date())).toBe(true); // 1 taken, not 2

    // The members confirm their tasks; one customer had deleted the adviser in the meantime.
    for (const t of ours())
      sandbox.wecom.memberSendsTemplate(corpid, t.msgid, t.sender === 'lisi' ? { notFriends: [c.externalUserId] } : {});
    expect(await refreshStaffSends(app.deps.push.delivery, new Date())).toBeGreaterThanOrEqual(1);
    expect(await report()).toMatchObject({
      targeted: 5,
      passed: 2,
      queued: 0,
      notSent: 0,
      sent: 1,
      delivered: 1,
      failed: 1,
      skippedBy: { cap_day: 1, consent: 1, no_wecom_contact: 1 },
    });
    expect(await PushSend.findOne({ planId: id, profileId: c.profileId }).lean()).toMatchObject({
      state: 'failed',
      reason: 'wecom_not_friend',
    });
  }, 90_000);

  it('a task whose WeCom answer was lost mid-run is resumed once and its result reaches the plan', async () => {
    const { app, sandbox, corpid } = live();
    const a = await givenCustomer('wangwu');
    const fund = `稳健${randomBytes(3).toString('hex')}`;
    const audience = await createAudience(
      {},
      { name: 'one wecom customer', kind: 'list', profileIds: [a.profileId] },
      'staff:t',
    );
    const auth = bearer((await givenStaff(app, ['marketing'])).accessToken);
    const created = await app.http
      .post('/admin/api/pushes/plans')
      .set(auth)
      .send({
        name: 'Lost answer',
        audienceId: audience._id.toString(),
        channel: 'wecom',
        contents: [{ text: '{{fund}}开放预约', vars: { fund } }],
      });
    const id = created.body.id as string;
    await app.http.post(`/admin/api/pushes/plans/${id}/start`).set(auth);
    const ours = () => sandbox.wecom.msgTemplates(corpid).filter((t) => t.text?.includes(fund));

    const path = '/cgi-bin/externalcontact/add_msg_template';
    const fault = sandbox.faults.add({ platform: 'wecom', path, reset: true, times: 1 });
    try {
      await runPlanJob(app.deps.push, { planId: id, runId: 'once' });
    } finally {
      sandbox.faults.remove(fault);
    }
    expect(ours()).toHaveLength(0);
    // Handed over, not lost: the customer waits in the funnel while the task's outcome is unknown.
    expect(await PushSend.findOne({ planId: id, profileId: a.profileId }).lean()).toMatchObject({ state: 'queued' });

    const wecom = app.deps.wecomDomain;
    const corp = wecom.config.defaultCorp;
    await resumeGroupSends(wecom, corp); // within the lease: nobody calls again
    await refreshStaffSends(app.deps.push.delivery, new Date());
    expect(ours()).toHaveLength(0);
    const later = { ...wecom, now: () => new Date(Date.now() + CALL_LEASE_MS + 1000) };
    await resumeGroupSends(later, corp); // WeCom holds no such task: called once
    await resumeGroupSends(later, corp);
    await refreshStaffSends(app.deps.push.delivery, new Date());
    expect(ours().map((t) => [t.sender, t.externalUserIds])).toEqual([['wangwu', [a.externalUserId]]]);

    sandbox.wecom.memberSendsTemplate(corpid, ours()[0]!.msgid);
    await refreshStaffSends(app.deps.push.delivery, new Date());
    expect(await PushSend.findOne({ planId: id, profileId: a.profileId }).lean()).toMatchObject({ state: 'delivered' });
    expect(ours()).toHaveLength(1);
  }, 90_000);
});
