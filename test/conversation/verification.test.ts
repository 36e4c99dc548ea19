/**
 * The phone-verification flow's guarantees, through the service on real Redis: tries are counted atomically
 * (concurrent wrong codes cannot exceed the limit), daily caps hold, and an SMS outage is said plainly.
 * The chat itself (sandbox follower, menu key, profile and vault) is in chat.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import type { ActionCall } from '../../src/conversation/index.js';
import { createPhoneVerification } from '../../src/conversation/verification.js';
import { createRecordingSmsSender, createUnconfiguredSmsSender } from '../../src/platform/sms/index.js';
import type { Reply } from '../../src/platform/wechat/replies.js';
import { useTestApp } from '../support/app.js';

const t = useTestApp();

function callOf(openid = `oVer${randomBytes(4).toString('hex')}`): ActionCall {
  const { deps } = t();
  const profileId = new Types.ObjectId().toHexString();
  return {
    account: 'default',
    openid,
    params: {},
    eventId: randomBytes(6).toString('hex'),
    signal: new AbortController().signal,
    deadlineAt: Date.now() + 4000,
    log: deps.logger,
    profileId: async () => profileId,
  };
}

const textOf = (reply: Reply | undefined) => (reply && reply.type === 'text' ? reply.content : undefined);
const phone = () => `137${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;

describe('phone verification flow', () => {
  it('spends at most the allowed tries under 20 concurrent wrong codes', async () => {
    const { deps } = t();
    const sms = createRecordingSmsSender();
    const flow = createPhoneVerification({ redis: deps.redis, crm: deps.crm, sms, policy: { maxAttempts: 5 } });
    const call = callOf();
    const number = phone();
    await flow.start(call);
    expect(textOf(await flow.respond(call, number))).toContain('验证码已发送');
    const code = /(\d{6})/.exec(sms.lastTo(number)!.text)![1]!;
    const wrong = code === '000000' ? '111111' : '000000';

    const answers = await Promise.all(Array.from({ length: 20 }, () => flow.respond(call, wrong)));
    const texts = answers.map(textOf);
    expect(texts.filter((x) => x?.startsWith('验证码不正确'))).toHaveLength(4);
    expect(texts.filter((x) => x?.includes('错误次数过多'))).toHaveLength(1);
    // The others came after the attempt ended: told it is over, or (later still) left to the keyword rules.
    const over = texts.filter((x) => x === undefined || x === '验证码已过期，请重新点击“手机验证”。');
    expect(over).toHaveLength(15);
    expect(await flow.respond(call, code)).toBeUndefined();
  });

  it("caps a number's codes per day across followers, and a follower's resends per minute", async () => {
    const { deps } = t();
    const sms = createRecordingSmsSender();
    const flow = createPhoneVerification({
      redis: deps.redis,
      crm: deps.crm,
      sms,
      policy: { dailySends: 2, resendAfterSeconds: 60 },
    });
    const number = phone();
    const results: Array<string | undefined> = [];
    for (let i = 0; i < 3; i += 1) {
      const call = callOf();
      await flow.start(call);
      results.push(textOf(await flow.respond(call, number)));
    }
    expect(results.slice(0, 2).every((r) => r?.includes('验证码已发送'))).toBe(true);
    expect(results[2]).toBe('今日验证码发送次数已达上限，请明天再试。');
    expect(sms.sent.filter((m) => m.phone === number)).toHaveLength(2);

    const call = callOf();
    await flow.start(call);
    await flow.respond(call, phone());
    expect(textOf(await flow.respond(call, phone()))).toBe('验证码发送过于频繁，请稍后再试。');
  });

  it('says so when no SMS vendor can send, and leaves no code pending', async () => {
    const { deps } = t();
    const flow = createPhoneVerification({ redis: deps.redis, crm: deps.crm, sms: createUnconfiguredSmsSender() });
    const call = callOf();
    await flow.start(call);
    expect(textOf(await flow.respond(call, phone()))).toBe('短信服务暂时不可用，请稍后再试。');
    expect(await flow.respond(call, '123456')).toBeUndefined();
  });

  it('leaves other texts to the rules while a verification waits, and ends it on "取消"', async () => {
    const { deps } = t();
    const flow = createPhoneVerification({ redis: deps.redis, crm: deps.crm, sms: createRecordingSmsSender() });
    const call = callOf();
    await flow.start(call);
    expect(await flow.respond(call, '查询净值')).toBeUndefined();
    expect(await flow.respond(call, '1234567')).toBeUndefined();
    expect(await flow.respond(call, '12345')).toBeUndefined();
    expect(textOf(await flow.respond(call, '取消'))).toBe('已取消手机验证。');
    expect(await flow.respond(call, '取消')).toBeUndefined();
  });
});
