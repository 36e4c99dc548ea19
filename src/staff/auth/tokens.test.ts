import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { createAccessTokens, type AccessClaims, type KeyRingSettings } from './tokens.js';

const OLD = 'old-secret-0123456789-0123456789-abcdef';
const NEW = 'new-secret-0123456789-0123456789-abcdef';
const claims: AccessClaims = {
  sub: '0123456789abcdef01234567',
  sid: '0123456789abcdef0123456789abcdef',
  sv: 'v1',
  usr: 'alice',
  roles: ['sales'],
  scope: { own: true },
};
const ring = (over: Partial<KeyRingSettings>): KeyRingSettings => ({
  jwtSecret: NEW,
  jwtKeyId: 'k2',
  jwtKeyIdPrevious: 'k1',
  jwtIssuer: 'iss',
  jwtAudience: 'aud',
  accessTtlSeconds: 60,
  ...over,
});

describe('access token key ring', () => {
  it('verifies tokens of the previous key during a rotation and signs with the current one', () => {
    const before = createAccessTokens(ring({ jwtSecret: OLD, jwtKeyId: 'k1', jwtKeyIdPrevious: 'k0' }));
    const during = createAccessTokens(ring({ jwtSecretPrevious: OLD }));
    const oldToken = before.sign(claims);
    expect(during.verify(oldToken)).toMatchObject(claims);
    const newToken = during.sign(claims);
    expect(jwt.decode(newToken, { complete: true })!.header.kid).toBe('k2');
    // Before the rotation, the new key is unknown.
    expect(() => before.verify(newToken)).toThrow(expect.objectContaining({ code: 'invalid_token' }));
  });

  it('drops the previous key once it leaves the ring', () => {
    const before = createAccessTokens(ring({ jwtSecret: OLD, jwtKeyId: 'k1', jwtKeyIdPrevious: 'k0' }));
    const after = createAccessTokens(ring({}));
    expect(() => after.verify(before.sign(claims))).toThrow(expect.objectContaining({ code: 'invalid_token' }));
  });

  it('refuses a token whose kid names one key but whose signature is from another', () => {
    const during = createAccessTokens(ring({ jwtSecretPrevious: OLD }));
    const mislabelled = jwt.sign(claims, OLD, { algorithm: 'HS256', keyid: 'k2', issuer: 'iss', audience: 'aud' });
    expect(() => during.verify(mislabelled)).toThrow(expect.objectContaining({ code: 'invalid_token' }));
  });

  it('refuses a correctly signed token whose claims do not have the expected shape', () => {
    const tokens = createAccessTokens(ring({}));
    const odd = jwt.sign({ ...claims, roles: ['superuser'] }, NEW, {
      algorithm: 'HS256',
      keyid: 'k2',
      issuer: 'iss',
      audience: 'aud',
    });
    expect(() => tokens.verify(odd)).toThrow(expect.objectContaining({ code: 'invalid_token' }));
  });
});
