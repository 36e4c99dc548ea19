import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { AuditEntry } from '../../src/audit/model.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from './support.js';

interface Entry {
  id: string;
  action: string;
  outcome: string;
  actorId?: string;
  targetId?: string;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  requestId: string;
  ip: string;
}

describe('audit log', () => {
  const t = useTestApp();
  const entriesFor = async (targetId: string) =>
    (await AuditEntry.find({ targetId }).sort({ _id: 1 }).lean()).map((e) => ({ ...e, id: String(e._id) }));

  it('records every staff write with who, what, target, before/after, request id and IP', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const created = await t()
      .http.post('/admin/api/staff')
      .set(bearer(admin.accessToken))
      .set('X-Request-Id', 'req-create-0001')
      .send({ username: `new${Date.now()}`, displayName: 'New', password: 'a-long-password-1', roles: ['sales'] });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await t()
      .http.patch(`/admin/api/staff/${id}`)
      .set(bearer(admin.accessToken))
      .send({ roles: ['service'] })
      .expect(200);
    await t().http.post(`/admin/api/staff/${id}/disable`).set(bearer(admin.accessToken)).expect(200);
    await t().http.post(`/admin/api/staff/${id}/enable`).set(bearer(admin.accessToken)).expect(200);
    await t()
      .http.post(`/admin/api/staff/${id}/reset-password`)
      .set(bearer(admin.accessToken))
      .send({ password: 'another-password-2' })
      .expect(204);

    const entries = await entriesFor(id);
    expect(entries.map((e) => e.action)).toEqual([
      'staff.create',
      'staff.update',
      'staff.disable',
      'staff.enable',
      'staff.reset_password',
    ]);
    for (const e of entries) expect(e).toMatchObject({ outcome: 'ok', actorId: admin.id, targetType: 'staff' });
    expect(entries[0]).toMatchObject({ requestId: 'req-create-0001', after: { roles: ['sales'], status: 'active' } });
    expect(entries[0]!.ip).toMatch(/127\.0\.0\.1/);
    expect(entries[1]).toMatchObject({ before: { roles: ['sales'] }, after: { roles: ['service'] } });
    expect(entries[2]).toMatchObject({ before: { status: 'active' }, after: { status: 'disabled' } });
    // Nothing secret reaches the log.
    expect(JSON.stringify(entries)).not.toMatch(/a-long-password-1|another-password-2|argon2/);
  });

  it('records sign-ins, failed sign-ins and logouts', async () => {
    const s = await givenStaff(t(), ['finance']);
    await t()
      .http.post('/admin/api/auth/login')
      .send({ username: s.username, password: 'wrong-password-x' })
      .expect(401);
    const ok = await t().http.post('/admin/api/auth/login').send({ username: s.username, password: s.password });
    await t()
      .http.post('/admin/api/auth/logout')
      .set(bearer(ok.body.tokens.accessToken as string))
      .expect(204);
    const mine = await AuditEntry.find({ $or: [{ actorId: s.id }, { 'after.username': s.username }] })
      .sort({ _id: 1 })
      .lean();
    expect(mine.map((e) => `${e.action}:${e.outcome}`)).toEqual([
      'auth.login:denied',
      'auth.login:ok',
      'auth.logout:ok',
    ]);
    expect(mine[0]).toMatchObject({ errorCode: 'invalid_credentials' });
  });

  it('records writes refused for lack of permission as denied', async () => {
    const sales = await givenStaff(t(), ['sales']);
    const target = new Types.ObjectId().toHexString();
    await t().http.post(`/admin/api/staff/${target}/disable`).set(bearer(sales.accessToken)).expect(403);
    const [entry] = await entriesFor(target);
    expect(entry).toMatchObject({
      action: 'staff.disable',
      outcome: 'denied',
      actorId: sales.id,
      errorCode: 'permission_denied',
    });
  });

  it('is readable by auditors with filters and cursor pages, and by nobody else', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const auditor = await givenStaff(t(), ['auditor']);
    const marketing = await givenStaff(t(), ['marketing']);
    for (let i = 0; i < 3; i += 1)
      await t()
        .http.post('/admin/api/staff')
        .set(bearer(admin.accessToken))
        .send({
          username: `bulk${i}${Date.now()}`,
          displayName: 'B',
          password: 'a-long-password-1',
          roles: ['service'],
        })
        .expect(201);

    const page1 = await t()
      .http.get(`/admin/api/audit?actorId=${admin.id}&action=staff.create&limit=2`)
      .set(bearer(auditor.accessToken));
    expect(page1.status).toBe(200);
    expect(page1.body.items).toHaveLength(2);
    const page2 = await t()
      .http.get(
        `/admin/api/audit?actorId=${admin.id}&action=staff.create&limit=2&cursor=${page1.body.nextCursor as string}`,
      )
      .set(bearer(auditor.accessToken));
    expect(page2.body.items).toHaveLength(1);
    expect(page2.body.nextCursor).toBeNull();
    const all = [...page1.body.items, ...page2.body.items] as Entry[];
    expect(new Set(all.map((e) => e.id)).size).toBe(3);
    // Newest first.
    expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort().reverse());

    const future = await t()
      .http.get(`/admin/api/audit?actorId=${admin.id}&from=${new Date(Date.now() + 60_000).toISOString()}`)
      .set(bearer(auditor.accessToken));
    expect(future.body.items).toEqual([]);
    expect((await t().http.get('/admin/api/audit?actorId=nothex').set(bearer(auditor.accessToken))).status).toBe(400);
    expect((await t().http.get('/admin/api/audit?bogus=1').set(bearer(auditor.accessToken))).status).toBe(400);
    expect((await t().http.get('/admin/api/audit').set(bearer(marketing.accessToken))).status).toBe(403);
  });

  it('cannot be edited or deleted through the model', async () => {
    const [entry] = await AuditEntry.find().limit(1).lean();
    await expect(AuditEntry.updateOne({ _id: entry!._id }, { $set: { action: 'x.y' } })).rejects.toThrow(/append-only/);
    await expect(AuditEntry.deleteMany({})).rejects.toThrow(/append-only/);
    await expect(AuditEntry.findOneAndDelete({ _id: entry!._id })).rejects.toThrow(/append-only/);
    expect(await AuditEntry.countDocuments({ _id: entry!._id })).toBe(1);
  });
});
