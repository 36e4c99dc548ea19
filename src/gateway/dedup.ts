/**
 * Exactly-once processing of a push that WeChat may deliver up to four times (docs §1.4): the first
 * delivery claims the key in Redis (SET NX EX) and later stores the answer it gave; a retry that
 * arrives while the first is still running waits for that answer, and one arriving afterwards gets
 * it again. Nothing is re-run. If the owning process dies mid-message the key stays claimed until
 * its TTL: retries are answered "success" (at most once beats twice for side effects like rewards).
 */
import type { Redis } from '../infra/redis.js';

const PENDING = 'P';
const DONE = 'D';

export type Claim = { state: 'owner' } | { state: 'pending' } | { state: 'done'; answer: string };

export interface Dedup {
  /** Claims `key` for this delivery, or reports what an earlier delivery of it has done. */
  claim(key: string): Promise<Claim>;
  /** Records the answer (plaintext reply XML, or '' for "success") given to the first delivery. */
  complete(key: string, answer: string): Promise<void>;
  /** Polls until the first delivery completes or `untilMs` (epoch ms) passes. */
  waitForAnswer(key: string, untilMs: number): Promise<string | undefined>;
}

export function createDedup(redis: Redis, ttlSeconds: number, pollMs = 25): Dedup {
  const redisKey = (key: string) => `gw:dedup:${key}`;
  const read = async (key: string): Promise<Claim> => {
    const value = await redis.get(redisKey(key));
    if (value === null || value === PENDING) return { state: 'pending' };
    return { state: 'done', answer: value.slice(DONE.length) };
  };
  return {
    async claim(key) {
      const set = await redis.set(redisKey(key), PENDING, 'EX', ttlSeconds, 'NX');
      if (set === 'OK') return { state: 'owner' };
      return read(key);
    },
    async complete(key, answer) {
      await redis.set(redisKey(key), `${DONE}${answer}`, 'EX', ttlSeconds);
    },
    async waitForAnswer(key, untilMs) {
      while (Date.now() < untilMs) {
        await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, untilMs - Date.now()))));
        const claim = await read(key);
        if (claim.state === 'done') return claim.answer;
      }
      return undefined;
    },
  };
}
