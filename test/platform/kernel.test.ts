import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createCircuitBreaker, createTokenCache, PlatformError } from '../../src/platform/kernel/index.js';
import { createRedis, deleteByPrefix } from '../../src/infra/redis.js';
import { fileScope } from '../support/app.js';

const redis = createRedis({ url: inject('redisUrl'), prefix: fileScope().redisPrefix });
afterAll(async () => {
  await deleteByPrefix(redis, fileScope().redisPrefix);
  await redis.quit();
});

describe('token cache', () => {
  it('fetches once when two instances and many callers ask at the same time', async () => {
    const key = `token:${randomUUID()}`;
    let fetches = 0;
    const fetchToken = async () => {
      fetches += 1;
      await new Promise((r) => setTimeout(r, 100));
      return { token: `tok-${fetches}`, expiresInSeconds: 7200 };
    };
    const a = createTokenCache({ redis, key, fetchToken });
    const b = createTokenCache({ redis, key, fetchToken });
    const tokens = await Promise.all([
      ...Array.from({ length: 10 }, () => a.get()),
      ...Array.from({ length: 10 }, () => b.get()),
    ]);
    expect(fetches).toBe(1);
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
  });

  it('refreshes before expiry, not after', async () => {
    let clock = 1_000_000;
    let fetches = 0;
    const cache = createTokenCache({
      redis,
      key: `token:${randomUUID()}`,
      now: () => clock,
      refreshMarginSeconds: 300,
      fetchToken: async () => ({ token: `tok-${++fetches}`, expiresInSeconds: 7200 }),
    });
    expect(await cache.get()).toBe('tok-1');
    clock += (7200 - 301) * 1000;
    expect(await cache.get()).toBe('tok-1');
    clock += 2000; // inside the margin
    expect(await cache.get()).toBe('tok-2');
  });

  it('invalidates a refused token and retries once with a new one', async () => {
    let fetches = 0;
    const seen: Array<{ afterInvalid: boolean }> = [];
    const cache = createTokenCache({
      redis,
      key: `token:${randomUUID()}`,
      fetchToken: async (ctx) => {
        seen.push(ctx);
        return { token: `tok-${++fetches}`, expiresInSeconds: 7200 };
      },
    });
    const calls: string[] = [];
    const result = await cache.use(async (token) => {
      calls.push(token);
      if (token === 'tok-1') throw new PlatformError('wechat', '/x', 40001, 'invalid credential', 'refresh_token');
      return 'done';
    });
    expect(result).toBe('done');
    expect(calls).toEqual(['tok-1', 'tok-2']);
    expect(seen).toEqual([{ afterInvalid: false }, { afterInvalid: true }]);
  });

  it('does not loop when the new token is refused too', async () => {
    let fetches = 0;
    const cache = createTokenCache({
      redis,
      key: `token:${randomUUID()}`,
      fetchToken: async () => ({ token: `tok-${++fetches}`, expiresInSeconds: 7200 }),
    });
    await expect(
      cache.use(async () => {
        throw new PlatformError('wechat', '/x', 42001, 'expired', 'refresh_token');
      }),
    ).rejects.toMatchObject({ errcode: 42001 });
    expect(fetches).toBe(2);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, fails fast, then lets one trial through', () => {
    let clock = 0;
    const breaker = createCircuitBreaker('acct', { threshold: 3, cooldownMs: 1000, now: () => clock });
    for (let i = 0; i < 3; i++) {
      breaker.before();
      breaker.failure();
    }
    expect(breaker.state()).toBe('open');
    expect(() => breaker.before()).toThrow(/open/);
    clock += 1000;
    expect(breaker.state()).toBe('half_open');
    breaker.before();
    expect(() => breaker.before()).toThrow(/open/); // only one trial at a time
    breaker.success();
    expect(breaker.state()).toBe('closed');
  });
});
