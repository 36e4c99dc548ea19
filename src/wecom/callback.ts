/**
 * The WeCom callback, one straight line like the official-account gateway's: verify → decrypt (receiveid =
 * CorpID) → parse → dedup → hand the event over → answer. It shares the gateway's WXBizMsgCrypt
 * (platform/wechat/crypto through platform/wecom/crypto), its hardened XML codec, its Redis dedup and its
 * query-parameter rules; only what WeCom does differently lives here (msg_signature on every request,
 * the decrypted echostr as the GET answer, no plaintext mode). Every refusal is a DomainError (4xx).
 */
import { DomainError } from '../infra/errors.js';
import type { EventBus } from '../infra/events.js';
import type { WecomConfig } from '../infra/config.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { param, type Dedup, type Query } from '../gateway/index.js';
import { MessageCryptoError, type CryptoErrorCode } from '../platform/wechat/crypto.js';
import { parseXml, XmlError } from '../platform/wechat/xml.js';
import {
  createWecomCallbackCrypto,
  encryptedPartOf,
  WecomCallbackError,
  wecomEventOf,
  type WecomCallbackCrypto,
  type WecomEvent,
} from '../platform/wecom/index.js';
import { WECOM_INBOUND } from './events.js';

export interface WecomCallbackRequest {
  corp: WecomConfig;
  query: Query;
  requestId: string;
  log: Logger;
  receivedAt: number;
}

export interface WecomCallback {
  /** GET: the decrypted echostr when msg_signature matches. */
  verifyUrl(request: WecomCallbackRequest): string;
  /** POST: verifies, decrypts, de-duplicates and publishes the event; answers "" (WeCom wants 200 fast). */
  receive(request: WecomCallbackRequest, body: string): Promise<string>;
}

export interface WecomCallbackDeps {
  corps: WecomConfig[];
  maxSkewSeconds: number;
  dedup: Dedup;
  events: EventBus;
  metrics: Metrics;
  now?: () => number;
}

const CRYPTO_CODES: Record<CryptoErrorCode, string> = {
  invalid_aes_key: 'invalid_aes_key',
  invalid_base64: 'invalid_base64',
  invalid_ciphertext: 'invalid_ciphertext',
  invalid_padding: 'invalid_padding',
  invalid_length: 'invalid_length',
  receive_id_mismatch: 'corpid_mismatch',
};

export function createWecomCallback(deps: WecomCallbackDeps): WecomCallback {
  const now = deps.now ?? Date.now;
  const cryptos = new Map<string, WecomCallbackCrypto>(
    deps.corps.map((c) => [
      c.key,
      createWecomCallbackCrypto({ token: c.token, encodingAESKey: c.encodingAESKey, corpid: c.corpid }),
    ]),
  );
  const outcomes = deps.metrics.counter('wecom_callbacks_total', 'WeCom pushes by outcome', ['outcome']);

  function cryptoOf(corp: WecomConfig): WecomCallbackCrypto {
    const crypto = cryptos.get(corp.key);
    if (!crypto) throw new DomainError('not_found', 'unknown_corp', 'No such WeCom corp.');
    return crypto;
  }

  /** The signed parameters, each once, timestamp digits and (when configured) within the allowed skew. */
  function signedQuery(query: Query) {
    const msgSignature = param(query, 'msg_signature', true);
    const timestamp = param(query, 'timestamp', true);
    const nonce = param(query, 'nonce', true);
    if (!/^\d{1,12}$/.test(timestamp))
      throw new DomainError('invalid', 'invalid_parameter', 'timestamp must be digits.');
    if (deps.maxSkewSeconds > 0 && Math.abs(now() / 1000 - Number(timestamp)) > deps.maxSkewSeconds)
      throw new DomainError('unauthenticated', 'timestamp_skew', 'The timestamp is too far from our clock.');
    return { msg_signature: msgSignature, timestamp, nonce };
  }

  /** Runs a crypto step, turning its named failures into 4xx DomainErrors. */
  function opened<T>(step: () => T): T {
    try {
      return step();
    } catch (err) {
      if (err instanceof WecomCallbackError) {
        if (err.code === 'bad_signature')
          throw new DomainError('unauthenticated', 'invalid_signature', 'The msg_signature does not match.');
        if (err.code === 'bad_body') throw new DomainError('invalid', 'missing_encrypt', 'The body has no Encrypt.');
        if (err.code === 'stale_timestamp')
          throw new DomainError('unauthenticated', 'timestamp_skew', 'The timestamp is too far from our clock.');
        throw new DomainError('invalid', 'missing_parameter', err.message);
      }
      if (err instanceof MessageCryptoError)
        throw new DomainError('invalid', CRYPTO_CODES[err.code], 'The message cannot be decrypted for this corp.');
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

  return {
    verifyUrl(request) {
      const crypto = cryptoOf(request.corp);
      const signed = signedQuery(request.query);
      const echostr = param(request.query, 'echostr', true);
      return opened(() => crypto.verifyUrl({ ...signed, echostr }));
    },

    async receive(request, body) {
      const crypto = cryptoOf(request.corp);
      const signed = signedQuery(request.query);
      // The envelope is read by the shared codec first, so a DOCTYPE or broken XML is refused as such.
      opened(() => parseXml(body));
      if (!encryptedPartOf(body)) throw new DomainError('invalid', 'missing_encrypt', 'The body has no Encrypt.');
      const xml = opened(() => crypto.openMessage(signed, body));
      const event: WecomEvent = opened(() => wecomEventOf(parseXml(xml)));
      if (event.corpid !== request.corp.corpid)
        throw new DomainError('invalid', 'corpid_mismatch', 'The message names another corp.');

      const key = `wecom:${request.corp.key}:${event.dedupKey}`;
      let claim;
      try {
        claim = await deps.dedup.claim(key);
      } catch (err) {
        request.log.error({ err }, 'wecom dedup unavailable');
        throw new DomainError('unavailable', 'dedup_unavailable', 'Try again later.');
      }
      if (claim.state !== 'owner') {
        outcomes.inc({ outcome: 'duplicate' });
        return '';
      }
      if (event.kind === 'unknown')
        request.log.info(
          { corp: request.corp.key, type: event.changeType ?? event.event ?? event.msgType },
          'wecom push kept',
        );
      deps.events.publish(WECOM_INBOUND, {
        corp: request.corp.key,
        event,
        requestId: request.requestId,
        receivedAt: new Date(request.receivedAt),
      });
      deps.dedup.complete(key, '').catch((err: unknown) => request.log.error({ err }, 'wecom dedup answer not stored'));
      outcomes.inc({ outcome: event.kind === 'unknown' ? 'unknown' : 'accepted' });
      return '';
    },
  };
}
