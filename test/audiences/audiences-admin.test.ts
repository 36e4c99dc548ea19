/**
 * Audiences through the admin API: only marketing may size and save them, bad conditions are refused
 * before they reach MongoDB, a saved audience answers its size now and a masked preview, and saving it is
 * audited.
 */
import mongoose, { Types } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from '../staff/support.js';

const t = useTestApp();
const db = () => mongoose.connection.db!;
const vip = new Types.ObjectId();
const regular = new Types.ObjectId();
const gone = new Types.ObjectId();
const account = `aud${Date.now().toString(36)}`;

beforeAll(async () => {
  // Rows shaped as the CRM writes them (crm_* collections).
  const profile = (id: Types.ObjectId, tier: string) => ({
    _id: id,
    tier,
    stage: 'follower',
    source: `wechat:${account}`,
    attributes: {},
    name: '王小明',
    phone: { enc: 'x', hash: 'h', masked: '139****0000', verified: true },
    createdAt: new Date(),
  });
  await db()
    .collection('crm_profiles')
    .insertMany([profile(vip, 'vip'), profile(regular, 'regular'), profile(gone, 'vip')]);
  const follower = (id: Types.ObjectId, subscribed: boolean) => ({
    account,
    openid: `o_${id.toString()}`,
    profileId: id,
    subscribed,
    firstSubscribedAt: new Date(),
  });
  await db()
    .collection('crm_followers')
    .insertMany([follower(vip, true), follower(regular, true), follower(gone, false)]);
});

describe('audience admin API', () => {
  const following = { follows: account, subscribed: true };

  it('refuses strangers, other roles and bad conditions', async () => {
    const { http } = t();
    const sales = await givenStaff(t(), ['sales']);
    const marketer = await givenStaff(t(), ['marketing']);
    const body = { kind: 'condition', name: '关注者', condition: following };
    expect((await http.post('/admin/api/audiences').send(body)).status).toBe(401);
    expect((await http.post('/admin/api/audiences').set(bearer(sales.accessToken)).send(body)).status).toBe(403);
    expect((await http.get(`/admin/api/audiences/${vip.toString()}`).set(bearer(sales.accessToken))).status).toBe(403);
    for (const bad of [
      { ...body, extra: 1 },
      { ...body, condition: { field: 'tier', op: '$where', value: 'sleep(1000)' } },
      { ...body, condition: { field: 'phone.hash', op: 'eq', value: 'h' } },
      { kind: 'list', name: '名单', profileIds: ['not-an-id'] },
      { kind: 'combination', name: '组合', op: 'union', audienceIds: [vip.toString()] },
    ]) {
      const res = await http.post('/admin/api/audiences').set(bearer(marketer.accessToken)).send(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error.code).toBe('invalid_input');
    }
    // A declared-attribute condition naming an attribute nobody declared is refused by the compiler.
    const undeclared = await http
      .post('/admin/api/audiences/estimate')
      .set(bearer(marketer.accessToken))
      .send({ condition: { attribute: 'nobody_declared_this', op: 'eq', value: 1 } });
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.error.code).toBe('invalid_condition');
    expect((await http.get('/admin/api/audiences/nope').set(bearer(marketer.accessToken))).status).toBe(400);
    const missing = await http
      .get(`/admin/api/audiences/${new Types.ObjectId().toString()}`)
      .set(bearer(marketer.accessToken));
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('audience_not_found');
  });

  it('sizes a condition, saves it, reads it back with a masked preview, and audits the save', async () => {
    const { http } = t();
    const marketer = await givenStaff(t(), ['marketing']);
    const auth = bearer(marketer.accessToken);

    const estimate = await http.post('/admin/api/audiences/estimate').set(auth).send({ condition: following });
    expect(estimate.status).toBe(200);
    expect(estimate.body.size).toBe(2); // the follower who left is not counted

    const created = await http
      .post('/admin/api/audiences')
      .set(auth)
      .send({
        kind: 'condition',
        name: '关注者',
        condition: { all: [following, { field: 'tier', op: 'eq', value: 'vip' }] },
      });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'condition', name: '关注者', size: 1 });
    expect(created.body.preview).toEqual([
      { profileId: vip.toString(), name: '王**', tier: 'vip', phone: '139****0000' },
    ]);

    // A dynamic audience is evaluated on each read: the VIP follower leaves, the size follows.
    await db()
      .collection('crm_followers')
      .updateOne({ account, profileId: vip }, { $set: { subscribed: false } });
    const read = await http.get(`/admin/api/audiences/${created.body.id as string}`).set(auth);
    expect(read.status).toBe(200);
    expect(read.body.size).toBe(0);

    const list = await http
      .post('/admin/api/audiences')
      .set(auth)
      .send({ kind: 'list', name: '名单', profileIds: [regular.toString(), gone.toString()] });
    expect(list.status).toBe(201);
    expect(list.body).toMatchObject({ kind: 'list', frozenCount: 2, size: 2 });

    const audited = await db()
      .collection('audit_log')
      .find({ action: 'audience.create', actorUsername: marketer.username })
      .toArray();
    expect(audited.map((a) => String(a.targetId)).sort()).toEqual([created.body.id, list.body.id].sort());
  });

  it('estimates with masked samples on request and lists saved audiences page by page, newest first', async () => {
    const { http } = t();
    const marketer = await givenStaff(t(), ['marketing']);
    const sales = await givenStaff(t(), ['sales']);
    const auth = bearer(marketer.accessToken);

    const sized = await http
      .post('/admin/api/audiences/estimate')
      .set(auth)
      .send({ condition: { field: 'tier', op: 'eq', value: 'regular' }, sample: 5 });
    expect(sized.status).toBe(200);
    expect(sized.body).toMatchObject({ size: 1, sample: [{ name: '王**', tier: 'regular', phone: '139****0000' }] });
    expect(JSON.stringify(sized.body)).not.toContain('王小明');
    const tooMany = await http
      .post('/admin/api/audiences/estimate')
      .set(auth)
      .send({ condition: following, sample: 1000 });
    expect(tooMany.status).toBe(400);

    const names = ['一', '二', '三'].map((n) => `分页${n}`);
    for (const name of names)
      expect(
        (await http.post('/admin/api/audiences').set(auth).send({ kind: 'condition', name, condition: following }))
          .status,
      ).toBe(201);
    const first = await http.get('/admin/api/audiences').query({ limit: 2 }).set(auth);
    expect(first.status).toBe(200);
    const firstItems = first.body.items as { id: string; name: string }[];
    expect(firstItems.map((a) => a.name)).toEqual(['分页三', '分页二']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await http.get('/admin/api/audiences').query({ limit: 2, cursor: first.body.nextCursor }).set(auth);
    expect(second.body.items[0].name).toBe('分页一');
    const ids = [...firstItems, ...(second.body.items as { id: string }[])].map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect((await http.get('/admin/api/audiences').query({ kind: 'snapshot' }).set(auth)).body.items).toEqual([]);

    expect((await http.get('/admin/api/audiences').set(bearer(sales.accessToken))).status).toBe(403);
    expect((await http.get('/admin/api/audiences').query({ limit: 0 }).set(auth)).status).toBe(400);
    expect((await http.get('/admin/api/audiences').query({ kind: 'everything' }).set(auth)).status).toBe(400);
    const forged = await http.get('/admin/api/audiences').query({ cursor: 'bm90LWEtY3Vyc29y' }).set(auth);
    expect(forged.status).toBe(400);
    expect(forged.body.error.code).toBe('invalid_cursor');
  });
});
