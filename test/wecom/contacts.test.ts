/**
 * The WeCom channel through the sandbox: channel codes and attribution, profiles joined by unionid,
 * welcomes once inside their window, loss alerts, tags both ways and the hand-over of a leaving member.
 */
import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { claimCode, createProgram } from '../../src/reservations/index.js';
import { WecomContact, WecomLedger, WecomRelation } from '../../src/wecom/model.js';
import { bearer, givenStaff } from '../staff/support.js';
import { eventually, hold } from '../support/wait.js';
import { givenProfileWithUnionid, useWecomLive } from './support.js';

const live = useWecomLive();
const unionid = () => `o${randomBytes(12).toString('hex')}`;

async function givenChannel(state: string, users: string[], welcome?: string) {
  const { app } = live();
  const admin = await givenStaff(app, ['admin']);
  const res = await app.http
    .post('/admin/api/wecom/channels')
    .set(bearer(admin.accessToken))
    .send({ name: `Channel ${state}`, state, kind: 'poster', users });
  expect(res.status).toBe(201);
  if (welcome)
    expect(
      (await app.http.put('/admin/api/wecom/welcomes').set(bearer(admin.accessToken)).send({ state, text: welcome }))
        .status,
    ).toBe(204);
  return { configId: res.body.configId as string, admin };
}

const relationOf = (externalUserId: string, userid: string) =>
  eventually(() =>
    WecomRelation.findOne({ externalUserId, userid })
      .lean()
      .then((r) => r ?? undefined),
  );

describe('a customer scans a channel code', () => {
  it('is attributed to the channel, joined to their profile by unionid and welcomed once', async () => {
    const { app, sandbox, corpid } = live();
    const { configId } = await givenChannel('poster-a', ['zhangsan', 'lisi'], 'Hello {name}, I am {staff}');
    const u = unionid();
    const profileId = await givenProfileWithUnionid(app, u);

    const add = await sandbox.wecom.addCustomer({ corpid, configId, unionid: u, name: 'Li Lei' });
    expect(add.deliveries.at(-1)?.status).toBe(200);
    const relation = await relationOf(add.externalUserId, add.userid);
    expect(relation).toMatchObject({ state: 'poster-a', status: 'active', profileId: profileId.toHexString() });
    const contact = await WecomContact.findOne({ externalUserId: add.externalUserId }).lean();
    expect(contact).toMatchObject({ linkedBy: 'unionid', reviewCandidate: false, profileId: profileId.toHexString() });

    const welcomes = await eventually(() => {
      const w = sandbox.wecom.welcomeMessages(corpid, add.externalUserId);
      return w.length > 0 ? w : undefined;
    });
    expect(welcomes).toHaveLength(1);
    expect(welcomes[0]!.text).toBe(`Hello Li Lei, I am ${add.userid}`);

    // The next customer through the same code goes to the other member.
    const second = await sandbox.wecom.addCustomer({ corpid, configId, unionid: unionid() });
    expect(second.userid).not.toBe(add.userid);
    await relationOf(second.externalUserId, second.userid);

    const report = await app.http
      .get('/admin/api/wecom/reports/channels')
      .set(bearer((await givenStaff(app, ['marketing'])).accessToken));
    expect(report.status).toBe(200);
    const row = (report.body.channels as { state: string; adds: number; byStaff: { userid: string }[] }[]).find(
      (c) => c.state === 'poster-a',
    );
    expect(row).toMatchObject({ adds: 2, deletions: 0, net: 2 });
    expect(row!.byStaff.map((s) => s.userid).sort()).toEqual(['lisi', 'zhangsan']);
  });

  it('a re-add inside the quiet period gets no second welcome; the deletion raises a loss alert', async () => {
    const { app, sandbox, corpid } = live();
    const { configId } = await givenChannel('branch-b', ['wangwu'], 'Welcome to branch B');
    const add = await sandbox.wecom.addCustomer({ corpid, configId, unionid: unionid() });
    const relation = await relationOf(add.externalUserId, 'wangwu');
    await eventually(() => sandbox.wecom.welcomeMessages(corpid, add.externalUserId).length === 1);

    await sandbox.wecom.customerDeletesMember({ corpid, externalUserId: add.externalUserId, userid: 'wangwu' });
    await eventually(async () => (await WecomRelation.findById(relation._id).lean())?.status === 'deleted_by_customer');
    const profileId = new Types.ObjectId(relation.profileId!);
    await eventually(async () => (await app.deps.crm.tags.of(profileId)).some((t) => t.name === '已删除顾问'));
    const analyst = await givenStaff(app, ['marketing']);
    const losses = await app.http.get('/admin/api/wecom/reports/losses').set(bearer(analyst.accessToken));
    expect(losses.body.losses).toEqual(
      expect.arrayContaining([expect.objectContaining({ externalUserId: add.externalUserId, state: 'branch-b' })]),
    );

    sandbox.clock.advance(2000);
    const again = await sandbox.wecom.addCustomer({ corpid, configId, externalUserId: add.externalUserId });
    await eventually(async () => (await WecomRelation.findById(relation._id).lean())?.status === 'active');
    await eventually(async () => (await WecomLedger.countDocuments({ externalUserId: add.externalUserId })) === 3);
    await app.deps.events.idle();
    await hold(300);
    expect(sandbox.wecom.welcomeMessages(corpid, again.externalUserId)).toHaveLength(1);
    expect(app.logs.some((l) => l.includes('re-add inside the quiet period'))).toBe(true);

    const report = await app.http.get('/admin/api/wecom/reports/channels').set(bearer(analyst.accessToken));
    const row = (report.body.channels as { state: string }[]).find((c) => c.state === 'branch-b');
    expect(row).toMatchObject({ adds: 2, deletions: 1, net: 1 });
  });

  it('a customer without a unionid gets a lead profile of their own and waits for review', async () => {
    const { app, sandbox, corpid } = live();
    const add = await sandbox.wecom.addCustomer({ corpid, userid: 'lisi' });
    const relation = await relationOf(add.externalUserId, 'lisi');
    expect(relation.profileId).toBeTruthy();
    const admin = await givenStaff(app, ['admin']);
    const res = await app.http.get('/admin/api/wecom/review-candidates').set(bearer(admin.accessToken));
    expect(res.body.contacts).toEqual(
      expect.arrayContaining([expect.objectContaining({ externalUserId: add.externalUserId })]),
    );
  });
});

describe('tags both ways', () => {
  it('a tag a member sets in WeCom reaches the profile', async () => {
    const { app, sandbox, corpid } = live();
    const add = await sandbox.wecom.addCustomer({ corpid, userid: 'zhangsan', unionid: unionid() });
    const relation = await relationOf(add.externalUserId, 'zhangsan');
    await sandbox.wecom.memberTagsCustomer({
      corpid,
      userid: 'zhangsan',
      externalUserId: add.externalUserId,
      groupName: '客户等级',
      tagName: '高净值',
    });
    const profileId = new Types.ObjectId(relation.profileId!);
    await eventually(async () => (await app.deps.crm.tags.of(profileId)).some((t) => t.name === '高净值'));
  });

  it('a CRM tag linked to a corp tag is marked on the customer in WeCom', async () => {
    const { app, sandbox, corpid } = live();
    const add = await sandbox.wecom.addCustomer({ corpid, userid: 'lisi', unionid: unionid() });
    const relation = await relationOf(add.externalUserId, 'lisi');
    const group = await app.deps.crm.tags.createGroup({ name: `auto-${randomBytes(3).toString('hex')}` });
    const tag = await app.deps.crm.tags.create({ groupId: group._id, name: 'VIP-rule' });
    const admin = await givenStaff(app, ['admin']);
    const linked = await app.http
      .post('/admin/api/wecom/tag-links')
      .set(bearer(admin.accessToken))
      .send({ crmTagId: String(tag._id) });
    expect(linked.status).toBe(200);
    // As an auto-tag rule would: the CRM tags the profile.
    await app.deps.crm.tags.add({ profileId: new Types.ObjectId(relation.profileId!), tagId: tag._id, source: 'rule' });
    const pushed = await app.http
      .post(`/admin/api/wecom/profiles/${relation.profileId}/push-tags`)
      .set(bearer(admin.accessToken));
    expect(pushed.body).toEqual({ marked: 1, unmarked: 0 });
    expect(sandbox.wecom.tagsOf(corpid, add.externalUserId, 'lisi')).toEqual([linked.body.wecomTagId]);
  });
});

describe('hand-over', () => {
  it("a leaving member's customers move to another owner and a scoped sales user then sees them", async () => {
    const { app, sandbox, corpid } = live();
    const leaving = await givenStaff(app, ['sales'], { own: true });
    const taking = await givenStaff(app, ['sales'], { own: true });
    const admin = await givenStaff(app, ['admin']);
    for (const [userid, staff] of [
      ['wangwu', leaving],
      ['zhangsan', taking],
    ] as const)
      expect(
        (
          await app.http
            .put('/admin/api/wecom/staff-links')
            .set(bearer(admin.accessToken))
            .send({ userid, staffId: staff.id })
        ).status,
      ).toBe(204);

    const add = await sandbox.wecom.addCustomer({ corpid, userid: 'wangwu', unionid: unionid() });
    const relation = await relationOf(add.externalUserId, 'wangwu');
    const profile = `/admin/api/crm/profiles/${relation.profileId}`;
    await eventually(async () => (await app.http.get(profile).set(bearer(leaving.accessToken))).status === 200);
    expect((await app.http.get(profile).set(bearer(taking.accessToken))).status).toBe(404);

    const res = await app.http
      .post('/admin/api/wecom/hand-over')
      .set(bearer(admin.accessToken))
      .send({ from: 'wangwu', to: 'zhangsan' });
    expect(res.status).toBe(200);
    expect(res.body.transferred).toBeGreaterThanOrEqual(1);
    expect(sandbox.wecom.followersOf(corpid, add.externalUserId)).toEqual(['zhangsan']);
    expect((await app.http.get(profile).set(bearer(taking.accessToken))).status).toBe(200);
    expect((await app.http.get(profile).set(bearer(leaving.accessToken))).status).toBe(404);
    expect(
      await WecomRelation.findOne({ externalUserId: add.externalUserId, userid: 'zhangsan' }).lean(),
    ).toMatchObject({ status: 'active' });

    // Bad input is refused; a sales user cannot hand over.
    expect(
      (await app.http.post('/admin/api/wecom/hand-over').set(bearer(admin.accessToken)).send({ from: 'x' })).status,
    ).toBe(400);
    expect(
      (
        await app.http
          .post('/admin/api/wecom/hand-over')
          .set(bearer(taking.accessToken))
          .send({ from: 'zhangsan', to: 'lisi' })
      ).status,
    ).toBe(403);
  });
});

describe('the staff sidebar', () => {
  /** A sales user (own customers only) linked to a WeCom member, one customer of theirs and one of another member. */
  async function givenMemberWithCustomers(userid: string, other: string, name: string) {
    const { app, sandbox, corpid } = live();
    const sales = await givenStaff(app, ['sales'], { own: true });
    const admin = await givenStaff(app, ['admin']);
    await app.http
      .put('/admin/api/wecom/staff-links')
      .set(bearer(admin.accessToken))
      .send({ userid, staffId: sales.id });
    const mine = await sandbox.wecom.addCustomer({ corpid, userid, unionid: unionid(), name });
    const relation = await relationOf(mine.externalUserId, userid);
    const others = await sandbox.wecom.addCustomer({ corpid, userid: other, unionid: unionid() });
    await relationOf(others.externalUserId, other);
    return { sales, mine, relation, others };
  }

  it("shows a member the card of their own customer, within their staff account's scope", async () => {
    const { app, sandbox, corpid } = live();
    const { sales, mine, relation, others } = await givenMemberWithCustomers('lisi', 'wangwu', 'Han Meimei');

    const code = sandbox.wecom.oauthCode(corpid, 'lisi');
    const session = await app.http.get(`/wecom/sidebar/session?code=${code}`);
    expect(session.status).toBe(200);
    const auth = { Authorization: `Bearer ${session.body.token as string}` };
    const card = await eventually(async () => {
      const res = await app.http.get(`/wecom/sidebar/customers/${mine.externalUserId}`).set(auth);
      return res.status === 200 ? res : undefined;
    });
    expect(card.body.profile).toMatchObject({ id: relation.profileId, ownerStaffId: sales.id });
    expect(card.body.relations).toEqual([expect.objectContaining({ userid: 'lisi', status: 'active' })]);

    // Another member's customer is outside this sales user's scope.
    expect((await app.http.get(`/wecom/sidebar/customers/${others.externalUserId}`).set(auth)).status).toBe(404);
    // A used code, a malformed code, no token and a made-up token are refused.
    expect((await app.http.get(`/wecom/sidebar/session?code=${code}`)).status).toBe(401);
    expect((await app.http.get('/wecom/sidebar/session?code=a$b')).status).toBe(400);
    expect((await app.http.get(`/wecom/sidebar/customers/${mine.externalUserId}`)).status).toBe(401);
    expect(
      (
        await app.http
          .get(`/wecom/sidebar/customers/${mine.externalUserId}`)
          .set({ Authorization: `Bearer ${'x'.repeat(32)}` })
      ).status,
    ).toBe(401);
  });

  it('serves the sidebar page through WeCom OAuth: my customers, a card within scope, nothing for others', async () => {
    const { app, corpid } = live();
    const { mine, relation, others } = await givenMemberWithCustomers('zhangsan', 'wangwu', '<b>李雷</b>');

    // No session: off to WeCom's OAuth page (the sandbox's stand-in), which comes back with a code.
    const start = await app.http.get('/wecom/sidebar/page');
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.location as string);
    expect(authorize.pathname).toBe('/wecom/connect/oauth2/authorize');
    expect(authorize.searchParams.get('appid')).toBe(corpid);
    authorize.searchParams.set('userid', 'zhangsan');
    const back = await fetch(authorize, { redirect: 'manual' });
    expect(back.status).toBe(302);
    const callback = new URL(back.headers.get('location')!);
    const signedIn = await app.http.get(`${callback.pathname}${callback.search}`);
    expect(signedIn.status).toBe(302);
    const cookie = (signedIn.headers['set-cookie'] as unknown as string[]).find((c) =>
      c.startsWith('scrm_wecom_sidebar='),
    );
    expect(cookie).toMatch(/httponly/i);
    const session = { Cookie: cookie!.split(';')[0]! };
    // The code and the state were single use.
    expect((await app.http.get(`${callback.pathname}${callback.search}`)).status).toBe(400);

    const list = await eventually(async () => {
      const res = await app.http.get('/wecom/sidebar/page').set(session);
      return res.text.includes(mine.externalUserId) ? res : undefined;
    });
    expect(list.status).toBe(200);
    expect(list.headers['cache-control']).toBe('no-store');
    expect(list.text).toContain('&lt;b&gt;李雷&lt;/b&gt;');
    expect(list.text).not.toContain('<b>李雷</b>');
    expect(list.text).not.toContain(others.externalUserId);

    // The customer holds a reservation code: the card shows it masked, never in full.
    const hour = 3_600_000;
    const program = await createProgram(
      app.deps.reservations,
      {
        name: '私募产品S',
        quota: 5,
        issueFrom: new Date(Date.now() - hour),
        issueUntil: new Date(Date.now() + hour),
        redeemFrom: new Date(Date.now() - hour),
        redeemUntil: new Date(Date.now() + 48 * hour),
        issueMode: 'push',
      },
      'staff-1',
    );
    const issued = await claimCode(app.deps.reservations, {
      programId: program._id,
      profileId: relation.profileId!,
      via: 'push',
    });
    const card = await eventually(async () => {
      const res = await app.http.get(`/wecom/sidebar/page?customer=${mine.externalUserId}`).set(session);
      return res.status === 200 ? res : undefined;
    });
    expect(card.text).toContain('客户资料');
    expect(card.text).toContain('zhangsan');
    expect(card.text).toContain('私募产品S');
    expect(card.text).toContain(issued.masked);
    expect(card.text).not.toContain(issued.code);
    expect((await app.http.get(`/wecom/sidebar/page?customer=${others.externalUserId}`).set(session)).status).toBe(404);
    expect((await app.http.get('/wecom/sidebar/page?customer=a$b').set(session)).status).toBe(400);
    // A made-up session goes back to sign-in.
    expect((await app.http.get('/wecom/sidebar/page').set({ Cookie: 'scrm_wecom_sidebar=forged' })).status).toBe(302);
  });
});
