/**
 * Login throttling in Redis, per username and per IP. Each attempt is counted BEFORE the password is
 * checked (one Lua script, atomic), so concurrent guesses cannot slip past the limit; when a counter
 * passes its limit it is locked for the lockout period. A successful login clears the username counter.
 */
import type { Redis } from '../../infra/redis.js';
import { DomainError } from '../../infra/errors.js';

export interface ThrottleSettings {
  loginMaxAttemptsPerUser: number;
  loginMaxAttemptsPerIp: number;
  loginWindowSeconds: number;
  loginLockoutSeconds: number;
}

// KEYS: user counter, ip counter. ARGV: user max, ip max, window, lockout.
// Returns 0 when allowed, else the seconds until the lock lifts.
const ATTEMPT = `
local function bump(key, max, window, lockout)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, window) end
  if n == max + 1 then redis.call('EXPIRE', key, lockout) end
  if n > max then return redis.call('TTL', key) end
  return 0
end
local u = bump(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]))
local i = bump(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if u > i then return u end
return i
`;

export interface LoginThrottle {
  /** Counts an attempt; throws rate_limited (login_locked) when the username or the IP is locked. */
  attempt(username: string, ip: string): Promise<void>;
  /** A correct password: the username's failures are forgiven and the IP's attempt is given back. */
  succeeded(username: string, ip: string): Promise<void>;
}

export function createLoginThrottle(redis: Redis, settings: ThrottleSettings): LoginThrottle {
  const userKey = (u: string) => `staff:login:user:${u}`;
  const ipKey = (ip: string) => `staff:login:ip:${ip}`;
  return {
    async attempt(username, ip) {
      const wait = (await redis.eval(
        ATTEMPT,
        2,
        userKey(username),
        ipKey(ip),
        settings.loginMaxAttemptsPerUser,
        settings.loginMaxAttemptsPerIp,
        settings.loginWindowSeconds,
        settings.loginLockoutSeconds,
      )) as number;
      if (wait !== 0)
        throw new DomainError('rate_limited', 'login_locked', 'Too many sign-in attempts; try again later.', {
          retryAfterSeconds: wait > 0 ? wait : settings.loginLockoutSeconds,
        });
    },
    async succeeded(username, ip) {
      await redis.del(userKey(username));
      await redis.decr(ipKey(ip));
    },
  };
}
