/**
 * The official-account client against the sandbox: the access token (shared, refreshed once), and each
 * class of error — retried, refreshed, given up — plus timeouts and the circuit breaker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PlatformError } from '../../src/platform/kernel/index.js';
import { useWechatFixture } from './wechat-fixture.js';

const fx = useWechatFixture();

afterEach(() => {
  fx().sandbox.faults.clear();
});

const firedOn = (path: string) =>
  fx()
    .sandbox.faults.list()
    .filter((r) => r.path === path)
    .reduce((n, r) => n + r.fired, 0);

describe('access token', () => {
  it('is fetched once through stable_token and shared by two client instances', async () => {
    const acct = fx().account();
    const [followerA] = await acct.followers(1);
    const other = acct.newClient();
    const users = await Promise.all([
      ...Array.from({ length: 5 }, () => acct.client.getUser(followerA!)),
      ...Array.from({ length: 5 }, () => other.getUser(followerA!)),
    ]);
    expect(users.every((u) => u.subscribed)).toBe(true);
    expect(fx().sandbox.wechat.calls(acct.key)).toMatchObject({ '/cgi-bin/stable_token': 1, '/cgi-bin/user/info': 10 });
    expect(await acct.client.accessToken()).toBe(await other.accessToken());
  });

  it('after a revocation, two instances hitting 40001 together refresh once, not twice', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const other = acct.newClient();
    await acct.client.getUser(openid!);
    await other.getUser(openid!);
    const before = await acct.client.accessToken();
    expect(fx().sandbox.wechat.revokeTokens(acct.key)).toBeGreaterThan(0);

    const users = await Promise.all([acct.client.getUser(openid!), other.getUser(openid!)]);
    expect(users.map((u) => u.openid)).toEqual([openid, openid]);
    expect(fx().sandbox.wechat.calls(acct.key)['/cgi-bin/stable_token']).toBe(2);
    const after = await other.accessToken();
    expect(after).not.toBe(before);
    expect(await acct.client.accessToken()).toBe(after);
  });

  it('an expired token (42001, by the sandbox clock) is refreshed and the call retried once', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    await acct.client.getUser(openid!);
    fx().sandbox.clock.advance(7201 * 1000);
    try {
      expect((await acct.client.getUser(openid!)).subscribed).toBe(true);
      expect(fx().sandbox.wechat.calls(acct.key)['/cgi-bin/stable_token']).toBe(2);
    } finally {
      fx().sandbox.clock.reset();
    }
  });

  it('40014 for a token stable_token still hands out forces one refresh', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    await acct.client.getUser(openid!);
    const first = await acct.client.accessToken();
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/user/info', errcode: 40014, times: 1 });
    // Another instance, which only ever read the token from Redis, meets the refusal.
    const other = acct.newClient();
    expect((await other.getUser(openid!)).openid).toBe(openid);
    // Normal mode answered the same token, so the client asked once with force_refresh.
    expect(fx().sandbox.wechat.calls(acct.key)['/cgi-bin/stable_token']).toBe(3);
    expect(await acct.client.accessToken()).not.toBe(first);
  });

  it('does not loop when the platform keeps refusing tokens', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/user/info', errcode: 40001 });
    await expect(acct.client.getUser(openid!)).rejects.toMatchObject({
      errcode: 40001,
      disposition: 'refresh_token',
    });
    expect(firedOn('/cgi-bin/user/info')).toBe(2);
  });

  it('a wrong AppSecret gives up with 40125', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const { createWechatClient } = await import('../../src/platform/wechat/index.js');
    const wrong = createWechatClient(
      { key: acct.key, appid: acct.appid, secret: 'not-the-secret', apiBase: fx().sandbox.wechatBase },
      { redis: fx().redis },
    );
    await fx().redis.del(`wechat:token:${acct.appid}`);
    await expect(wrong.getUser(openid!)).rejects.toMatchObject({ errcode: 40125, disposition: 'give_up' });
  });
});

describe('errors that are retried with backoff', () => {
  it('-1 (system busy) twice, then success', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/user/info', errcode: -1, times: 2 });
    expect((await acct.client.getUser(openid!)).subscribed).toBe(true);
    expect(firedOn('/cgi-bin/user/info')).toBe(2);
  });

  it('an HTTP 503, then success', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/user/info', httpStatus: 503, times: 1 });
    expect((await acct.client.getUser(openid!)).subscribed).toBe(true);
    expect(firedOn('/cgi-bin/user/info')).toBe(1);
  });

  it('a call that times out is repeated when it is safe to repeat', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const client = acct.newClient({ timeoutMs: 1000 });
    await client.getUser(openid!);
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/user/info', hang: true, times: 1 });
    const started = Date.now();
    expect((await client.getUser(openid!)).subscribed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(firedOn('/cgi-bin/user/info')).toBe(1);
  });

  it('a customer-service send that times out is not repeated (it may have gone out)', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const client = acct.newClient({ timeoutMs: 300 });
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/message/custom/send', hang: true });
    await expect(client.sendCustomMessage(openid!, { msgtype: 'text', text: { content: 'hi' } })).rejects.toMatchObject(
      { errcode: 'timeout', disposition: 'retry' },
    );
    expect(firedOn('/cgi-bin/message/custom/send')).toBe(1);
  });

  it('45009 once the daily budget is spent, after the allowed attempts', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    fx().sandbox.wechat.setQuota(acct.key, '/cgi-bin/user/info', 2);
    await acct.client.getUser(openid!);
    await acct.client.getUser(openid!);
    const err = await acct.client.getUser(openid!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ errcode: 45009, disposition: 'retry', retryable: true });
    expect(fx().sandbox.wechat.calls(acct.key)['/cgi-bin/user/info']).toBe(5); // 2 answered + 3 attempts
  });
});

describe('errors that are final', () => {
  it('43004, 45015, 40003 and 40037 are given up at once', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const template = fx().sandbox.wechat.addTemplate(acct.key, { title: 'Order', keywords: ['thing1'] });
    const stranger = fx().sandbox.wechat.follower(acct.key);
    await stranger.subscribe();
    await stranger.unsubscribe();

    await expect(
      acct.client.sendTemplate({ touser: stranger.openid, templateId: template.templateId, data: { thing1: 'x' } }),
    ).rejects.toMatchObject({ errcode: 43004, disposition: 'give_up' });
    // Followed more than a minute ago and never wrote: no window is open.
    fx().sandbox.clock.advance(61_000);
    try {
      await expect(
        acct.client.sendCustomMessage(openid!, { msgtype: 'text', text: { content: 'hi' } }),
      ).rejects.toMatchObject({ errcode: 45015, disposition: 'give_up' });
    } finally {
      fx().sandbox.clock.reset();
    }
    await expect(acct.client.getUser('oNotAFollowerOfThisAccount00')).rejects.toMatchObject({
      errcode: 40003,
      disposition: 'give_up',
    });
    await expect(
      acct.client.sendTemplate({ touser: openid!, templateId: 'no-such-template', data: { thing1: 'x' } }),
    ).rejects.toMatchObject({ errcode: 40037, disposition: 'give_up' });
    const calls = fx().sandbox.wechat.calls(acct.key);
    expect(calls['/cgi-bin/message/template/send']).toBe(2);
    expect(calls['/cgi-bin/message/custom/send']).toBe(1);
  });

  it('a forced errcode from fault injection reaches the caller unchanged', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/tags/getidlist', errcode: 48001, times: 1 });
    await expect(acct.client.tagsOfUser(openid!)).rejects.toMatchObject({ errcode: 48001, disposition: 'give_up' });
    expect(await acct.client.tagsOfUser(openid!)).toEqual([]);
  });
});

describe('outages scripted through the control API', () => {
  it('a down period resets connections until it ends (sandbox clock)', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const client = acct.newClient({ retry: { attempts: 1, baseMs: 1, capMs: 1 } });
    await client.getUser(openid!);
    const res = await fetch(`${fx().sandbox.url}/_control/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        platform: 'wechat',
        path: '/cgi-bin/*',
        reset: true,
        until: fx().sandbox.clock.now() + 60_000,
      }),
    });
    expect(res.status).toBe(200);
    await expect(client.getUser(openid!)).rejects.toMatchObject({ errcode: 'network', disposition: 'retry' });
    await expect(client.listTags()).rejects.toMatchObject({ errcode: 'network' });
    fx().sandbox.clock.advance(61_000);
    try {
      expect((await client.getUser(openid!)).subscribed).toBe(true);
    } finally {
      fx().sandbox.clock.reset();
    }
  });

  it('injected latency beyond the client timeout is a timeout', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const client = acct.newClient({ timeoutMs: 200, retry: { attempts: 1, baseMs: 1, capMs: 1 } });
    await client.getUser(openid!);
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/user/info', latencyMs: 400 });
    await expect(client.getUser(openid!)).rejects.toMatchObject({ errcode: 'timeout', disposition: 'retry' });
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive outages so later calls fail fast without reaching WeChat', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const client = acct.newClient({ breaker: { threshold: 3, cooldownMs: 60_000 } });
    await client.getUser(openid!);
    fx().sandbox.faults.add({ platform: 'wechat', path: '/cgi-bin/user/info', reset: true });
    await expect(client.getUser(openid!)).rejects.toMatchObject({ errcode: 'network', disposition: 'retry' });
    const firedBefore = firedOn('/cgi-bin/user/info');
    expect(firedBefore).toBe(3);
    await expect(client.getUser(openid!)).rejects.toMatchObject({ errcode: 'circuit_open' });
    expect(firedOn('/cgi-bin/user/info')).toBe(firedBefore);
  });
});
