/**
 * The callback pipeline, one straight line (docs: architecture "A callback, end to end"):
 * verify → decrypt → parse → dedup → deadline → dispatch → reply. Free of Koa: the route hands it the
 * query and the raw body and sends back what it returns. Every refusal is a DomainError with a code.
 */
import { DomainError } from '../infra/errors.js';
import type { EventBus } from '../infra/events.js';
import type { AppConfig, WechatAccountConfig } from '../infra/config.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import {
  createMessageCrypto,
  MessageCryptoError,
  sha1Signature,
  signaturesEqual,
  type CryptoErrorCode,
  type MessageCrypto,
} from '../platform/wechat/crypto.js';
import { dedupKeyOf, InboundError, parseInbound, type Inbound } from '../platform/wechat/inbound.js';
import { renderReply, type Reply } from '../platform/wechat/replies.js';
import { cdata, encryptOf, parseXml, XmlError, type XmlNode } from '../platform/wechat/xml.js';
import type { AuditWriter } from './audit.js';
import type { CustomerServiceSender } from './customer-service.js';
import type { Dedup } from './dedup.js';
import { WECHAT_INBOUND } from './events.js';
import type { HandlerRegistry } from './registry.js';

export type Query = Record<string, string | string[] | undefined>;

export interface CallbackRequest {
  account: WechatAccountConfig;
  query: Query;
  requestId: string;
  log: Logger;
  /** Epoch ms when the request arrived: the deadline counts from here. */
  receivedAt: number;
}

export interface CallbackAnswer {
  contentType: 'text/plain' | 'application/xml';
  body: string;
}

export interface CallbackGateway {
  /** URL verification (GET): the echostr when the signature matches. */
  verifyUrl(request: CallbackRequest): CallbackAnswer;
  /** A push (POST): the passive reply, "success", or a DomainError. */
  receive(request: CallbackRequest, body: string): Promise<CallbackAnswer>;
  /** Resolves when every late reply started so far has been handed to the sender. */
  idle(): Promise<void>;
}

export interface GatewayDeps {
  config: AppConfig;
  registry: HandlerRegistry;
  events: EventBus;
  dedup: Dedup;
  audit: AuditWriter;
  customerService: CustomerServiceSender;
  metrics: Metrics;
  now?: () => number;
}

interface AccountKeys {
  current?: MessageCrypto;
  previous?: MessageCrypto;
}

const SUCCESS: CallbackAnswer = { contentType: 'text/plain', body: 'success' };

const CRYPTO_CODES: Record<CryptoErrorCode, [string, string]> = {
  invalid_aes_key: ['invalid_aes_key', 'The account key cannot decrypt this message.'],
  invalid_base64: ['invalid_base64', 'Encrypt is not valid base64.'],
  invalid_ciphertext: ['invalid_ciphertext', 'Encrypt is not a valid AES-CBC ciphertext.'],
  invalid_padding: ['invalid_padding', 'The decrypted message has invalid PKCS#7 padding.'],
  invalid_length: ['invalid_length', 'The decrypted message has an invalid length.'],
  receive_id_mismatch: ['appid_mismatch', 'The message was encrypted for another AppID.'],
};

/** One query parameter: refused when repeated or longer than 512; `required` refuses it missing or empty. */
export function param(query: Query, name: string, required: true): string;
export function param(query: Query, name: string, required: false): string | undefined;
export function param(query: Query, name: string, required: boolean): string | undefined {
  const v = query[name];
  if (Array.isArray(v)) throw new DomainError('invalid', 'invalid_parameter', `${name} is given more than once.`);
  if (v === undefined || v === '') {
    if (required) throw new DomainError('invalid', 'missing_parameter', `${name} is required.`);
    return undefined;
  }
  if (v.length > 512) throw new DomainError('invalid', 'invalid_parameter', `${name} is too long.`);
  return v;
}

export function createCallbackGateway(deps: GatewayDeps): CallbackGateway {
  const now = deps.now ?? Date.now;
  const { deadlineMs, maxSkewSeconds } = deps.config.callback;
  const keys = new Map<string, AccountKeys>();
  for (const a of deps.config.wechat.accounts) {
    keys.set(a.key, {
      ...(a.encodingAESKey ? { current: createMessageCrypto(a.encodingAESKey, a.appid) } : {}),
      ...(a.encodingAESKeyPrevious ? { previous: createMessageCrypto(a.encodingAESKeyPrevious, a.appid) } : {}),
    });
  }
  const outcomes = deps.metrics.counter('wechat_callbacks_total', 'WeChat pushes by outcome', ['outcome']);
  const late = new Set<Promise<void>>();

  /** Checks the timestamp (digits, and within the configured skew) and returns the URL's nonce. */
  function checkFreshness(query: Query): { timestamp: string; nonce: string } {
    const timestamp = param(query, 'timestamp', true);
    const nonce = param(query, 'nonce', true);
    if (!/^\d{1,12}$/.test(timestamp))
      throw new DomainError('invalid', 'invalid_parameter', 'timestamp must be digits.');
    if (maxSkewSeconds > 0 && Math.abs(now() / 1000 - Number(timestamp)) > maxSkewSeconds)
      throw new DomainError('unauthenticated', 'timestamp_skew', 'The timestamp is too far from our clock.');
    return { timestamp, nonce };
  }

  function checkUrlSignature(account: WechatAccountConfig, query: Query, timestamp: string, nonce: string): void {
    const given = param(query, 'signature', true);
    if (!signaturesEqual(sha1Signature(account.token, timestamp, nonce), given))
      throw new DomainError('unauthenticated', 'invalid_signature', 'The signature does not match.');
  }

  function parseBody(body: string): XmlNode {
    return xmlErrorsAsDomain(() => parseXml(body));
  }

  function xmlErrorsAsDomain<T>(parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      if (err instanceof XmlError)
        throw new DomainError(
          'invalid',
          err.code,
          err.code === 'xml_doctype_refused'
            ? 'XML with DOCTYPE or entities is refused.'
            : 'The body is not valid XML.',
        );
      throw err;
    }
  }

  /** Decrypts with the current key, then the previous one (key rotation); returns the key that worked. */
  function decrypt(account: WechatAccountConfig, encrypt: string): { xml: string; crypto: MessageCrypto } {
    const k = keys.get(account.key);
    if (!k?.current)
      throw new DomainError('invalid', 'encryption_not_configured', 'This account has no EncodingAESKey configured.');
    try {
      return { xml: k.current.decrypt(encrypt), crypto: k.current };
    } catch (err) {
      if (!(err instanceof MessageCryptoError)) throw err;
      if (k.previous) {
        try {
          return { xml: k.previous.decrypt(encrypt), crypto: k.previous };
        } catch (prevErr) {
          if (!(prevErr instanceof MessageCryptoError)) throw prevErr;
        }
      }
      const [code, message] = CRYPTO_CODES[err.code];
      throw new DomainError('invalid', code, message);
    }
  }

  function encryptedAnswer(
    account: WechatAccountConfig,
    crypto: MessageCrypto,
    xml: string,
    nonce: string,
  ): CallbackAnswer {
    const encrypt = crypto.encrypt(xml);
    const timestamp = String(Math.floor(now() / 1000));
    const signature = sha1Signature(account.token, timestamp, nonce, encrypt);
    return {
      contentType: 'application/xml',
      body: `<xml><Encrypt>${cdata(encrypt)}</Encrypt><MsgSignature>${cdata(signature)}</MsgSignature><TimeStamp>${timestamp}</TimeStamp><Nonce>${cdata(nonce)}</Nonce></xml>`,
    };
  }

  function answerOf(
    account: WechatAccountConfig,
    xml: string,
    crypto: MessageCrypto | undefined,
    nonce: string,
  ): CallbackAnswer {
    if (xml === '') return SUCCESS;
    return crypto ? encryptedAnswer(account, crypto, xml, nonce) : { contentType: 'application/xml', body: xml };
  }

  /** Runs the handler chain under the deadline; a late reply goes out through the customer-service API. */
  async function dispatchWithDeadline(
    request: CallbackRequest,
    inbound: Inbound,
  ): Promise<{ reply: Reply | undefined; deferred: boolean }> {
    const deadlineAt = request.receivedAt + deadlineMs;
    const controller = new AbortController();
    const work = deps.registry
      .dispatch(inbound, {
        account: request.account.key,
        requestId: request.requestId,
        log: request.log,
        signal: controller.signal,
        deadlineAt,
      })
      .then((reply) => ({ reply }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadlineAt - now()));
    });
    const outcome = await Promise.race([work, timeout]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return { reply: outcome.reply, deferred: false };

    controller.abort();
    const task = work.then(async ({ reply }) => {
      if (!reply) return;
      if (reply.type === 'transfer_customer_service') {
        request.log.warn({ account: request.account.key }, 'late transfer_customer_service reply dropped');
        return;
      }
      try {
        await deps.customerService.send(request.account.key, inbound.openid, reply);
        outcomes.inc({ outcome: 'late_reply_sent' });
      } catch (err) {
        outcomes.inc({ outcome: 'late_reply_failed' });
        request.log.error({ err, account: request.account.key }, 'late reply could not be sent');
      }
    });
    late.add(task);
    void task.finally(() => late.delete(task));
    return { reply: undefined, deferred: true };
  }

  return {
    verifyUrl(request) {
      const { timestamp, nonce } = checkFreshness(request.query);
      checkUrlSignature(request.account, request.query, timestamp, nonce);
      const echostr = param(request.query, 'echostr', true);
      return { contentType: 'text/plain', body: echostr };
    },

    async receive(request, body) {
      const { account, query, log } = request;
      const { timestamp, nonce } = checkFreshness(query);
      const encryptType = param(query, 'encrypt_type', false) ?? 'raw';
      if (encryptType !== 'raw' && encryptType !== 'aes')
        throw new DomainError('invalid', 'invalid_parameter', 'encrypt_type must be raw or aes.');

      let fields: XmlNode;
      let crypto: MessageCrypto | undefined;
      let plaintext: string;
      if (encryptType === 'aes') {
        const msgSignature = param(query, 'msg_signature', true);
        const encrypt = xmlErrorsAsDomain(() => encryptOf(body));
        if (!encrypt) throw new DomainError('invalid', 'missing_encrypt', 'The body has no Encrypt element.');
        if (!signaturesEqual(sha1Signature(account.token, timestamp, nonce, encrypt), msgSignature))
          throw new DomainError('unauthenticated', 'invalid_signature', 'The msg_signature does not match.');
        const opened = decrypt(account, encrypt);
        crypto = opened.crypto;
        plaintext = opened.xml;
        fields = parseBody(plaintext);
      } else {
        // Security comes from configuration: a safe-mode account never accepts a plaintext push.
        if (account.mode === 'safe')
          throw new DomainError('invalid', 'encryption_required', 'This account accepts encrypted pushes only.');
        checkUrlSignature(account, query, timestamp, nonce);
        plaintext = body;
        fields = parseBody(body);
      }

      let inbound: Inbound;
      try {
        inbound = parseInbound(fields);
      } catch (err) {
        if (err instanceof InboundError) throw new DomainError('invalid', 'invalid_message', err.message);
        throw err;
      }

      const key = `${account.key}:${dedupKeyOf(inbound)}`;
      let claim;
      try {
        claim = await deps.dedup.claim(key);
      } catch (err) {
        // Without dedup we cannot promise one side effect: let WeChat retry later.
        log.error({ err }, 'dedup unavailable');
        throw new DomainError('unavailable', 'dedup_unavailable', 'Try again later.');
      }
      if (claim.state === 'done') {
        outcomes.inc({ outcome: 'duplicate' });
        return answerOf(account, claim.answer, crypto, nonce);
      }
      if (claim.state === 'pending') {
        outcomes.inc({ outcome: 'duplicate_waited' });
        const answer = await deps.dedup.waitForAnswer(key, request.receivedAt + deadlineMs);
        return answerOf(account, answer ?? '', crypto, nonce);
      }

      const typeName =
        inbound.kind === 'message'
          ? inbound.type === 'unknown'
            ? inbound.msgType
            : inbound.type
          : inbound.event === 'unknown'
            ? inbound.eventName
            : inbound.event;
      if (
        (inbound.kind === 'message' && inbound.type === 'unknown') ||
        (inbound.kind === 'event' && inbound.event === 'unknown')
      )
        log.warn({ account: account.key, kind: inbound.kind, type: typeName }, 'unknown inbound type kept');
      deps.audit.record({
        account: account.key,
        dedupKey: key,
        kind: inbound.kind,
        type: typeName,
        openid: inbound.openid,
        createTime: inbound.createTime,
        xml: plaintext,
        encrypted: crypto !== undefined,
        receivedAt: new Date(request.receivedAt),
      });
      deps.events.publish(WECHAT_INBOUND, {
        account: account.key,
        inbound,
        requestId: request.requestId,
        receivedAt: new Date(request.receivedAt),
      });

      const { reply, deferred } = await dispatchWithDeadline(request, inbound);
      const xml = reply
        ? renderReply(reply, {
            toUser: inbound.openid,
            fromUser: inbound.toUserName,
            createTime: Math.floor(now() / 1000),
            answering: inbound.kind,
          })
        : '';
      deps.dedup.complete(key, xml).catch((err: unknown) => log.error({ err }, 'dedup answer not stored'));
      outcomes.inc({ outcome: deferred ? 'deferred' : reply ? 'replied' : 'no_reply' });
      return answerOf(account, xml, crypto, nonce);
    },

    async idle() {
      while (late.size > 0) await Promise.allSettled([...late]);
    },
  };
}
