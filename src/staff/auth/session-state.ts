/**
 * What every authenticated request checks besides the signature, in one Redis round trip: the staff
 * member's current status and session version (so disabling or changing roles takes effect at once) and
 * whether the token's session was revoked (logout, refresh-token reuse). MongoDB stays the truth; Redis
 * is a cache that writers overwrite and readers only fill when empty (SET NX), so a slow reader can never
 * put back a stale version over a writer's.
 */
import type { Redis } from '../../infra/redis.js';
import { Staff, type StaffStatus } from '../model.js';

const CACHE_SECONDS = 3600;

export interface StaffState {
  status: StaffStatus | 'missing';
  sessionVersion: string;
}

export interface SessionState {
  /** Status and session version of the staff member, and whether the session was revoked. */
  check(staffId: string, sessionId: string): Promise<StaffState & { revoked: boolean }>;
  /** Writers call this after changing status or session version in MongoDB. */
  publish(staffId: string, state: StaffState): Promise<void>;
  /** Marks a session revoked for as long as any of its access tokens can live. */
  revokeSession(sessionId: string): Promise<void>;
}

export function createSessionState(redis: Redis, accessTtlSeconds: number): SessionState {
  const stateKey = (id: string) => `staff:state:${id}`;
  const revokedKey = (sid: string) => `staff:revoked:${sid}`;
  const encode = (s: StaffState) => `${s.status}|${s.sessionVersion}`;
  const decode = (v: string): StaffState => {
    const [status, sessionVersion] = v.split('|');
    return { status: (status as StaffStatus) ?? 'missing', sessionVersion: sessionVersion ?? '' };
  };
  return {
    async check(staffId, sessionId) {
      const [cached, revoked] = await redis.mget(stateKey(staffId), revokedKey(sessionId));
      let state: StaffState;
      if (cached) state = decode(cached);
      else {
        const staff = await Staff.findById(staffId, { status: 1, sessionVersion: 1 }).lean();
        state = staff
          ? { status: staff.status, sessionVersion: staff.sessionVersion }
          : { status: 'missing', sessionVersion: '' };
        await redis.set(stateKey(staffId), encode(state), 'EX', CACHE_SECONDS, 'NX');
      }
      return { ...state, revoked: revoked !== null };
    },
    async publish(staffId, state) {
      await redis.set(stateKey(staffId), encode(state), 'EX', CACHE_SECONDS);
    },
    async revokeSession(sessionId) {
      await redis.set(revokedKey(sessionId), '1', 'EX', accessTtlSeconds + 60);
    },
  };
}
