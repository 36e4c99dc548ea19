/** The client registry handed out through AppDeps: configured accounts by key, built once per process. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { sandboxAccountsFrom } from '../../src/sandbox/wechat/index.js';
import { buildTestApp, cleanFileScope, testConfig, type TestApp } from '../support/app.js';

let sandbox: Sandbox;
let app: TestApp;

beforeAll(async () => {
  sandbox = await startSandbox();
  const settings = {
    WECHAT_API_BASE: sandbox.wechatBase,
    WECHAT_ACCOUNTS: 'news',
    WECHAT_NEWS_APPID: 'wx00000000000news1',
    WECHAT_NEWS_APPSECRET: 'news-app-secret-01',
    WECHAT_NEWS_TOKEN: 'newstoken',
    WECHAT_NEWS_API_BASE: sandbox.wechatBase,
  };
  for (const account of sandboxAccountsFrom(testConfig(settings).wechat.accounts, 'http://127.0.0.1:9'))
    sandbox.wechat.addAccount(account);
  app = await buildTestApp(settings);
});
afterAll(async () => {
  await app?.close();
  await sandbox?.close();
  await cleanFileScope();
});

describe('wechatClients (AppDeps)', () => {
  it('hands out the default account without a key and the others by key, one client each', async () => {
    const { wechatClients } = app.deps;
    expect(wechatClients().accountKey).toBe('default');
    expect(wechatClients('default')).toBe(wechatClients());
    expect(wechatClients('news').appid).toBe('wx00000000000news1');
    expect(await wechatClients('news').listTags()).toEqual([{ id: 2, name: '星标组', count: 0 }]);
    expect(await wechatClients().accessToken()).toMatch(/^SBX_S_/);
    expect(sandbox.wechat.calls('default')['/cgi-bin/stable_token']).toBe(1);
  });

  it('refuses an account that is not configured', () => {
    expect(() => app.deps.wechatClients('nope')).toThrow(
      expect.objectContaining({ kind: 'not_found', code: 'unknown_wechat_account' }) as Error,
    );
  });
});
