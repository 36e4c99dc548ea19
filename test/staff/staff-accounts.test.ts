import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { Staff } from '../../src/staff/model.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from './support.js';

describe('staff management', () => {
  const t = useTestApp();

  it('seeds the first admin from ADMIN_USERNAME/ADMIN_PASSWORD only when no staff exists', async () => {
    const { accounts } = t().deps.staff;
    const { adminUsername, adminPassword } = t().config.auth;
    const results = await Promise.all([
      accounts.seedFirstAdmin(adminUsername, adminPassword),
      accounts.seedFirstAdmin(adminUsername, adminPassword),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await Staff.countDocuments({ username: adminUsername })).toBe(1);
    const login = await t().http.post('/admin/api/auth/login').send({ username: 'ADMIN', password: adminPassword });
    expect(login.status).toBe(200);
    expect(login.body.staff.roles).toEqual(['admin']);
    // Later starts leave existing staff alone.
    expect(await accounts.seedFirstAdmin('someone', 'another-password-9')).toBe(false);
  });

  it('creates staff, refuses a taken username and invalid fields', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const body = { username: `c${Date.now()}`, displayName: 'Carol', password: 'carol-password-1', roles: ['sales'] };
    const created = await t().http.post('/admin/api/staff').set(bearer(admin.accessToken)).send(body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      username: body.username,
      roles: ['sales'],
      scope: { own: true },
      status: 'active',
    });
    expect(created.body).not.toHaveProperty('passwordHash');
    const dup = await t().http.post('/admin/api/staff').set(bearer(admin.accessToken)).send(body);
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('username_taken');
    const bad = await t()
      .http.post('/admin/api/staff')
      .set(bearer(admin.accessToken))
      .send({ username: 'A B', displayName: '', password: 'short', roles: ['root'], scope: { own: 'yes' } });
    expect(bad.status).toBe(400);
    const fields = (bad.body.error.details.fields as Array<{ path: string }>).map((f) => f.path).sort();
    expect(fields).toEqual(['displayName', 'password', 'roles.0', 'scope.own', 'username']);
  });

  it('updates scope and roles, lists with filters and pages, and refuses unknown ids', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const s = await givenStaff(t(), ['service']);
    const updated = await t()
      .http.patch(`/admin/api/staff/${s.id}`)
      .set(bearer(admin.accessToken))
      .send({ scope: { regions: ['east'], tiers: ['gold'] }, displayName: 'Sam' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ displayName: 'Sam', scope: { regions: ['east'], tiers: ['gold'] } });
    expect((await t().http.patch(`/admin/api/staff/${s.id}`).set(bearer(admin.accessToken)).send({})).status).toBe(400);

    const list = await t().http.get('/admin/api/staff?role=service&limit=1').set(bearer(admin.accessToken));
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0].roles).toContain('service');
    expect((await t().http.get('/admin/api/staff?limit=0').set(bearer(admin.accessToken))).status).toBe(400);
    const missing = await t()
      .http.get(`/admin/api/staff/${new Types.ObjectId().toHexString()}`)
      .set(bearer(admin.accessToken));
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('staff_not_found');
  });

  it('does not let an admin disable their own account', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const res = await t().http.post(`/admin/api/staff/${admin.id}/disable`).set(bearer(admin.accessToken));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('cannot_disable_self');
  });

  it('refuses a non-JSON body', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const res = await t()
      .http.post('/admin/api/staff')
      .set(bearer(admin.accessToken))
      .set('Content-Type', 'text/plain')
      .send('username=x');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });
});
