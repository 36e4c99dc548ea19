/**
 * WeChat's side of the callback: builds a push the way WeChat does, signs and (in safe or compatible
 * mode) encrypts it with the account's Token / EncodingAESKey / AppID, POSTs it to the account's callback
 * URL, applies the 5-second rule (no answer in time → the same push again, up to 3 retries), then
 * verifies and decrypts the reply and puts what the follower would see in their inbox.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../infra/logger.js';
import { createMessageCrypto, sha1Signature, signaturesEqual } from '../../platform/wechat/crypto.js';
import type { SandboxClock } from '../clock.js';
import type { InboxEntry, SandboxFollower, SandboxWechatAccount, SandboxWechatState } from './state.js';
import { buildXml, parseXml, textOf, type ParsedXml, type XmlRecord } from './xml.js';

export interface CallbackRules {
  /** WeChat waits 5 s for an answer; tests shorten it. */
  timeoutMs: number;
  /** Re-sends after an unanswered push ("retries three times in total"). */
  retries: number;
}

export const WECHAT_CALLBACK_RULES: CallbackRules = { timeoutMs: 5000, retries: 3 };

export interface PushAttempt {
  attempt: number;
  outcome: 'answered' | 'timeout' | 'network_error';
  status?: number;
  elapsedMs: number;
}

export type ReplyKind = 'none' | 'message' | 'invalid' | 'unanswered';

export interface PushResult {
  /** The plaintext XML pushed (before encryption). */
  pushed: string;
  mode: SandboxWechatAccount['mode'];
  attempts: PushAttempt[];
  /** none: "success" or an empty body; message: a valid passive reply; invalid: the follower sees an error. */
  reply: ReplyKind;
  /** The decrypted reply, when it parsed. */
  replyMessage?: ParsedXml;
  /** Why a reply was refused or never came. */
  problem?: string;
  /** The inbox entry the reply produced. */
  inbox?: InboxEntry;
}

export interface SealedPush {
  query: Record<string, string>;
  body: string;
}

/**
 * Signs and, in safe/compatible mode, encrypts a push. `random`, `timestamp` and `nonce` are fixed only by
 * known-answer tests.
 */
export function sealPush(
  account: SandboxWechatAccount,
  xml: string,
  openid: string,
  fixed: { timestamp?: string; nonce?: string; random?: Buffer } = {},
): SealedPush {
  const timestamp = fixed.timestamp ?? String(Math.floor(Date.now() / 1000));
  const nonce = fixed.nonce ?? String(randomBytes(4).readUInt32BE(0));
  const signature = sha1Signature(account.token, timestamp, nonce);
  if (account.mode === 'plain') return { query: { signature, timestamp, nonce, openid }, body: xml };
  if (!account.encodingAESKey) throw new Error(`account ${account.key} has no EncodingAESKey for ${account.mode} mode`);
  const encrypt = createMessageCrypto(account.encodingAESKey, account.appid).encrypt(xml, fixed.random);
  const msgSignature = sha1Signature(account.token, timestamp, nonce, encrypt);
  const body =
    account.mode === 'safe'
      ? buildXml({ ToUserName: account.originalId, Encrypt: encrypt })
      : xml.replace(/<\/xml>$/, `<Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`);
  return {
    query: { signature, timestamp, nonce, openid, encrypt_type: 'aes', msg_signature: msgSignature },
    body,
  };
}

type Opened = { kind: 'none' } | { kind: 'message'; message: ParsedXml } | { kind: 'invalid'; problem: string };

/** Verifies and decrypts a reply body the way WeChat does for the account's mode. */
export async function openReply(account: SandboxWechatAccount, body: string): Promise<Opened> {
  const text = body.trim();
  if (text === '' || text === 'success') return { kind: 'none' };
  let outer: ParsedXml;
  try {
    outer = await parseXml(text);
  } catch {
    return { kind: 'invalid', problem: 'the reply is not XML' };
  }
  const encrypt = textOf(outer, 'Encrypt');
  if (encrypt === undefined) {
    if (account.mode === 'safe') return { kind: 'invalid', problem: 'safe mode needs an encrypted reply' };
    return { kind: 'message', message: outer };
  }
  if (!account.encodingAESKey) return { kind: 'invalid', problem: 'encrypted reply for an account without an AES key' };
  const msgSignature = textOf(outer, 'MsgSignature');
  const timestamp = textOf(outer, 'TimeStamp');
  const nonce = textOf(outer, 'Nonce');
  if (!msgSignature || !timestamp || !nonce)
    return { kind: 'invalid', problem: 'the encrypted reply lacks MsgSignature, TimeStamp or Nonce' };
  if (!signaturesEqual(sha1Signature(account.token, timestamp, nonce, encrypt), msgSignature))
    return { kind: 'invalid', problem: 'the reply MsgSignature does not verify' };
  let inner: string;
  try {
    inner = createMessageCrypto(account.encodingAESKey, account.appid).decrypt(encrypt);
  } catch (err) {
    return { kind: 'invalid', problem: `the reply does not decrypt: ${err instanceof Error ? err.message : 'error'}` };
  }
  try {
    return { kind: 'message', message: await parseXml(inner) };
  } catch {
    return { kind: 'invalid', problem: 'the decrypted reply is not XML' };
  }
}

const REPLY_TYPES = new Set(['text', 'image', 'voice', 'video', 'music', 'news', 'transfer_customer_service']);

/** Checks a passive reply's header and body; returns what the follower sees, or why nothing. */
export function readPassiveReply(
  account: SandboxWechatAccount,
  openid: string,
  message: ParsedXml,
  answeringMessage: boolean,
): { msgtype: string; content: Record<string, unknown> } | { problem: string } {
  if (textOf(message, 'ToUserName') !== openid) return { problem: 'reply ToUserName is not the follower' };
  if (textOf(message, 'FromUserName') !== account.originalId)
    return { problem: 'reply FromUserName is not the account' };
  if (!/^\d+$/.test(textOf(message, 'CreateTime') ?? '')) return { problem: 'reply CreateTime is not a number' };
  const msgtype = textOf(message, 'MsgType') ?? '';
  if (!REPLY_TYPES.has(msgtype)) return { problem: `reply MsgType "${msgtype}" is not a passive reply type` };
  const content: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message))
    if (!['ToUserName', 'FromUserName', 'CreateTime', 'MsgType'].includes(k)) content[k] = v;
  if (msgtype === 'text' && typeof message.Content !== 'string') return { problem: 'text reply without Content' };
  if (msgtype === 'news') {
    const articles = message.Articles;
    const items = typeof articles === 'object' && !Array.isArray(articles) ? articles.item : undefined;
    const list = Array.isArray(items) ? items : items ? [items] : [];
    if (list.length === 0) return { problem: 'news reply without articles' };
    // One article when answering a message, eight for events; WeChat drops the rest.
    content.Articles = { item: list.slice(0, answeringMessage ? 1 : 8) };
  }
  for (const [type, field] of [
    ['image', 'Image'],
    ['voice', 'Voice'],
    ['video', 'Video'],
  ] as const) {
    const inner = message[field];
    if (msgtype === type && (typeof inner !== 'object' || Array.isArray(inner) || typeof inner.MediaId !== 'string'))
      return { problem: `${type} reply without ${field}.MediaId` };
  }
  return { msgtype, content };
}

export interface CallbackDriverDeps {
  state: SandboxWechatState;
  clock: SandboxClock;
  logger: Logger;
  rules: () => CallbackRules;
}

export interface CallbackDriver {
  /** Pushes a message or event from a follower and follows it through to the inbox. */
  push(account: SandboxWechatAccount, follower: SandboxFollower, fields: XmlRecord): Promise<PushResult>;
}

function pushType(fields: XmlRecord): string {
  const v = fields.MsgType === 'event' ? fields.Event : fields.MsgType;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : 'unknown';
}

export function createCallbackDriver(deps: CallbackDriverDeps): CallbackDriver {
  async function postOnce(
    url: string,
    sealed: SealedPush,
    timeoutMs: number,
  ): Promise<{ status: number; body: string } | 'timeout' | 'network_error'> {
    const target = new URL(url);
    for (const [k, v] of Object.entries(sealed.query)) target.searchParams.set(k, v);
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'text/xml; charset=utf-8' },
        body: sealed.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return timedOut ? 'timeout' : 'network_error';
    }
  }

  return {
    async push(account, follower, fields) {
      const result = await pushOnce(account, follower, fields);
      const answered = result.attempts.find((a) => a.outcome === 'answered');
      deps.state.pushLog.push({
        account: account.key,
        openid: follower.openid,
        type: pushType(fields),
        at: new Date(deps.clock.now()).toISOString(),
        ...(answered ? { answeredMs: result.attempts.reduce((ms, a) => ms + a.elapsedMs, 0) } : {}),
        attempts: result.attempts.length,
        reply: result.reply,
      });
      return result;
    },
  };

  async function pushOnce(
    account: SandboxWechatAccount,
    follower: SandboxFollower,
    fields: XmlRecord,
  ): Promise<PushResult> {
    const xml = buildXml({
      ToUserName: account.originalId,
      FromUserName: follower.openid,
      CreateTime: deps.clock.nowSeconds(),
      ...fields,
    });
    const result: PushResult = { pushed: xml, mode: account.mode, attempts: [], reply: 'unanswered' };
    if (!account.callbackUrl) {
      result.problem = 'the account has no callback URL';
      return result;
    }
    const rules = deps.rules();
    // WeChat re-sends the same push; our side must recognise it (MsgId, or FromUserName + CreateTime).
    const sealed = sealPush(account, xml, follower.openid, { timestamp: String(deps.clock.nowSeconds()) });
    let answer: { status: number; body: string } | undefined;
    for (let attempt = 1; attempt <= rules.retries + 1 && !answer; attempt++) {
      const started = Date.now();
      const outcome = await postOnce(account.callbackUrl, sealed, rules.timeoutMs);
      const elapsedMs = Date.now() - started;
      if (typeof outcome === 'string') {
        result.attempts.push({ attempt, outcome, elapsedMs });
        continue;
      }
      result.attempts.push({ attempt, outcome: 'answered', status: outcome.status, elapsedMs });
      answer = outcome;
    }
    if (!answer) {
      const timeouts = result.attempts.filter((a) => a.outcome === 'timeout').length;
      result.problem =
        `no answer after ${result.attempts.length} attempts ` +
        `(${timeouts} timed out after ${rules.timeoutMs} ms, ${result.attempts.length - timeouts} could not connect)`;
      deps.logger.info({ account: account.key, attempts: result.attempts.length }, 'sandbox push unanswered');
      return result;
    }
    if (answer.status !== 200) {
      result.reply = 'invalid';
      result.problem = `the callback answered HTTP ${answer.status}`;
      return result;
    }
    const opened = await openReply(account, answer.body);
    if (opened.kind === 'none') {
      result.reply = 'none';
      return result;
    }
    if (opened.kind === 'invalid') {
      result.reply = 'invalid';
      result.problem = opened.problem;
      return result;
    }
    result.replyMessage = opened.message;
    const isMessage = typeof fields.MsgId === 'string';
    const read = readPassiveReply(account, follower.openid, opened.message, isMessage);
    if ('problem' in read) {
      result.reply = 'invalid';
      result.problem = read.problem;
      return result;
    }
    result.reply = 'message';
    if (read.msgtype !== 'transfer_customer_service') {
      const inReplyTo =
        typeof fields.MsgId === 'string' ? fields.MsgId : typeof fields.Event === 'string' ? fields.Event : undefined;
      result.inbox = deps.state.deliver(follower, {
        channel: 'passive',
        msgtype: read.msgtype,
        content: read.content,
        inReplyTo,
      });
    }
    return result;
  }
}
