import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { givenStaff } from './support.js';

describe('login throttling', () => {
  const t = useTestApp({
    LOGIN_MAX_ATTEMPTS_PER_USER: '3',
    LOGIN_MAX_ATTEMPTS_PER_IP: '12',
    LOGIN_LOCKOUT_SECONDS: '600',
  });
  const login = (username: string, password: string) =>
    t().http.post('/admin/api/auth/login').send({ username, password });

  it('locks a username after repeated failures, even for the right password, with Retry-After', async () => {
    const s = await givenStaff(t(), ['sales']);
    for (let i = 0; i < 3; i += 1) expect((await login(s.username, 'wrong-password-1')).status).toBe(401);
    const locked = await login(s.username, s.password);
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('login_locked');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(500);
    // Another staff member from the same place is not locked by someone else's username.
    const other = await givenStaff(t(), ['sales']);
    expect((await login(other.username, other.password)).status).toBe(200);
  });

  it('forgives earlier failures after a successful login', async () => {
    const s = await givenStaff(t(), ['sales']);
    for (let i = 0; i < 2; i += 1) expect((await login(s.username, 'wrong-password-1')).status).toBe(401);
    expect((await login(s.username, s.password)).status).toBe(200);
    for (let i = 0; i < 2; i += 1) expect((await login(s.username, 'wrong-password-1')).status).toBe(401);
    expect((await login(s.username, s.password)).status).toBe(200);
  });

  it('lets at most the limit of concurrent guesses reach the password check', async () => {
    const s = await givenStaff(t(), ['sales']);
    const results = await Promise.all(Array.from({ length: 6 }, () => login(s.username, 'wrong-password-1')));
    expect(results.filter((r) => r.status === 401)).toHaveLength(3);
    expect(results.filter((r) => r.status === 429)).toHaveLength(3);
  });

  it('locks an IP that sprays many usernames', async () => {
    // This file's IP budget is 12; earlier tests used some of it (successes give theirs back).
    let locked = false;
    for (let i = 0; i < 14 && !locked; i += 1) {
      const res = await login(`spray-${i}`, 'wrong-password-1');
      if (res.status === 429) locked = true;
      else expect(res.status).toBe(401);
    }
    expect(locked).toBe(true);
    const s = await givenStaff(t(), ['sales']);
    const blocked = await login(s.username, s.password);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('login_locked');
  });
});
