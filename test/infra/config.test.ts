import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/infra/config.js';
import { testSettings } from '../support/app.js';

function problemsOf(settings: Record<string, string | undefined>): string[] {
  try {
    loadConfig(settings);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('loads the test environment with the default account', () => {
    const config = loadConfig(testSettings());
    expect(config.env).toBe('test');
    expect(config.wechat.accounts).toHaveLength(1);
    expect(config.wechat.accounts[0]).toMatchObject({ key: 'default', mode: 'safe', appid: 'wxb11529c136998cb6' });
    expect(config.mongo.poolSize).toBeLessThanOrEqual(10);
  });

  it('names a bad WECHAT_AES_KEY without printing it', () => {
    const secret = 'tooShortKeyValue123';
    const problems = problemsOf(testSettings({ WECHAT_AES_KEY: secret }));
    expect(problems).toEqual(['WECHAT_AES_KEY is invalid: must be 43 characters of [A-Za-z0-9] (got 19 characters)']);
    expect(problems.join('\n')).not.toContain(secret);
  });

  it('lists every bad setting, one line each', () => {
    const problems = problemsOf(testSettings({ PORT: 'eighty', PROCESS_ROLE: 'boss', MONGO_URL: 'http://x' }));
    expect(problems).toHaveLength(3);
    expect(problems.some((p) => p.startsWith('PORT '))).toBe(true);
    expect(problems.some((p) => p.startsWith('PROCESS_ROLE '))).toBe(true);
    expect(problems.some((p) => p.startsWith('MONGO_URL '))).toBe(true);
  });

  it('reads a matrix of accounts from WECHAT_ACCOUNTS', () => {
    const config = loadConfig(
      testSettings({
        WECHAT_ACCOUNTS: 'news',
        WECHAT_NEWS_APPID: 'wx00000000000news1',
        WECHAT_NEWS_APPSECRET: 'news-secret-000001',
        WECHAT_NEWS_TOKEN: 'newstoken',
        WECHAT_NEWS_TYPE: 'subscription',
      }),
    );
    expect(config.wechat.accounts.map((a) => [a.key, a.type, a.mode])).toEqual([
      ['default', 'service', 'safe'],
      ['news', 'subscription', 'plain'],
    ]);
  });

  it('refuses development secrets and the sandbox in production', () => {
    const problems = problemsOf({
      APP_ENV: 'production',
      MONGO_URL: 'mongodb://db/scrm',
      REDIS_URL: 'redis://cache',
      PUBLIC_BASE_URL: 'https://scrm.example.com',
      JWT_SECRET: 'development-insecure-jwt-secret-change-me-0123456789',
      SANDBOX: 'true',
    });
    expect(problems).toContain('SANDBOX must be false in production');
    expect(problems).toContain('JWT_SECRET still holds a placeholder or development value');
  });

  it('stops start-up with one clear line when WECHAT_AES_KEY is not 43 characters', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, ...testSettings({ WECHAT_AES_KEY: 'abc' }) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'config error: WECHAT_AES_KEY is invalid: must be 43 characters of [A-Za-z0-9] (got 3 characters)',
    );
  });
});
