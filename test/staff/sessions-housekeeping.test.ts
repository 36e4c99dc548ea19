import { describe, expect, it } from 'vitest';
import { RefreshToken, StaffSession } from '../../src/staff/model.js';
import { purgeExpiredSessions } from '../../src/staff/jobs.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from './support.js';

describe('session housekeeping and logs', () => {
  const t = useTestApp();

  it('purges long-expired refresh tokens and sessions and keeps live ones', async () => {
    const live = await givenStaff(t(), ['sales']);
    const old = await givenStaff(t(), ['sales']);
    const past = new Date(Date.now() - 40 * 86_400_000);
    await RefreshToken.updateMany({ staffId: old.id }, { $set: { expiresAt: past } });
    await StaffSession.updateMany({ staffId: old.id }, { $set: { expiresAt: past } });

    expect(await purgeExpiredSessions()).toEqual({ tokens: 1, sessions: 1 });
    expect(await purgeExpiredSessions()).toEqual({ tokens: 0, sessions: 0 });
    expect(await RefreshToken.countDocuments({ staffId: live.id })).toBe(1);
    const refreshed = await t().http.post('/admin/api/auth/refresh').send({ refreshToken: live.refreshToken });
    expect(refreshed.status).toBe(200);
    expect((await t().http.post('/admin/api/auth/refresh').send({ refreshToken: old.refreshToken })).status).toBe(401);
  });

  it('never writes passwords or tokens to the logs', async () => {
    const s = await givenStaff(t(), ['sales']);
    await t().http.post('/admin/api/auth/login').send({ username: s.username, password: 'wrong-password-zz' });
    const ok = await t().http.post('/admin/api/auth/login').send({ username: s.username, password: s.password });
    const tokens = ok.body.tokens as { accessToken: string; refreshToken: string };
    await t().http.get('/admin/api/me').set(bearer(tokens.accessToken));
    await t().http.post('/admin/api/auth/refresh').send({ refreshToken: tokens.refreshToken });
    await t().http.post('/admin/api/auth/refresh').send({ refreshToken: tokens.refreshToken }); // reuse → warn log
    const logs = t().logs.join('\n');
    expect(logs).toContain('refresh token reuse');
    for (const secret of [s.password, 'wrong-password-zz', tokens.accessToken, tokens.refreshToken])
      expect(logs).not.toContain(secret);
  });
});
