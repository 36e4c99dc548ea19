/**
 * The WeChat Pay v3 client: signs every request, verifies every 2xx response's signature (platform
 * certificate or public-key mode, picked by `Wechatpay-Serial`) inside the replay window, turns error
 * bodies `{code, message}` into PlatformErrors with a disposition (payDispositionOf), and keeps a timeout
 * and a circuit breaker on every call. Platform certificates are (re)loaded from /v3/certificates when a
 * response names a serial we do not know yet.
 */
import { z } from 'zod';
import type { WechatPayConfig } from '../../infra/config.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { CircuitOpenError, createCircuitBreaker, type CircuitBreaker } from '../kernel/circuit-breaker.js';
import { payDispositionOf, PlatformError } from '../kernel/errors.js';
import {
  createKeyring,
  createMerchantSigner,
  decryptResource,
  DEFAULT_MAX_SKEW_SECONDS,
  encryptSensitive,
  PayVerificationError,
  signedHeadersOf,
  verifyPaySignature,
  type MerchantSigner,
  type PayKeyring,
} from './signing.js';

export interface PayClientOptions {
  config: WechatPayConfig;
  timeoutMs?: number;
  /** Replay window for responses and callbacks. */
  maxSkewSeconds?: number;
  breaker?: CircuitBreaker;
  metrics?: Metrics;
  logger?: Logger;
  now?: () => number;
}

export interface PayRequest<T> {
  method: 'GET' | 'POST';
  /** Path below the API base, e.g. /v3/fund-app/mch-transfer/transfer-bills */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  schema?: z.ZodType<T>;
  /** Metric/log label when the path carries ids (e.g. /v3/…/out-bill-no/{out_bill_no}). */
  endpoint?: string;
}

export interface PayClient {
  readonly mchid: string;
  readonly appid: string;
  readonly notifyUrl: string;
  readonly apiV3Key: string;
  readonly keyring: PayKeyring;
  readonly signer: MerchantSigner;
  readonly maxSkewSeconds: number;
  now(): number;
  request<T>(req: PayRequest<T>): Promise<T>;
  /** Downloads /v3/certificates, decrypts them and adds them to the keyring; returns their serials. */
  refreshCertificates(): Promise<string[]>;
  /** RSA-OAEP-encrypts a sensitive field with the preferred WeChat Pay key; returns it with that key's serial. */
  encryptSensitive(plaintext: string): { ciphertext: string; serial: string };
}

const PayErrorBody = z.object({ code: z.string(), message: z.string().optional() }).loose();

const CertificatesBody = z.object({
  data: z.array(
    z.object({
      serial_no: z.string(),
      effective_time: z.string(),
      expire_time: z.string(),
      encrypt_certificate: z.object({
        algorithm: z.string(),
        nonce: z.string(),
        associated_data: z.string(),
        ciphertext: z.string(),
      }),
    }),
  ),
});

export function createPayClient(options: PayClientOptions): PayClient {
  const { config } = options;
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxSkewSeconds = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const keyring = createKeyring({
    publicKeyPem: config.publicKeyPem,
    publicKeyId: config.publicKeyId,
    platformCertPems: config.platformCertPem ? [config.platformCertPem] : [],
  });
  const signer = createMerchantSigner({
    appid: config.appid,
    mchid: config.mchid,
    serialNo: config.serialNo,
    privateKeyPem: config.privateKeyPem,
    now,
  });
  const duration = options.metrics?.histogram(
    'platform_call_duration_seconds',
    'Calls to WeChat, WeChat Pay and WeCom by endpoint and outcome',
    ['platform', 'endpoint', 'outcome'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  let certRefresh: Promise<string[]> | undefined;
  // One breaker per merchant, so a WeChat Pay outage fails fast instead of piling up payouts.
  const breaker = options.breaker ?? createCircuitBreaker(`wechatpay:${config.mchid}`);

  const fail = (endpoint: string, code: string, message: string, disposition: 'retry' | 'give_up', status: number) =>
    new PlatformError('wechatpay', endpoint, code, message, disposition, status);

  async function send(
    req: PayRequest<unknown>,
    endpoint: string,
  ): Promise<{ status: number; headers: Headers; text: string }> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const canonicalUrl = qs.size > 0 ? `${req.path}?${qs.toString()}` : req.path;
    const body = req.body === undefined ? '' : JSON.stringify(req.body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'wechat-scrm/0.1 (node)',
      authorization: signer.authorization(req.method, canonicalUrl, body),
    };
    if (body !== '') headers['content-type'] = 'application/json';
    // Responses are signed with the key named here (public-key mode during a switch-over).
    const serial = keyring.preferredSerial();
    if (serial) headers['wechatpay-serial'] = serial;
    try {
      breaker.before();
    } catch (err) {
      if (err instanceof CircuitOpenError) throw fail(endpoint, 'circuit_open', err.message, 'retry', 0);
      throw err;
    }
    try {
      const res = await fetch(config.apiBase + canonicalUrl, {
        method: req.method,
        headers,
        body: body === '' ? undefined : body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    } catch (err) {
      breaker.failure();
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw fail(
        endpoint,
        timedOut ? 'timeout' : 'network',
        timedOut ? `no answer within ${timeoutMs} ms` : err instanceof Error ? err.message : 'network error',
        'retry',
        0,
      );
    }
  }

  async function verify(endpoint: string, status: number, headers: Headers, text: string): Promise<void> {
    const signed = signedHeadersOf(headers);
    const check = () =>
      verifyPaySignature(keyring, signed, text, { nowSeconds: Math.floor(now() / 1000), maxSkewSeconds });
    try {
      check();
    } catch (first) {
      if (!(first instanceof PayVerificationError)) throw first;
      let e = first;
      // A certificate we have not seen yet (rotation): reload once, then decide.
      if (e.code === 'unknown_serial' && endpoint !== '/v3/certificates' && config.platformCertPem) {
        await client.refreshCertificates();
        try {
          check();
          return;
        } catch (again) {
          if (!(again instanceof PayVerificationError)) throw again;
          e = again;
        }
      }
      breaker.failure();
      options.logger?.warn({ endpoint, code: e.code }, 'WeChat Pay response failed verification');
      // The request may have taken effect: callers retry with the same out_bill_no or query first.
      throw fail(endpoint, 'bad_signature', `${e.code}: ${e.message}`, 'retry', status);
    }
  }

  async function perform<T>(req: PayRequest<T>): Promise<T> {
    const endpoint = req.endpoint ?? req.path;
    const { status, headers, text } = await send(req, endpoint);
    if (status >= 300) {
      let code = `http_${status}`;
      let message = '';
      try {
        const parsed = PayErrorBody.safeParse(JSON.parse(text));
        if (parsed.success) {
          code = parsed.data.code;
          message = parsed.data.message ?? '';
        }
      } catch {
        // not JSON: keep the HTTP status as the code
      }
      const disposition = payDispositionOf(status, code);
      if (disposition === 'retry') breaker.failure();
      else breaker.success();
      throw new PlatformError('wechatpay', endpoint, code, message, disposition, status);
    }
    await verify(endpoint, status, headers, text);
    breaker.success();
    if (status === 204 || text === '') return undefined as T;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw fail(endpoint, 'bad_response', `not JSON (HTTP ${status})`, 'retry', status);
    }
    if (!req.schema) return body as T;
    const parsed = req.schema.safeParse(body);
    if (!parsed.success)
      throw fail(endpoint, 'bad_response', parsed.error.issues[0]?.message ?? 'unexpected shape', 'give_up', status);
    return parsed.data;
  }

  const client: PayClient = {
    mchid: config.mchid,
    appid: config.appid,
    notifyUrl: config.notifyUrl,
    apiV3Key: config.apiV3Key,
    keyring,
    signer,
    maxSkewSeconds,
    now,
    async request<T>(req: PayRequest<T>): Promise<T> {
      const endpoint = req.endpoint ?? req.path;
      const start = process.hrtime.bigint();
      let outcome = 'ok';
      try {
        return await perform(req);
      } catch (err) {
        outcome = err instanceof PlatformError ? String(err.errcode) : 'error';
        options.logger?.debug({ endpoint, outcome }, 'WeChat Pay call failed');
        throw err;
      } finally {
        duration?.observe({ platform: 'wechatpay', endpoint, outcome }, Number(process.hrtime.bigint() - start) / 1e9);
      }
    },
    refreshCertificates() {
      certRefresh ??= (async () => {
        const endpoint = '/v3/certificates';
        const { status, headers, text } = await send({ method: 'GET', path: endpoint }, endpoint);
        if (status !== 200) throw fail(endpoint, `http_${status}`, 'certificate download failed', 'retry', status);
        let pems: string[];
        try {
          const parsed = CertificatesBody.safeParse(JSON.parse(text));
          if (!parsed.success) throw fail(endpoint, 'bad_response', 'unexpected certificate list', 'give_up', status);
          // Decrypting proves the list came from someone holding our APIv3 key.
          pems = parsed.data.data.map((c) => decryptResource(config.apiV3Key, c.encrypt_certificate));
        } catch (err) {
          if (err instanceof PlatformError) throw err;
          breaker.failure();
          const why = err instanceof PayVerificationError ? err.code : 'not JSON';
          throw fail(endpoint, 'bad_response', `certificate list refused: ${why}`, 'retry', status);
        }
        // The list must be signed by a key we already trust or by one of the certificates it carries;
        // only then do its certificates join the keyring.
        const candidates = createKeyring({ platformCertPems: pems });
        const signed = signedHeadersOf(headers);
        const at = { nowSeconds: Math.floor(now() / 1000), maxSkewSeconds };
        const signer = candidates.keyFor(signed.serial ?? '') ? candidates : keyring;
        try {
          verifyPaySignature(signer, signed, text, at);
        } catch (err) {
          if (!(err instanceof PayVerificationError)) throw err;
          breaker.failure();
          throw fail(endpoint, 'bad_signature', `${err.code}: ${err.message}`, 'retry', status);
        }
        const serials = pems.map((pem) => keyring.addCertificate(pem));
        return serials;
      })().finally(() => {
        certRefresh = undefined;
      });
      return certRefresh;
    },
    encryptSensitive(plaintext) {
      const preferred = keyring.preferredKey();
      if (!preferred) throw new Error('no WeChat Pay public key or platform certificate to encrypt with');
      return { ciphertext: encryptSensitive(preferred.key, plaintext), serial: preferred.serial };
    },
  };
  return client;
}
