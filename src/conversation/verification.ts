/**
 * Phone verification in the chat: the `verify_phone` action asks for the number, the follower replies with
 * it, a six-digit code goes out by SMS, and the follower replies with the code. The flow's state lives in
 * Redis with a TTL (a code for 5 minutes, 5 wrong tries, one send a minute, a daily cap per follower and per
 * number); checking a code is one Lua script, so two concurrent replies cannot both spend the last try.
 * The verified number goes to the profile through the CRM (its vault encrypts it); between the steps Redis
 * holds only the vault's ciphertext. Neither the number nor the code is ever logged.
 */
import { createHash, randomInt } from 'node:crypto';
import { Types } from 'mongoose';
import type { Crm } from '../crm/index.js';
import { normalizePhone } from '../crm/phone.js';
import { isDomainError } from '../infra/errors.js';
import type { Redis } from '../infra/redis.js';
import { replies, type Reply } from '../platform/wechat/replies.js';
import type { SmsSender } from '../platform/sms/index.js';
import type { ActionCall } from './actions.js';

export interface VerificationPolicy {
  codeTtlSeconds: number;
  /** Wrong codes that end the attempt (a new code is needed). */
  maxAttempts: number;
  resendAfterSeconds: number;
  /** Codes a follower, or one number, may be sent per day. */
  dailySends: number;
  /** How long the flow waits for the number after the action. */
  askTtlSeconds: number;
}

export const DEFAULT_VERIFICATION_POLICY: VerificationPolicy = {
  codeTtlSeconds: 300,
  maxAttempts: 5,
  resendAfterSeconds: 60,
  dailySends: 5,
  askTtlSeconds: 600,
};

/** The CRM verification kind this flow records. */
export const PHONE_VERIFICATION_KIND = 'phone';

const PHONE_TEXT = /^\s*(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}\s*$/;
const CODE_TEXT = /^\s*\d{6}\s*$/;
const CANCEL_TEXT = /^\s*(?:取消|取消验证)\s*$/;

// KEYS[1] the flow; ARGV[1] the code's hash, ARGV[2] max attempts. Spends one try unless the code is right.
const CHECK_CODE = `
if redis.call('HGET', KEYS[1], 'step') ~= 'code' then return {'none'} end
if redis.call('HGET', KEYS[1], 'code') == ARGV[1] then
  local enc = redis.call('HGET', KEYS[1], 'enc')
  redis.call('DEL', KEYS[1])
  return {'ok', enc}
end
local tries = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if tries >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return {'locked'}
end
return {'wrong', tostring(tonumber(ARGV[2]) - tries)}`;

// KEYS[1..n] daily counters; ARGV[1] the cap, ARGV[2] the TTL. Counts a send unless a counter is full.
const COUNT_SEND = `
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[1]) then return 0 end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[2]) end
end
return 1`;

export interface PhoneVerification {
  /** The action: asks the follower for their number. */
  start(call: ActionCall): Promise<Reply>;
  /** A text while a verification may be under way: the number, the code or "取消"; undefined when not ours. */
  respond(call: Omit<ActionCall, 'params'>, text: string): Promise<Reply | undefined>;
}

export function createPhoneVerification(deps: {
  redis: Redis;
  crm: Crm;
  sms: SmsSender;
  policy?: Partial<VerificationPolicy>;
  now?: () => Date;
}): PhoneVerification {
  const policy = { ...DEFAULT_VERIFICATION_POLICY, ...deps.policy };
  const { redis, crm } = deps;
  const now = deps.now ?? (() => new Date());
  const flowKey = (c: Pick<ActionCall, 'account' | 'openid'>) => `conversation:verify:${c.account}:${c.openid}`;
  const codeHash = (c: Pick<ActionCall, 'account' | 'openid'>, code: string) =>
    createHash('sha256').update(`${c.account}|${c.openid}|${code}`).digest('hex');
  const day = () => now().toISOString().slice(0, 10);

  async function start(call: ActionCall): Promise<Reply> {
    const profileId = await call.profileId();
    if (!profileId) return replies.text('正在为您建立会员档案，请稍后再试。');
    await redis
      .multi()
      .del(flowKey(call))
      .hset(flowKey(call), 'step', 'phone')
      .expire(flowKey(call), policy.askTtlSeconds)
      .exec();
    return replies.text('请回复您的手机号码（11 位），我们将发送短信验证码。回复“取消”可退出验证。');
  }

  async function sendCode(call: Omit<ActionCall, 'params'>, text: string): Promise<Reply> {
    const phone = normalizePhone(text);
    if (!phone) return replies.text('手机号码格式不正确，请重新输入 11 位手机号码。');
    const cooldown = await redis.set(
      `conversation:verify:cooldown:${call.account}:${call.openid}`,
      '1',
      'EX',
      policy.resendAfterSeconds,
      'NX',
    );
    if (cooldown !== 'OK') return replies.text('验证码发送过于频繁，请稍后再试。');
    const stored = crm.deps.phones.protect(phone);
    const counted = await redis.eval(
      COUNT_SEND,
      2,
      `conversation:verify:day:${call.account}:${call.openid}:${day()}`,
      `conversation:verify:day:phone:${stored.hash}:${day()}`,
      policy.dailySends,
      86_400,
    );
    if (counted !== 1) return replies.text('今日验证码发送次数已达上限，请明天再试。');
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await redis
      .multi()
      .del(flowKey(call))
      .hset(flowKey(call), { step: 'code', code: codeHash(call, code), enc: stored.enc, attempts: '0' })
      .expire(flowKey(call), policy.codeTtlSeconds)
      .exec();
    try {
      await deps.sms.send({
        phone,
        text: `【验证码】${code}，${Math.round(policy.codeTtlSeconds / 60)} 分钟内有效。如非本人操作请忽略。`,
        key: `verify:${call.account}:${call.eventId}`,
      });
    } catch (err) {
      await redis.del(flowKey(call));
      if (!isDomainError(err) || err.kind !== 'unavailable') throw err;
      call.log.warn({ code: err.code }, 'conversation: verification code not sent');
      return replies.text('短信服务暂时不可用，请稍后再试。');
    }
    call.log.info({ account: call.account }, 'conversation: verification code sent');
    return replies.text(
      `验证码已发送至 ${stored.masked}，请在 ${Math.round(policy.codeTtlSeconds / 60)} 分钟内回复 6 位验证码。`,
    );
  }

  async function checkCode(call: Omit<ActionCall, 'params'>, code: string): Promise<Reply> {
    const [outcome, value] = (await redis.eval(
      CHECK_CODE,
      1,
      flowKey(call),
      codeHash(call, code),
      policy.maxAttempts,
    )) as [string, string | undefined];
    if (outcome === 'wrong') return replies.text(`验证码不正确，还可以再试 ${value} 次。`);
    if (outcome === 'locked') return replies.text('验证码错误次数过多，请重新点击“手机验证”获取新的验证码。');
    if (outcome !== 'ok' || !value) return replies.text('验证码已过期，请重新点击“手机验证”。');
    const profileId = await call.profileId();
    if (!profileId) return replies.text('正在为您建立会员档案，请稍后再试。');
    const number = crm.deps.phones.reveal({ enc: value });
    const id = new Types.ObjectId(profileId);
    const source = `customer:${call.account}`;
    const writePhone = () =>
      crm.profiles.update({ profileId: id, patch: { phone: { number, verified: true } }, by: 'customer', source });
    const masked = (await writePhone()).phone;
    await crm.profiles.recordVerification({
      profileId: id,
      kind: PHONE_VERIFICATION_KIND,
      status: 'verified',
      method: 'sms',
      by: 'customer',
      source,
    });
    call.log.info({ profileId }, 'conversation: phone verified');
    // On FerretDB a concurrent write to the profile (the CRM recording this very message, within about a
    // second) can undo ours. Off the callback path: look again shortly and write the same value while it is
    // missing (idempotent, bounded). The verification record and the phone identity are inserts: never lost.
    void (async () => {
      for (const waitMs of [500, 1500, 3000]) {
        await new Promise((r) => setTimeout(r, waitMs));
        const view = await crm.profiles.view({ profileId: id });
        if (view.profile.phone === masked && view.profile.phoneVerified) return;
        await writePhone();
      }
    })().catch((err: unknown) => call.log.warn({ err, profileId }, 'conversation: verified phone not re-checked'));
    return replies.text(`手机号 ${masked ?? ''} 验证成功，感谢您的配合。`);
  }

  return {
    start,
    async respond(call, text) {
      const isPhone = PHONE_TEXT.test(text);
      const isCode = !isPhone && CODE_TEXT.test(text);
      const isCancel = !isPhone && !isCode && CANCEL_TEXT.test(text);
      if (!isPhone && !isCode && !isCancel) return undefined;
      // Only these texts cost a Redis read on the callback path; anything else goes straight to the rules.
      const step = await redis.hget(flowKey(call), 'step');
      if (!step) return undefined;
      if (isCancel) {
        await redis.del(flowKey(call));
        return replies.text('已取消手机验证。');
      }
      if (isPhone) return sendCode(call, text);
      if (step !== 'code') return replies.text('请先回复您的 11 位手机号码。');
      return checkCode(call, text.trim());
    },
  };
}
