/** Builds WeChat callback requests the way the platform does (signed, optionally encrypted), and opens replies. */
import { randomBytes, randomInt } from 'node:crypto';
import { createMessageCrypto, sha1Signature } from '../../src/platform/wechat/crypto.js';
import { cdata, parseXml, textOf } from '../../src/platform/wechat/xml.js';

export interface TestAccount {
  key: string;
  appid: string;
  token: string;
  aesKey?: string;
}

/** The default account from config/test.ts (safe mode). */
export const DEFAULT_ACCOUNT: TestAccount = {
  key: 'default',
  appid: 'wxb11529c136998cb6',
  token: 'pamtest',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
export const PLAIN_ACCOUNT: TestAccount = { key: 'plainacct', appid: 'wx1111111111111111', token: 'plaintoken' };
export const COMPAT_ACCOUNT: TestAccount = {
  key: 'compat',
  appid: 'wx2222222222222222',
  token: 'compattoken',
  aesKey: 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj',
};
export const OLD_AES_KEY = 'oldoldoldoldoldoldoldoldoldoldoldoldold1234';
export const ROTATED_ACCOUNT: TestAccount = {
  key: 'rotated',
  appid: 'wx3333333333333333',
  token: 'rotatedtoken',
  aesKey: 'newnewnewnewnewnewnewnewnewnewnewnewnew1234',
};

/** Settings adding the extra accounts to the test app. */
export const ACCOUNT_SETTINGS: Record<string, string> = {
  WECHAT_ACCOUNTS: 'plainacct,compat,rotated',
  WECHAT_PLAINACCT_APPID: PLAIN_ACCOUNT.appid,
  WECHAT_PLAINACCT_APPSECRET: 'plain-secret-0001',
  WECHAT_PLAINACCT_TOKEN: PLAIN_ACCOUNT.token,
  WECHAT_PLAINACCT_MODE: 'plain',
  WECHAT_COMPAT_APPID: COMPAT_ACCOUNT.appid,
  WECHAT_COMPAT_APPSECRET: 'compat-secret-0001',
  WECHAT_COMPAT_TOKEN: COMPAT_ACCOUNT.token,
  WECHAT_COMPAT_AES_KEY: COMPAT_ACCOUNT.aesKey!,
  WECHAT_COMPAT_MODE: 'compatible',
  WECHAT_ROTATED_APPID: ROTATED_ACCOUNT.appid,
  WECHAT_ROTATED_APPSECRET: 'rotated-secret-0001',
  WECHAT_ROTATED_TOKEN: ROTATED_ACCOUNT.token,
  WECHAT_ROTATED_AES_KEY: ROTATED_ACCOUNT.aesKey!,
  WECHAT_ROTATED_AES_KEY_PREVIOUS: OLD_AES_KEY,
  WECHAT_ROTATED_MODE: 'safe',
};

export function randomOpenid(): string {
  return `o${randomBytes(13).toString('base64url')}`;
}

let msgCounter = BigInt(randomInt(1, 2 ** 40)) * 1000n;
export function nextMsgId(): string {
  msgCounter += 1n;
  return String(msgCounter);
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** A push document; `fields` in order, strings as CDATA, numbers plain, raw XML via { raw }. */
export function pushXml(fields: Record<string, string | number | { raw: string }>): string {
  const body = Object.entries(fields)
    .map(([k, v]) =>
      typeof v === 'number'
        ? `<${k}>${v}</${k}>`
        : typeof v === 'string'
          ? `<${k}>${cdata(v)}</${k}>`
          : `<${k}>${v.raw}</${k}>`,
    )
    .join('\n');
  return `<xml>\n${body}\n</xml>`;
}

export function textXml(options: { openid?: string; content?: string; msgId?: string; to?: string } = {}): string {
  return pushXml({
    ToUserName: options.to ?? 'gh_test00000001',
    FromUserName: options.openid ?? randomOpenid(),
    CreateTime: nowSeconds(),
    MsgType: 'text',
    Content: options.content ?? 'hello',
    MsgId: options.msgId ?? nextMsgId(),
  });
}

export function eventXml(
  event: string,
  extra: Record<string, string | number | { raw: string }> = {},
  openid = randomOpenid(),
): string {
  return pushXml({
    ToUserName: 'gh_test00000001',
    FromUserName: openid,
    CreateTime: nowSeconds(),
    MsgType: 'event',
    Event: event,
    ...extra,
  });
}

export interface BuiltRequest {
  path: string;
  body: string;
  nonce: string;
  timestamp: string;
}

function pathOf(account: TestAccount, query: Record<string, string>, alias: boolean): string {
  const base = alias ? '/wechat/callback' : `/wechat/${account.key}/callback`;
  return `${base}?${new URLSearchParams(query).toString()}`;
}

export interface BuildOptions {
  timestamp?: string;
  nonce?: string;
  alias?: boolean;
  /** Encrypt with this key instead of the account's. */
  aesKey?: string;
  /** Encrypt for this appid instead of the account's. */
  appid?: string;
}

/** A plaintext-mode push: `signature` over token, timestamp, nonce. */
export function plainRequest(account: TestAccount, xml: string, options: BuildOptions = {}): BuiltRequest {
  const timestamp = options.timestamp ?? String(nowSeconds());
  const nonce = options.nonce ?? String(randomInt(1e9));
  const signature = sha1Signature(account.token, timestamp, nonce);
  return {
    path: pathOf(account, { signature, timestamp, nonce }, options.alias ?? false),
    body: xml,
    nonce,
    timestamp,
  };
}

/** Encrypts `xml` the way WeChat does and signs the Encrypt value. */
export function sealed(account: TestAccount, xml: string, options: BuildOptions = {}) {
  const timestamp = options.timestamp ?? String(nowSeconds());
  const nonce = options.nonce ?? String(randomInt(1e9));
  const crypto = createMessageCrypto(options.aesKey ?? account.aesKey!, options.appid ?? account.appid);
  const encrypt = crypto.encrypt(xml);
  return { timestamp, nonce, encrypt, msgSignature: sha1Signature(account.token, timestamp, nonce, encrypt) };
}

/** A safe-mode push: only ToUserName and Encrypt in the body, `msg_signature` on the URL. */
export function safeRequest(account: TestAccount, xml: string, options: BuildOptions = {}): BuiltRequest {
  const s = sealed(account, xml, options);
  return encryptedRequest(
    account,
    s,
    `<xml><ToUserName>${cdata('gh_test00000001')}</ToUserName><Encrypt>${cdata(s.encrypt)}</Encrypt></xml>`,
    options,
  );
}

/** A compatible-mode push: the plain fields and the Encrypt element together. */
export function compatibleRequest(account: TestAccount, xml: string, options: BuildOptions = {}): BuiltRequest {
  const s = sealed(account, xml, options);
  return encryptedRequest(account, s, xml.replace('</xml>', `<Encrypt>${cdata(s.encrypt)}</Encrypt></xml>`), options);
}

export function encryptedRequest(
  account: TestAccount,
  s: { timestamp: string; nonce: string; encrypt: string; msgSignature: string },
  body: string,
  options: BuildOptions = {},
): BuiltRequest {
  const signature = sha1Signature(account.token, s.timestamp, s.nonce);
  return {
    path: pathOf(
      account,
      { signature, timestamp: s.timestamp, nonce: s.nonce, encrypt_type: 'aes', msg_signature: s.msgSignature },
      options.alias ?? false,
    ),
    body,
    nonce: s.nonce,
    timestamp: s.timestamp,
  };
}

/** Opens an encrypted reply like WeChat would: checks MsgSignature, decrypts with `aesKey`. */
export function openReply(account: TestAccount, body: string, aesKey = account.aesKey!): string {
  const envelope = parseXml(body);
  const encrypt = textOf(envelope, 'Encrypt')!;
  const signature = sha1Signature(account.token, textOf(envelope, 'TimeStamp')!, textOf(envelope, 'Nonce')!, encrypt);
  if (signature !== textOf(envelope, 'MsgSignature')) throw new Error('reply MsgSignature does not verify');
  return createMessageCrypto(aesKey, account.appid).decrypt(encrypt);
}
