/**
 * Failed-attempt throttling for guessable things (reservation codes, logins, redemption APIs): failures are
 * counted per subject (a customer, an IP, an API key) in a sliding Redis window; at the threshold the subject
 * is locked out for a cool-down. A burst of failures across all subjects raises an alert for staff.
 * Counters are Redis INCRs (atomic across processes), never read-modify-write.
 */
import type { Redis } from '../infra/redis.js';
import { DomainError } from '../infra/errors.js';

export interface AttemptPolicy {
  /** Failures within `windowSeconds` that lock a subject. */
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
  /** Failures across every subject within one minute that count as a burst worth an alert. */
  burstPerMinute: number;
}

export interface AttemptAlert {
  action: string;
  failuresLastMinute: number;
}

export interface AttemptGuard {
  /** Throws `rate_limited` while any of the subjects is locked out. */
  assertAllowed(subjects: readonly string[]): Promise<void>;
  /** Counts a failure for every subject; locks those that reach the threshold. Returns the subjects now locked. */
  recordFailure(subjects: readonly string[]): Promise<string[]>;
  /** Seconds left on a subject's lock (0 when not locked). */
  lockedFor(subject: string): Promise<number>;
}

// One round trip: count the failure, start the window on the first one, lock at the threshold.
const RECORD_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

export function createAttemptGuard(
  redis: Redis,
  action: string,
  policy: AttemptPolicy,
  onAlert: (alert: AttemptAlert) => void,
): AttemptGuard {
  const failKey = (subject: string) => `risk:attempts:${action}:fail:${subject}`;
  const lockKey = (subject: string) => `risk:attempts:${action}:lock:${subject}`;
  const burstKey = () => `risk:attempts:${action}:burst:${Math.floor(Date.now() / 60_000)}`;

  async function lockedFor(subject: string): Promise<number> {
    const ttl = await redis.ttl(lockKey(subject));
    return ttl > 0 ? ttl : 0;
  }

  return {
    lockedFor,
    async assertAllowed(subjects) {
      for (const subject of subjects) {
        const seconds = await lockedFor(subject);
        if (seconds > 0)
          throw new DomainError('rate_limited', 'too_many_attempts', 'Too many failed attempts; try again later.', {
            retryAfterSeconds: seconds,
          });
      }
    },
    async recordFailure(subjects) {
      const locked: string[] = [];
      for (const subject of subjects) {
        const result = (await redis.eval(
          RECORD_FAILURE,
          2,
          failKey(subject),
          lockKey(subject),
          policy.windowSeconds,
          policy.maxFailures,
          policy.lockSeconds,
        )) as number;
        if (result === 1) locked.push(subject);
      }
      const key = burstKey();
      const burst = await redis.incr(key);
      if (burst === 1) await redis.expire(key, 120);
      // Alert once per minute, when the burst threshold is crossed (not on every failure after it).
      if (burst === policy.burstPerMinute) onAlert({ action, failuresLastMinute: burst });
      return locked;
    },
  };
}
