/**
 * Redis: dedup, locks, rate limits, exact counters and caches. Every key goes through the configured
 * prefix (ioredis keyPrefix; it also prefixes the KEYS of Lua scripts), so tests and tenants never collide.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { withTimeout } from './mongo.js';

export type { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  prefix: string;
  /** A connection for blocking or subscriber use must not share the command connection. */
  lazyConnect?: boolean;
}

export function createRedis(options: RedisOptions): Redis {
  return new Redis(options.url, {
    keyPrefix: options.prefix,
    maxRetriesPerRequest: 2,
    enableAutoPipelining: true,
    connectTimeout: 3000,
    lazyConnect: options.lazyConnect ?? false,
    // Reconnect forever with a capped backoff; readiness reports the outage meanwhile.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

/** A second connection for pub/sub (a subscribed connection cannot run other commands). */
export function createSubscriber(options: RedisOptions): Redis {
  return new Redis(options.url, { keyPrefix: options.prefix, connectTimeout: 3000, maxRetriesPerRequest: null });
}

export async function pingRedis(redis: Redis, timeoutMs = 1000): Promise<void> {
  const answer = await withTimeout(redis.ping(), timeoutMs, 'redis ping timed out');
  if (answer !== 'PONG') throw new Error(`unexpected redis ping answer`);
}

/** Deletes every key under a prefix (tests clean up their own prefix with this; never used on shared prefixes). */
export async function deleteByPrefix(redis: Redis, fullPrefix: string): Promise<number> {
  // SCAN patterns are not prefixed by ioredis, and DEL arguments are: strip the prefix before deleting.
  const own = redis.options.keyPrefix ?? '';
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${fullPrefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) removed += await redis.del(...keys.map((k) => (k.startsWith(own) ? k.slice(own.length) : k)));
  } while (cursor !== '0');
  return removed;
}

/** A Lua script run by EVALSHA first (its body crosses the wire once per Redis restart, not on every call), EVAL on NOSCRIPT. */
export function redisScript(body: string) {
  const sha = createHash('sha1').update(body).digest('hex');
  return async (redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(body, keys.length, ...keys, ...args);
    }
  };
}
