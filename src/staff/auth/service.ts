/**
 * Signing in and staying signed in: login (throttled, argon2), short-lived access JWTs, rotating refresh
 * tokens with reuse detection, logout, and the per-request check that turns a token into a Principal.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import type { Logger } from '../../infra/logger.js';
import { RefreshToken, Staff, StaffSession, type StaffDoc } from '../model.js';
import { verifyPassword } from '../passwords.js';
import { permissionsOf } from '../permissions.js';
import type { Principal } from '../principal.js';
import { presentStaff } from '../service.js';
import type { StaffView } from '../schemas.js';
import type { AccessTokens } from './tokens.js';
import type { LoginThrottle } from './throttle.js';
import type { SessionState } from './session-state.js';

export interface TokenPair {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  refreshToken: string;
  refreshExpiresAt: string;
}

export interface ClientInfo {
  ip: string;
  userAgent: string;
}

export interface StaffAuthDeps {
  tokens: AccessTokens;
  throttle: LoginThrottle;
  sessions: SessionState;
  logger: Logger;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  now?: () => Date;
}

export interface StaffAuth {
  login(username: string, password: string, client: ClientInfo): Promise<{ tokens: TokenPair; staff: StaffView }>;
  refresh(refreshToken: string, client: ClientInfo): Promise<TokenPair>;
  /** Ends the caller's session: its refresh tokens stop working and its access tokens are refused. */
  logout(principal: Principal): Promise<void>;
  /** Verifies an access token and the live state behind it. */
  authenticate(accessToken: string): Promise<Principal>;
  /** Starts a session for an already-authenticated staff member (login, and tests). */
  startSession(staff: StaffDoc, client: ClientInfo): Promise<TokenPair>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const newRefreshToken = () => randomBytes(32).toString('base64url');

function refused(code: string, message: string): DomainError {
  return new DomainError('unauthenticated', code, message);
}

export function createStaffAuth(deps: StaffAuthDeps): StaffAuth {
  const now = deps.now ?? (() => new Date());

  function accessFor(staff: StaffDoc, sessionId: string): string {
    return deps.tokens.sign({
      sub: staff._id.toHexString(),
      sid: sessionId,
      sv: staff.sessionVersion,
      usr: staff.username,
      roles: staff.roles,
      scope: staff.scope ?? {},
    });
  }

  async function revokeSession(sessionId: string, reason: 'logout' | 'reuse'): Promise<void> {
    await deps.sessions.revokeSession(sessionId);
    await StaffSession.updateOne(
      { _id: sessionId, revokedAt: { $exists: false } },
      { $set: { revokedAt: now(), revokedReason: reason } },
    );
  }

  const auth: StaffAuth = {
    async startSession(staff, client) {
      const sessionId = randomBytes(16).toString('hex');
      const created = now();
      const expiresAt = new Date(created.getTime() + deps.refreshTtlSeconds * 1000);
      await StaffSession.create({
        _id: sessionId,
        staffId: staff._id.toHexString(),
        createdAt: created,
        expiresAt,
        ip: client.ip,
        userAgent: client.userAgent,
      });
      const refreshToken = newRefreshToken();
      await RefreshToken.create({
        tokenHash: sha256(refreshToken),
        parentHash: `root:${sessionId}`,
        sessionId,
        staffId: staff._id.toHexString(),
        createdAt: created,
        expiresAt,
      });
      return {
        accessToken: accessFor(staff, sessionId),
        tokenType: 'Bearer',
        expiresIn: deps.accessTtlSeconds,
        refreshToken,
        refreshExpiresAt: expiresAt.toISOString(),
      };
    },

    async login(rawUsername, password, client) {
      const username = rawUsername.trim().toLowerCase();
      await deps.throttle.attempt(username, client.ip);
      const staff = await Staff.findOne({ username }).lean();
      const ok = await verifyPassword(staff?.passwordHash, password);
      // One answer for unknown user, wrong password and disabled account: nothing to enumerate.
      if (!staff || !ok || staff.status !== 'active')
        throw refused('invalid_credentials', 'Wrong username or password.');
      await deps.throttle.succeeded(username, client.ip);
      const at = now();
      await Staff.updateOne({ _id: staff._id }, { $set: { lastLoginAt: at } });
      const tokens = await auth.startSession(staff, client);
      return { tokens, staff: presentStaff({ ...staff, lastLoginAt: at }) };
    },

    async refresh(presented, client) {
      const tokenHash = sha256(presented);
      const token = await RefreshToken.findOne({ tokenHash }).lean();
      if (!token) throw refused('invalid_refresh_token', 'The refresh token is not valid; sign in again.');
      const session = await StaffSession.findById(token.sessionId).lean();
      if (!session || session.revokedAt || session.expiresAt <= now() || token.expiresAt <= now())
        throw refused('invalid_refresh_token', 'The session has ended; sign in again.');
      const staff = await Staff.findById(token.staffId).lean();
      if (!staff || staff.status !== 'active')
        throw refused('invalid_refresh_token', 'The session has ended; sign in again.');

      const next = newRefreshToken();
      try {
        // The unique index on parentHash lets exactly one successor exist for this token.
        await RefreshToken.create({
          tokenHash: sha256(next),
          parentHash: tokenHash,
          sessionId: token.sessionId,
          staffId: token.staffId,
          createdAt: now(),
          expiresAt: session.expiresAt,
        });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // An already-used token came back: someone holds a copy. End the whole family.
        await revokeSession(token.sessionId, 'reuse');
        deps.logger.warn({ staffId: token.staffId, sessionId: token.sessionId, ip: client.ip }, 'refresh token reuse');
        throw refused('refresh_token_reused', 'This refresh token was already used; the session is revoked.');
      }
      return {
        accessToken: accessFor(staff, token.sessionId),
        tokenType: 'Bearer',
        expiresIn: deps.accessTtlSeconds,
        refreshToken: next,
        refreshExpiresAt: session.expiresAt.toISOString(),
      };
    },

    async logout(principal) {
      await revokeSession(principal.sessionId, 'logout');
    },

    async authenticate(accessToken) {
      const claims = deps.tokens.verify(accessToken);
      const state = await deps.sessions.check(claims.sub, claims.sid);
      if (state.revoked) throw refused('session_revoked', 'This session has ended; sign in again.');
      if (state.status !== 'active') throw refused('staff_disabled', 'This account is disabled.');
      if (state.sessionVersion !== claims.sv)
        throw refused('token_outdated', 'Your account changed; refresh the access token.');
      return {
        staffId: claims.sub,
        username: claims.usr,
        roles: claims.roles,
        permissions: permissionsOf(claims.roles),
        scope: claims.scope,
        sessionId: claims.sid,
      };
    },
  };
  return auth;
}
