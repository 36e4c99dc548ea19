/**
 * Access tokens shared by every process through Redis, refreshed before expiry by one process at a time
 * (a Redis lock; a single flight inside each process), invalidated and retried once when the platform
 * says the token is bad (40001/40014/42001). Others wait for the holder's token instead of stomping it.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from '../../infra/redis.js';
import { PlatformError } from './errors.js';

export interface FetchedToken {
  token: string;
  expiresInSeconds: number;
}

export interface TokenCacheOptions {
  redis: Redis;
  /** Redis key of this token (per appid / corp+secret). */
  key: string;
  /** Fetches a new token from the platform; `afterInvalid` is true when the cached one was refused. */
  fetchToken: (context: { afterInvalid: boolean }) => Promise<FetchedToken>;
  /** Refresh this long before expiry (bounded by half the lifetime). */
  refreshMarginSeconds?: number;
  lockTtlMs?: number;
  now?: () => number;
}

export interface TokenCache {
  get(): Promise<string>;
  /** Drops the cached token if it is still `badToken` (a newer one is left alone). */
  invalidate(badToken: string): Promise<void>;
  /** Runs `fn` with a token; on a token error, invalidates it, fetches a new one and retries once. */
  use<T>(fn: (token: string) => Promise<T>): Promise<T>;
}

interface Stored {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const INVALIDATE = `local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`;

export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const { redis, key } = options;
  const lockKey = `${key}:lock`;
  const margin = options.refreshMarginSeconds ?? 240;
  const lockTtlMs = options.lockTtlMs ?? 10_000;
  const now = options.now ?? Date.now;
  let inFlight: Promise<string> | undefined;
  let lastInvalidated: string | undefined;

  async function read(): Promise<Stored | undefined> {
    const raw = await redis.get(key);
    return raw ? (JSON.parse(raw) as Stored) : undefined;
  }

  async function refresh(): Promise<string> {
    const owner = randomUUID();
    const deadline = now() + lockTtlMs * 3;
    for (;;) {
      const acquired = await redis.set(lockKey, owner, 'PX', lockTtlMs, 'NX');
      if (acquired === 'OK') {
        try {
          const current = await read();
          if (current && current.refreshAt > now() && current.token !== lastInvalidated) return current.token;
          const afterInvalid = lastInvalidated !== undefined;
          const fetched = await options.fetchToken({ afterInvalid });
          lastInvalidated = undefined;
          const lifetimeMs = fetched.expiresInSeconds * 1000;
          const stored: Stored = {
            token: fetched.token,
            expiresAt: now() + lifetimeMs,
            refreshAt: now() + Math.max(lifetimeMs - margin * 1000, lifetimeMs / 2),
          };
          await redis.set(key, JSON.stringify(stored), 'PX', Math.max(1000, lifetimeMs - 1000));
          return stored.token;
        } finally {
          await redis.eval(RELEASE_LOCK, 1, lockKey, owner);
        }
      }
      // Someone else is refreshing: a still-valid token may be used meanwhile, else wait for theirs.
      const current = await read();
      if (current && current.token !== lastInvalidated) {
        if (current.expiresAt > now() + 5000 || current.refreshAt > now()) return current.token;
      }
      if (now() > deadline)
        throw new PlatformError(
          'wechat',
          'token',
          'token_timeout',
          'timed out waiting for a token refresh',
          'retry',
          0,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function get(): Promise<string> {
    const current = await read();
    if (current && current.refreshAt > now() && current.token !== lastInvalidated) return current.token;
    inFlight ??= refresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  async function invalidate(badToken: string): Promise<void> {
    lastInvalidated = badToken;
    await redis.eval(INVALIDATE, 1, key, badToken);
  }

  return {
    get,
    invalidate,
    async use<T>(fn: (token: string) => Promise<T>): Promise<T> {
      const token = await get();
      try {
        return await fn(token);
      } catch (err) {
        if (!(err instanceof PlatformError) || err.disposition !== 'refresh_token') throw err;
        await invalidate(token);
        return fn(await get());
      }
    },
  };
}
