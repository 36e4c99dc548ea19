import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from './support.js';

describe('smoke', () => {
  const t = useTestApp();
  it('logs in and reads me', async () => {
    const s = await givenStaff(t(), ['sales']);
    const login: { status: number; body: { tokens: { accessToken: string } } } = await t()
      .http.post('/admin/api/auth/login')
      .send({ username: s.username, password: s.password });
    expect(login.status).toBe(200);
    const me = await t().http.get('/admin/api/me').set(bearer(login.body.tokens.accessToken));
    expect(me.status).toBe(200);
    expect(me.body.staff.username).toBe(s.username);
    const doc = await t().http.get('/admin/api/openapi.json');
    expect(doc.status).toBe(200);
    const audit = await t().http.get('/admin/api/audit').set(bearer(s.accessToken));
    expect(audit.status).toBe(403);
  });
});
