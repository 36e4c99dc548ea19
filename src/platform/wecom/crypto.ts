/**
 * WeCom callback crypto: the same WXBizMsgCrypt scheme as official accounts (platform/wechat/crypto),
 * with receiveid = CorpID, msg_signature = sha1(sort(token, timestamp, nonce, Encrypt)) on every request,
 * and URL verification that answers the *decrypted* echostr (an official account echoes it unchanged).
 * https://developer.work.weixin.qq.com/document/path/90968 (加解密方案)
 * https://developer.work.weixin.qq.com/document/path/90930 (回调配置)
 */
import { randomBytes } from 'node:crypto';
import { createMessageCrypto, sha1Signature, signaturesEqual } from '../wechat/crypto.js';
import { encryptOf, XmlError } from '../wechat/xml.js';

export type WecomCallbackErrorCode = 'bad_signature' | 'missing_params' | 'bad_body' | 'stale_timestamp';

export class WecomCallbackError extends Error {
  constructor(
    readonly code: WecomCallbackErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WecomCallbackError';
  }
}

export interface WecomCallbackQuery {
  msg_signature?: string;
  timestamp?: string;
  nonce?: string;
  echostr?: string;
}

export interface WecomCallbackCrypto {
  readonly corpid: string;
  /** GET URL verification: checks msg_signature over echostr and returns the plaintext to answer. */
  verifyUrl(query: WecomCallbackQuery): string;
  /** POST: checks msg_signature over <Encrypt> and returns the decrypted XML. */
  openMessage(query: WecomCallbackQuery, body: string): string;
  /** Encrypts and signs XML into the envelope WeCom sends (and accepts as a passive reply). */
  sealMessage(
    xml: string,
    options?: { timestamp?: string; nonce?: string; agentId?: string },
  ): { body: string; msgSignature: string; timestamp: string; nonce: string; encrypt: string };
  /** Encrypts and signs an echostr (the platform's side of URL verification). */
  sealEcho(plaintext: string, options?: { timestamp?: string; nonce?: string }): Required<WecomCallbackQuery>;
}

/**
 * The <Encrypt> value of a callback envelope, read by the official-account gateway's codec (which refuses
 * DOCTYPE/entities); undefined when the body has none or is not XML.
 */
export function encryptedPartOf(body: string): string | undefined {
  try {
    return encryptOf(body) || undefined;
  } catch (err) {
    if (err instanceof XmlError) return undefined;
    throw err;
  }
}

export function createWecomCallbackCrypto(options: {
  token: string;
  encodingAESKey: string;
  corpid: string;
  /** Refuse requests whose timestamp is further than this from now (0 = off, as WeCom does not require it). */
  maxSkewSeconds?: number;
  now?: () => number;
}): WecomCallbackCrypto {
  const crypto = createMessageCrypto(options.encodingAESKey, options.corpid);
  const now = options.now ?? Date.now;

  function check(query: WecomCallbackQuery, encrypted: string): void {
    const { msg_signature: signature, timestamp, nonce } = query;
    if (!signature || !timestamp || !nonce)
      throw new WecomCallbackError('missing_params', 'msg_signature, timestamp and nonce are required');
    if (!signaturesEqual(sha1Signature(options.token, timestamp, nonce, encrypted), signature))
      throw new WecomCallbackError('bad_signature', 'msg_signature does not match');
    const skew = options.maxSkewSeconds ?? 0;
    if (skew > 0 && Math.abs(Math.floor(now() / 1000) - Number(timestamp)) > skew)
      throw new WecomCallbackError('stale_timestamp', 'timestamp outside the allowed window');
  }

  return {
    corpid: options.corpid,
    verifyUrl(query) {
      if (!query.echostr) throw new WecomCallbackError('missing_params', 'echostr is required');
      check(query, query.echostr);
      return crypto.decrypt(query.echostr);
    },
    openMessage(query, body) {
      const encrypted = encryptedPartOf(body);
      if (!encrypted) throw new WecomCallbackError('bad_body', 'no <Encrypt> in the body');
      check(query, encrypted);
      return crypto.decrypt(encrypted);
    },
    sealMessage(xml, opts = {}) {
      const timestamp = opts.timestamp ?? String(Math.floor(now() / 1000));
      const nonce = opts.nonce ?? String(randomBytes(4).readUInt32BE(0));
      const encrypt = crypto.encrypt(xml);
      const msgSignature = sha1Signature(options.token, timestamp, nonce, encrypt);
      const body =
        `<xml><ToUserName><![CDATA[${options.corpid}]]></ToUserName>` +
        `<Encrypt><![CDATA[${encrypt}]]></Encrypt>` +
        (opts.agentId !== undefined ? `<AgentID><![CDATA[${opts.agentId}]]></AgentID>` : '') +
        `<MsgSignature><![CDATA[${msgSignature}]]></MsgSignature><TimeStamp>${timestamp}</TimeStamp>` +
        `<Nonce><![CDATA[${nonce}]]></Nonce></xml>`;
      return { body, msgSignature, timestamp, nonce, encrypt };
    },
    sealEcho(plaintext, opts = {}) {
      const timestamp = opts.timestamp ?? String(Math.floor(now() / 1000));
      const nonce = opts.nonce ?? String(randomBytes(4).readUInt32BE(0));
      const echostr = crypto.encrypt(plaintext);
      return { msg_signature: sha1Signature(options.token, timestamp, nonce, echostr), timestamp, nonce, echostr };
    },
  };
}
