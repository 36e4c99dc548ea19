/**
 * A follower's whole day, end to end: the sandbox plays WeChat (signed, encrypted pushes; the 5-second
 * retry rule; an inbox per follower), the service answers through the real gateway, the CRM records the
 * follower, and messages the service sends land in the inbox once.
 */
import { describe, expect, it } from 'vitest';
import { replies } from '../../src/gateway/index.js';
import { useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const live = useLive({ WECHAT_CALLBACK_DEADLINE_MS: '600' }, { callbackTimeoutMs: 1000 });

describe("a follower's day", () => {
  it('subscribes, writes, taps a menu, gets a template, is answered late once, and unsubscribes', async () => {
    const { app, sandbox } = live();
    const { deps } = app;
    let slowCalls = 0;
    deps.wechatHandlers.onText((message) => {
      if (message.content === 'hello') return replies.text('你好，欢迎！');
      if (message.content === 'slow') {
        slowCalls += 1;
        // Longer than the gateway's deadline and WeChat's patience: the answer must still arrive, once.
        return new Promise((r) => setTimeout(() => r(replies.text('慢慢来的回答')), 1500));
      }
      return undefined;
    });
    deps.wechatHandlers.onEvent('subscribe', () => replies.text('欢迎关注！'));
    deps.wechatHandlers.onEvent('CLICK', (event) => replies.text(`你点了 ${event.key}`));

    const follower = sandbox.wechat.follower('default', 'oDayFollower0001');
    const subscribed = await follower.subscribe();
    expect(subscribed.reply).toBe('message');
    expect(follower.inbox().map((e) => e.text)).toEqual(['欢迎关注！']);

    const hello = await follower.send('hello');
    expect(hello.inbox?.text).toBe('你好，欢迎！');
    expect(hello.attempts).toHaveLength(1);

    await follower.click('MENU_BALANCE');
    expect(follower.inbox().at(-1)?.text).toBe('你点了 MENU_BALANCE');

    // The CRM knows the follower (recorded after WeChat got its answer).
    const profileId = await eventually(() => deps.profileOf('default', 'oDayFollower0001'));
    expect(profileId).toMatch(/^[0-9a-f]{24}$/);

    // A template message from the service reaches the inbox, and its delivery receipt comes back.
    const template = sandbox.wechat.addTemplate('default', {
      title: '净值提醒',
      keywords: ['thing1', 'amount2', 'date3'],
    });
    const sent = await deps.wechatClients('default').sendTemplate({
      touser: 'oDayFollower0001',
      templateId: template.templateId,
      data: { thing1: '稳健增长A', amount2: '1.2345', date3: '2026-11-23' },
      clientMsgId: 'day-nav-1',
    });
    expect(sent.msgId).toBeTruthy();
    await sandbox.wechat.idle();
    expect(follower.inbox().filter((e) => e.channel === 'template')).toHaveLength(1);

    // WeChat retries a slow answer; the handler runs once and its reply arrives once, as a CS message.
    const slow = await follower.send('slow');
    expect(slow.attempts.length).toBeGreaterThanOrEqual(1);
    await eventually(() => follower.inbox().some((e) => e.text === '慢慢来的回答'), { timeoutMs: 8000 });
    await new Promise((r) => setTimeout(r, 500));
    expect(follower.inbox().filter((e) => e.text === '慢慢来的回答')).toHaveLength(1);
    expect(slowCalls).toBe(1);

    const bye = await follower.unsubscribe();
    expect(bye.reply).toBe('none');
    await eventually(async () => {
      const state = await deps.crm.followers.state('default', 'oDayFollower0001');
      return state?.subscribed === false;
    });
  }, 60_000);
});
