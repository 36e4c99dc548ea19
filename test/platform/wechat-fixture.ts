/**
 * A sandbox with fresh official accounts and clients pointed at it, for the client tests: each test
 * takes its own account (own appid, token, followers), so tests never share state.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { createRedis, deleteByPrefix, type Redis } from '../../src/infra/redis.js';
import { createWechatClient, type WechatClient, type WechatClientSettings } from '../../src/platform/wechat/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import type { SandboxWechatAccount } from '../../src/sandbox/wechat/index.js';
import { fileScope } from '../support/app.js';

export const FAST_CLIENT: WechatClientSettings = {
  timeoutMs: 5000,
  retry: { attempts: 3, baseMs: 5, capMs: 20 },
  breaker: { threshold: 100, cooldownMs: 1000 },
};

export interface WechatFixture {
  sandbox: Sandbox;
  redis: Redis;
  /** A new account in the sandbox and a client for it. */
  account(options?: { callbackUrl?: string; mode?: SandboxWechatAccount['mode'] }): TestAccount;
}

export interface TestAccount {
  key: string;
  appid: string;
  secret: string;
  account: SandboxWechatAccount;
  client: WechatClient;
  /** Another client of the same account (another process, as far as the token is concerned). */
  newClient(settings?: Partial<WechatClientSettings>): WechatClient;
  /** Subscribed followers, made without a callback (the platform records the follow regardless). */
  followers(n: number): Promise<string[]>;
}

export const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

export function useWechatFixture(sandboxOptions: Parameters<typeof startSandbox>[0] = {}): () => WechatFixture {
  let fixture: WechatFixture | undefined;
  beforeAll(async () => {
    const sandbox = await startSandbox(sandboxOptions);
    const redis = createRedis({ url: inject('redisUrl'), prefix: fileScope().redisPrefix });
    let n = 0;
    fixture = {
      sandbox,
      redis,
      account(options = {}) {
        n += 1;
        const key = `acct${n}`;
        const appid = `wx${randomBytes(8).toString('hex')}`;
        const secret = `secret-${randomBytes(6).toString('hex')}`;
        const account = sandbox.wechat.addAccount({
          key,
          appid,
          secret,
          token: 'sandboxtoken',
          encodingAESKey: AES_KEY,
          originalId: `gh_${randomBytes(6).toString('hex')}`,
          mode: options.mode,
          callbackUrl: options.callbackUrl,
        });
        const newClient = (settings: Partial<WechatClientSettings> = {}) =>
          createWechatClient(
            { key, appid, secret, apiBase: sandbox.wechatBase },
            { redis, settings: { ...FAST_CLIENT, ...settings } },
          );
        return {
          key,
          appid,
          secret,
          account,
          client: newClient(),
          newClient,
          async followers(count) {
            const ids: string[] = [];
            for (let i = 0; i < count; i++) {
              const f = sandbox.wechat.follower(key);
              await f.subscribe();
              ids.push(f.openid);
            }
            return ids;
          },
        };
      },
    };
  });
  afterAll(async () => {
    if (!fixture) return;
    await fixture.sandbox.close();
    await deleteByPrefix(fixture.redis, fileScope().redisPrefix);
    await fixture.redis.quit();
  });
  return () => {
    if (!fixture) throw new Error('the wechat fixture is not ready (use it inside tests)');
    return fixture;
  };
}
