import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { Staff } from '../../src/staff/model.js';
import { bearer, givenStaff } from './support.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('staff sign-in and tokens', () => {
  const t = useTestApp();
  const me = (token: string) => t().http.get('/admin/api/me').set(bearer(token));
  /** The claims of a real token, for forging variations of it. */
  const claimsOf = (token: string) => jwt.decode(token) as Record<string, unknown>;
  const forge = (claims: Record<string, unknown>, secret: string, options: jwt.SignOptions) => {
    const { iat: _i, exp: _e, iss: _s, aud: _a, ...rest } = claims;
    return jwt.sign(rest, secret, options);
  };

  it('signs in with the right password and answers /me with roles and permissions', async () => {
    const s = await givenStaff(t(), ['marketing']);
    const res = await t().http.post('/admin/api/auth/login').send({ username: s.username, password: s.password });
    expect(res.status).toBe(200);
    expect(res.body.tokens).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    expect(res.body.staff).toMatchObject({ id: s.id, username: s.username, roles: ['marketing'] });
    const header = jwt.decode(res.body.tokens.accessToken as string, { complete: true })!.header;
    expect(header).toMatchObject({ alg: 'HS256', kid: 'k1' });
    const who = await me(res.body.tokens.accessToken as string);
    expect(who.status).toBe(200);
    expect(who.body.staff.lastLoginAt).not.toBeNull();
    expect(who.body.permissions).toContain('push:send');
    expect(who.body.permissions).not.toContain('staff:manage');
  });

  it('refuses a wrong password, an unknown user and a disabled account with the same answer', async () => {
    const s = await givenStaff(t(), ['sales']);
    const wrong = await t()
      .http.post('/admin/api/auth/login')
      .send({ username: s.username, password: 'nope-nope-nope' });
    const unknown = await t()
      .http.post('/admin/api/auth/login')
      .send({ username: 'nobody-here', password: s.password });
    await Staff.updateOne({ _id: s.id }, { $set: { status: 'disabled' } });
    const disabled = await t().http.post('/admin/api/auth/login').send({ username: s.username, password: s.password });
    for (const res of [wrong, unknown, disabled]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_credentials');
    }
  });

  it('refuses malformed login input naming the fields, and unknown keys', async () => {
    const res = await t()
      .http.post('/admin/api/auth/login')
      .send({ username: { $gt: '' }, password: 'x', extra: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_input');
    const paths = (res.body.error.details.fields as Array<{ path: string }>).map((f) => f.path);
    expect(paths).toContain('username');
  });

  it('refuses requests without a token, with a malformed header, or with garbage', async () => {
    expect((await t().http.get('/admin/api/me')).body.error.code).toBe('unauthenticated');
    expect((await t().http.get('/admin/api/me').set('Authorization', 'Basic abc')).status).toBe(401);
    const garbage = await me('not.a.jwt-at-all');
    expect(garbage.status).toBe(401);
    expect(garbage.body.error.code).toBe('invalid_token');
  });

  it('refuses an expired token', async () => {
    const s = await givenStaff(t(), ['sales']);
    const { jwtSecret, jwtIssuer, jwtAudience } = t().config.auth;
    const expired = forge(claimsOf(s.accessToken), jwtSecret, {
      algorithm: 'HS256',
      keyid: 'k1',
      issuer: jwtIssuer,
      audience: jwtAudience,
      expiresIn: -60,
    });
    const res = await me(expired);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('token_expired');
    // The same claims, freshly signed with the right key, pass: only the expiry made the difference.
    const fresh = forge(claimsOf(s.accessToken), jwtSecret, {
      algorithm: 'HS256',
      keyid: 'k1',
      issuer: jwtIssuer,
      audience: jwtAudience,
      expiresIn: 60,
    });
    expect((await me(fresh)).status).toBe(200);
  });

  it('refuses a token signed with another key, an unknown kid, another issuer or audience', async () => {
    const s = await givenStaff(t(), ['sales']);
    const { jwtSecret, jwtIssuer, jwtAudience } = t().config.auth;
    const claims = claimsOf(s.accessToken);
    const base = { algorithm: 'HS256' as const, issuer: jwtIssuer, audience: jwtAudience, expiresIn: 60 };
    const otherKey = forge(claims, 'another-secret-that-is-long-enough-0123456789', { ...base, keyid: 'k1' });
    const unknownKid = forge(claims, jwtSecret, { ...base, keyid: 'k9' });
    const noKid = forge(claims, jwtSecret, base);
    const otherIssuer = forge(claims, jwtSecret, { ...base, keyid: 'k1', issuer: 'someone-else' });
    const otherAudience = forge(claims, jwtSecret, { ...base, keyid: 'k1', audience: 'customer-app' });
    for (const token of [otherKey, unknownKid, noKid, otherIssuer, otherAudience]) {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_token');
    }
  });

  it('refuses alg none and a tampered payload', async () => {
    const s = await givenStaff(t(), ['sales']);
    const [, payload, signature] = s.accessToken.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const none = `${b64({ alg: 'none', typ: 'JWT', kid: 'k1' })}.${payload}.`;
    const noneUpper = `${b64({ alg: 'None', typ: 'JWT', kid: 'k1' })}.${payload}.`;
    const tampered = `${s.accessToken.split('.')[0]}.${b64({ ...claims, roles: ['admin'] })}.${signature}`;
    for (const token of [none, noneUpper, tampered]) {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_token');
    }
    // The untouched token still works: the refusals above are about the changes.
    expect((await me(s.accessToken)).status).toBe(200);
  });

  it('refuses HS/RS confusion: RS256 tokens, HS256 keyed with a public key, and other HMACs', async () => {
    const s = await givenStaff(t(), ['sales']);
    const { jwtSecret, jwtIssuer, jwtAudience } = t().config.auth;
    const claims = claimsOf(s.accessToken);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const base = { keyid: 'k1', issuer: jwtIssuer, audience: jwtAudience, expiresIn: 60 };
    const rs256 = forge(claims, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
      ...base,
      algorithm: 'RS256',
    });
    // The classic confusion: an HMAC whose "secret" is the public key text.
    const hsWithPublicKey = forge(claims, publicPem, { ...base, algorithm: 'HS256' });
    const hs512 = forge(claims, jwtSecret, { ...base, algorithm: 'HS512' });
    for (const token of [rs256, hsWithPublicKey, hs512]) {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_token');
    }
  });

  it('rotates refresh tokens: the new one works, the old one is refused as reuse and ends the session', async () => {
    const s = await givenStaff(t(), ['sales']);
    const first = await t().http.post('/admin/api/auth/refresh').send({ refreshToken: s.refreshToken });
    expect(first.status).toBe(200);
    expect(first.body.refreshToken).not.toBe(s.refreshToken);
    expect((await me(first.body.accessToken as string)).status).toBe(200);

    const second = await t().http.post('/admin/api/auth/refresh').send({ refreshToken: first.body.refreshToken });
    expect(second.status).toBe(200);

    // The first refresh token comes back (stolen copy): the whole family is revoked.
    const replay = await t().http.post('/admin/api/auth/refresh').send({ refreshToken: s.refreshToken });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('refresh_token_reused');
    const afterwards = await t().http.post('/admin/api/auth/refresh').send({ refreshToken: second.body.refreshToken });
    expect(afterwards.status).toBe(401);
    expect(afterwards.body.error.code).toBe('invalid_refresh_token');
    const revoked = await me(second.body.accessToken as string);
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe('session_revoked');
  });

  it('lets exactly one of several concurrent refreshes with the same token win', async () => {
    const s = await givenStaff(t(), ['sales']);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => t().http.post('/admin/api/auth/refresh').send({ refreshToken: s.refreshToken })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(7);
  });

  it('refuses an unknown refresh token and malformed refresh input', async () => {
    const unknown = await t()
      .http.post('/admin/api/auth/refresh')
      .send({ refreshToken: 'x'.repeat(43) });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.code).toBe('invalid_refresh_token');
    expect((await t().http.post('/admin/api/auth/refresh').send({})).status).toBe(400);
  });

  it('logs out: the access token and the refresh token stop working at once', async () => {
    const s = await givenStaff(t(), ['service']);
    const out = await t().http.post('/admin/api/auth/logout').set(bearer(s.accessToken));
    expect(out.status).toBe(204);
    const after = await me(s.accessToken);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('session_revoked');
    const refresh = await t().http.post('/admin/api/auth/refresh').send({ refreshToken: s.refreshToken });
    expect(refresh.status).toBe(401);
    expect((await t().http.post('/admin/api/auth/logout')).status).toBe(401);
  });

  it("refuses a disabled staff member's token at once, and their refresh token", async () => {
    const admin = await givenStaff(t(), ['admin']);
    const s = await givenStaff(t(), ['sales']);
    expect((await me(s.accessToken)).status).toBe(200); // warms the cached state: disabling must overwrite it
    const res = await t().http.post(`/admin/api/staff/${s.id}/disable`).set(bearer(admin.accessToken));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('disabled');
    const refused = await me(s.accessToken);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('staff_disabled');
    expect((await t().http.post('/admin/api/auth/refresh').send({ refreshToken: s.refreshToken })).status).toBe(401);
    // Enabling again does not resurrect old tokens.
    await t().http.post(`/admin/api/staff/${s.id}/enable`).set(bearer(admin.accessToken)).expect(200);
    expect((await me(s.accessToken)).status).toBe(401);
  });

  it('makes old access tokens refresh after a role change, and the refreshed token carries the new role', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const s = await givenStaff(t(), ['sales']);
    await t()
      .http.patch(`/admin/api/staff/${s.id}`)
      .set(bearer(admin.accessToken))
      .send({ roles: ['auditor'] })
      .expect(200);
    const old = await me(s.accessToken);
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe('token_outdated');
    const refreshed = await t().http.post('/admin/api/auth/refresh').send({ refreshToken: s.refreshToken });
    expect(refreshed.status).toBe(200);
    const who = await me(refreshed.body.accessToken as string);
    expect(who.body.permissions).toContain('audit:read');
    expect(who.body.permissions).not.toContain('customer:write');
  });

  it('ends sessions on a password reset and accepts only the new password', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const s = await givenStaff(t(), ['finance']);
    await t()
      .http.post(`/admin/api/staff/${s.id}/reset-password`)
      .set(bearer(admin.accessToken))
      .send({ password: 'brand-new-password-1' })
      .expect(204);
    expect((await me(s.accessToken)).status).toBe(401);
    expect((await t().http.post('/admin/api/auth/refresh').send({ refreshToken: s.refreshToken })).status).toBe(401);
    const old = await t().http.post('/admin/api/auth/login').send({ username: s.username, password: s.password });
    expect(old.status).toBe(401);
    const fresh = await t()
      .http.post('/admin/api/auth/login')
      .send({ username: s.username, password: 'brand-new-password-1' });
    expect(fresh.status).toBe(200);
  });

  it('stores no plain password and no plain refresh token', async () => {
    const s = await givenStaff(t(), ['sales']);
    const doc = await Staff.findById(s.id).lean();
    expect(doc!.passwordHash).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(doc)).not.toContain(s.password);
    const { RefreshToken } = await import('../../src/staff/model.js');
    expect(await RefreshToken.countDocuments({ tokenHash: s.refreshToken })).toBe(0);
  });
});
