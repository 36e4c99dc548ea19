import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

describe('login throttling behind the proxy', () => {
  const t = useTestApp({ TRUST_PROXY: 'true', LOGIN_MAX_ATTEMPTS_PER_IP: '4' });

  it('keys on the address the proxy saw, not on a forged X-Forwarded-For', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      const res = await t()
        .http.post('/admin/api/auth/login')
        .set('X-Forwarded-For', `10.9.${i}.1, 203.0.113.7`) // client-forged entry, then the one nginx appended
        .send({ username: `someone${i}`, password: 'wrong-password-1' });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const elsewhere = await t()
      .http.post('/admin/api/auth/login')
      .set('X-Forwarded-For', '203.0.113.8')
      .send({ username: 'someone', password: 'wrong-password-1' });
    expect(elsewhere.status).toBe(401);
  });
});
