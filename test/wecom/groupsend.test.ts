/**
 * Reach through staff: a group send to profiles creates WeCom group-send tasks only for customers under
 * their frequency cap (shared with service-account pushes), per owning member, and reports the results.
 * A worker killed between a task row and `add_msg_template` (or right after WeCom accepted the call) leaves
 * a task that a re-run or the resume job finishes: no customer unsent, no task created twice.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { takeFrequencyCap } from '../../src/push/delivery.js';
import type { WecomDeps } from '../../src/wecom/deps.js';
import { createGroupSend, findGroupSend, refreshGroupSend, resumeGroupSends } from '../../src/wecom/groupsend.js';
import { WecomGroupSendTask } from '../../src/wecom/groupsend-model.js';
import { CALL_LEASE_MS } from '../../src/wecom/groupsend-tasks.js';
import { bearer, givenStaff } from '../staff/support.js';
import { givenProfileWithUnionid, givenWecomCustomer, useWecomLive } from './support.js';

const live = useWecomLive();

const givenCustomer = (userid: string) => givenWecomCustomer(live(), userid);

describe('group sends through staff', () => {
  it('creates tasks only for customers under their cap and reports the results', async () => {
    const { app, sandbox, corpid } = live();
    const capped = await givenCustomer('zhangsan');
    const b = await givenCustomer('zhangsan');
    const c = await givenCustomer('lisi');
    const stranger = (await givenProfileWithUnionid(app, `o${randomBytes(10).toString('hex')}`)).toHexString();
    // A service-account push already reached this customer today.
    expect(await takeFrequencyCap(app.deps.redis, { perDay: 1, perWeek: 3 }, capped.profileId, new Date())).toBe(true);

    const marketing = await givenStaff(app, ['marketing']);
    const body = {
      key: 'autumn-1',
      name: 'Autumn fund',
      profileIds: [capped.profileId, b.profileId, c.profileId, stranger],
      text: 'New autumn fund, ask me',
      caps: { perDay: 1, perWeek: 3 },
    };
    const res = await app.http.post('/admin/api/wecom/group-sends').set(bearer(marketing.accessToken)).send(body);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tasks: 2, queued: 2, capped: 1, no_contact: 1 });
    const templates = sandbox.wecom.msgTemplates(corpid);
    expect(templates.map((t) => [t.sender, t.externalUserIds]).sort()).toEqual([
      ['lisi', [c.externalUserId]],
      ['zhangsan', [b.externalUserId]],
    ]);
    // The group send used the customers' shared cap: a service-account push today would be refused.
    expect(await takeFrequencyCap(app.deps.redis, { perDay: 1, perWeek: 3 }, b.profileId, new Date())).toBe(false);

    // A retried request creates nothing more.
    const again = await app.http.post('/admin/api/wecom/group-sends').set(bearer(marketing.accessToken)).send(body);
    expect(again.body.sendId).toBe(res.body.sendId);
    expect(sandbox.wecom.msgTemplates(corpid)).toHaveLength(2);

    for (const t of templates)
      sandbox.wecom.memberSendsTemplate(corpid, t.msgid, t.sender === 'lisi' ? { notFriends: [c.externalUserId] } : {});
    const refreshed = await app.http
      .post(`/admin/api/wecom/group-sends/${res.body.sendId}/refresh`)
      .set(bearer(marketing.accessToken));
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toMatchObject({ sent: 1, not_friend: 1, queued: 0, capped: 1, no_contact: 1 });
    const report = await app.http
      .get(`/admin/api/wecom/group-sends/${res.body.sendId}`)
      .set(bearer((await givenStaff(app, ['auditor'])).accessToken));
    expect(report.body).toMatchObject({ sent: 1, not_friend: 1 });
  });

  it('refuses bad input and callers without push rights', async () => {
    const { app } = live();
    const marketing = await givenStaff(app, ['marketing']);
    const sales = await givenStaff(app, ['sales']);
    const post = (token: string, body: unknown) =>
      app.http
        .post('/admin/api/wecom/group-sends')
        .set(bearer(token))
        .send(body as object);
    expect((await post(marketing.accessToken, { key: 'k', name: 'n', profileIds: [], text: 'x' })).status).toBe(400);
    expect((await post(marketing.accessToken, { key: 'k', name: 'n', profileIds: ['0'.repeat(24)] })).status).toBe(400);
    expect(
      (await post(marketing.accessToken, { key: 'k', name: 'n', profileIds: [{ $gt: '' }], text: 'x' })).status,
    ).toBe(400);
    expect(
      (await post(sales.accessToken, { key: 'k', name: 'n', profileIds: ['0'.repeat(24)], text: 'x' })).status,
    ).toBe(403);
    expect(
      (await app.http.get('/admin/api/wecom/group-sends/not-a-uuid').set(bearer(marketing.accessToken))).status,
    ).toBe(400);
  });
});

/** The same deps, seen from a worker that runs after a claim's lease has passed. */
const afterLease = (deps: WecomDeps): WecomDeps => ({
  ...deps,
  now: () => new Date(Date.now() + CALL_LEASE_MS + 1000),
});

function givenSend(profileIds: string[]) {
  const tag = randomBytes(4).toString('hex');
  const text = `Crash-safe fund news ${tag}`;
  const input = { key: `crash-${tag}`, name: 'crash', profileIds, text, caps: { perDay: 5, perWeek: 10 } };
  const { sandbox, corpid, app } = live();
  const ours = () =>
    sandbox.wecom
      .msgTemplates(corpid)
      .filter((t) => t.text === text)
      .map((t) => ({ msgid: t.msgid, sender: t.sender, ids: t.externalUserIds }));
  const deps = app.deps.wecomDomain;
  return { input, ours, deps, corp: deps.config.defaultCorp };
}

const killed = () => {
  throw new Error('worker killed');
};

describe('group sends survive a crash', () => {
  it('a crash between the task row and add_msg_template: the task is sent once, after its lease', async () => {
    const a = await givenCustomer('zhangsan');
    const b = await givenCustomer('lisi');
    const { input, ours, deps, corp } = givenSend([a.profileId, b.profileId]);

    await expect(createGroupSend(deps, corp, input, 'staff:t', { hooks: { beforeCall: killed } })).rejects.toThrow(
      'worker killed',
    );
    expect(ours()).toEqual([]);
    // The rows are written and sealed; WeCom was never called.
    const sendId = (await findGroupSend(corp, input.key))!;
    expect(await WecomGroupSendTask.countDocuments({ sendId, state: 'pending' })).toBe(2);

    // A re-run at once: the first task's claim is fresh (its call may still be in flight), so only the other goes.
    const again = await createGroupSend(deps, corp, input, 'staff:t');
    expect(again).toMatchObject({ sendId, queued: 2, tasks: 1, pendingTasks: 1, reviewTasks: 0 });
    expect(ours()).toHaveLength(1);

    // Past the lease, the resume job asks WeCom: no such task, so it calls — once.
    expect(await resumeGroupSends(afterLease(deps), corp)).toBeGreaterThanOrEqual(1);
    expect(
      ours()
        .map((t) => [t.sender, t.ids])
        .sort(),
    ).toEqual([
      ['lisi', [b.externalUserId]],
      ['zhangsan', [a.externalUserId]],
    ]);
    await resumeGroupSends(afterLease(deps), corp);
    const last = await createGroupSend(afterLease(deps), corp, input, 'staff:t');
    expect(ours()).toHaveLength(2);
    expect(last).toMatchObject({ sendId: again.sendId, queued: 2, tasks: 2, pendingTasks: 0 });
    // Three runs took each customer's cap once.
    expect(await takeFrequencyCap(deps.redis, { perDay: 2, perWeek: 10 }, a.profileId, new Date())).toBe(true);
    expect(await takeFrequencyCap(deps.redis, { perDay: 2, perWeek: 10 }, a.profileId, new Date())).toBe(false);
  });

  it('a crash right after WeCom accepted the task: reconciliation stores its msgid and nothing is sent twice', async () => {
    const { sandbox, corpid } = live();
    const a = await givenCustomer('wangwu');
    const b = await givenCustomer('wangwu');
    const { input, ours, deps, corp } = givenSend([a.profileId, b.profileId]);

    await expect(createGroupSend(deps, corp, input, 'staff:t', { hooks: { afterCall: killed } })).rejects.toThrow(
      'worker killed',
    );
    expect(ours()).toHaveLength(1);
    const again = await createGroupSend(deps, corp, input, 'staff:t');
    expect(again).toMatchObject({ tasks: 0, pendingTasks: 1 });
    expect(ours()).toHaveLength(1);

    await resumeGroupSends(afterLease(deps), corp);
    expect(ours()).toHaveLength(1);
    const task = await WecomGroupSendTask.findOne({ sendId: again.sendId }).lean();
    expect(task).toMatchObject({ state: 'created', msgid: ours()[0]!.msgid, attempt: 0 });
    expect(await createGroupSend(afterLease(deps), corp, input, 'staff:t')).toMatchObject({
      tasks: 1,
      pendingTasks: 0,
    });
    expect(ours()).toHaveLength(1);

    // The reconciled task is the real one: the member's confirmation reaches the funnel.
    sandbox.wecom.memberSendsTemplate(corpid, ours()[0]!.msgid);
    expect(await refreshGroupSend(deps, corp, again.sendId)).toMatchObject({ sent: 2, queued: 0 });
  });

  it('a later batch under the same key reaches the new customers of a member who already has a task', async () => {
    const a = await givenCustomer('zhangsan');
    const b = await givenCustomer('zhangsan');
    const { input, ours, deps, corp } = givenSend([a.profileId]);

    const first = await createGroupSend(deps, corp, input, 'staff:t');
    expect(first).toMatchObject({ tasks: 1, queued: 1 });
    const second = await createGroupSend(deps, corp, { ...input, profileIds: [a.profileId, b.profileId] }, 'staff:t');
    expect(second).toMatchObject({ sendId: first.sendId, tasks: 2, queued: 2, pendingTasks: 0 });
    expect(ours().map((t) => [t.sender, t.ids])).toEqual([
      ['zhangsan', [a.externalUserId]],
      ['zhangsan', [b.externalUserId]],
    ]);
    // A third call with nobody new creates nothing.
    expect(await createGroupSend(deps, corp, input, 'staff:t')).toMatchObject({ tasks: 2 });
    expect(ours()).toHaveLength(2);
  });

  it('a WeCom refusal is retried, a lost answer is reconciled, a final refusal fails the targets', async () => {
    const { sandbox } = live();
    const path = '/cgi-bin/externalcontact/add_msg_template';
    try {
      // System busy: WeCom created nothing; the next pass calls again.
      const busy = givenSend([(await givenCustomer('lisi')).profileId]);
      sandbox.faults.add({ platform: 'wecom', path, errcode: -1, times: 1 });
      const refused = await createGroupSend(busy.deps, busy.corp, busy.input, 'staff:t');
      expect(refused).toMatchObject({ tasks: 0, pendingTasks: 1, queued: 1 });
      expect(await WecomGroupSendTask.findOne({ sendId: refused.sendId }).lean()).toMatchObject({
        state: 'pending',
        attempt: 1,
      });
      await resumeGroupSends(busy.deps, busy.corp);
      expect(busy.ours()).toHaveLength(1);

      // The connection drops: the outcome is unknown until the lease passes and WeCom is asked.
      const lost = givenSend([(await givenCustomer('lisi')).profileId]);
      sandbox.faults.add({ platform: 'wecom', path, reset: true, times: 1 });
      expect(await createGroupSend(lost.deps, lost.corp, lost.input, 'staff:t')).toMatchObject({
        tasks: 0,
        pendingTasks: 1,
      });
      await resumeGroupSends(lost.deps, lost.corp);
      expect(lost.ours()).toHaveLength(0); // still within the lease: nobody calls
      await resumeGroupSends(afterLease(lost.deps), lost.corp);
      expect(lost.ours()).toHaveLength(1);
      await resumeGroupSends(afterLease(lost.deps), lost.corp);
      expect(lost.ours()).toHaveLength(1);

      // A final refusal: the task fails, and so do its customers in the funnel.
      const bad = givenSend([(await givenCustomer('lisi')).profileId]);
      sandbox.faults.add({ platform: 'wecom', path, errcode: 41063, times: 1 });
      expect(await createGroupSend(bad.deps, bad.corp, bad.input, 'staff:t')).toMatchObject({
        tasks: 0,
        pendingTasks: 0,
        failed: 1,
        queued: 0,
      });
      await resumeGroupSends(afterLease(bad.deps), bad.corp);
      expect(bad.ours()).toHaveLength(0);
    } finally {
      sandbox.faults.clear('wecom');
    }
  });
});
