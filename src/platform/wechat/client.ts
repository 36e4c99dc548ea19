/**
 * The official-account API caller for one account: the access token from `/cgi-bin/stable_token`,
 * shared by every process through Redis (single-flight refresh under a Redis lock), a timeout on every
 * call, a circuit breaker per account, and the three dispositions of a platform error:
 *   refresh_token (40001/40014/42001)  the token is dropped, a new one fetched, the call retried once
 *   retry (-1, 45009, 5xx, timeouts)     retried with jittered exponential backoff, a few times
 *   give_up (43004, 45015, 40003, 40037…) thrown at once
 * https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
 */
import { z } from 'zod';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Redis } from '../../infra/redis.js';
import {
  backoffMs,
  createCircuitBreaker,
  createPlatformHttp,
  createTokenCache,
  PlatformError,
  type CircuitBreaker,
  type PlatformHttp,
  type PlatformRequest,
  type TokenCache,
} from '../kernel/index.js';

export interface WechatAccountCredentials {
  /** Our key for the account (config WECHAT_ACCOUNT_KEY / WECHAT_ACCOUNTS). */
  key: string;
  appid: string;
  secret: string;
  /** https://api.weixin.qq.com, or the sandbox's /wechat base. */
  apiBase: string;
}

export interface WechatRetryPolicy {
  /** Attempts in total for a retryable failure (1 = no retry). */
  attempts: number;
  baseMs: number;
  capMs: number;
}

export interface WechatCallerOptions {
  account: WechatAccountCredentials;
  redis: Redis;
  logger?: Logger;
  metrics?: Metrics;
  timeoutMs?: number;
  retry?: Partial<WechatRetryPolicy>;
  breaker?: { threshold?: number; cooldownMs?: number };
  /** Shared circuit breaker (the registry keeps one per account and process). */
  circuit?: CircuitBreaker;
}

export interface WechatCallRequest<T> extends PlatformRequest<T> {
  /**
   * False for sends WeChat cannot de-duplicate (customer-service messages, typing): a timeout may mean
   * the message went out, so it is not repeated blindly; the caller decides. Answered errors still retry.
   */
  repeatOnTimeout?: boolean;
}

/** What the API modules build on: calls with the account's access token, and calls without one. */
export interface WechatCaller {
  readonly accountKey: string;
  readonly appid: string;
  readonly apiBase: string;
  /** Calls an endpoint with `access_token` in the query, with token refresh, retries and breaker. */
  call<T>(req: WechatCallRequest<T>): Promise<T>;
  /** Calls an endpoint that does not take the access token (OAuth `sns/*`), with retries and breaker. */
  callWithoutToken<T>(req: WechatCallRequest<T>): Promise<T>;
  /** Binary answers (QR images); errors still come back as JSON. */
  bytes(req: Omit<PlatformRequest<never>, 'schema'>): Promise<{ contentType: string; bytes: Buffer }>;
  /** The current access token (fetched or refreshed when needed). */
  accessToken(): Promise<string>;
  /** Builds another Redis-shared credential (the jsapi_ticket) the same way as the token. */
  sharedCredential(
    name: string,
    fetch: (http: PlatformHttp, accessToken: string) => Promise<{ value: string; expiresIn: number }>,
  ): TokenCache;
  readonly secret: string;
  readonly circuit: CircuitBreaker;
}

const StableToken = z.object({ access_token: z.string().min(1), expires_in: z.number().int().positive() });

const DEFAULT_RETRY: WechatRetryPolicy = { attempts: 3, baseMs: 200, capMs: 5000 };

export function createWechatCaller(options: WechatCallerOptions): WechatCaller {
  const { account, redis } = options;
  const retry: WechatRetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const circuit =
    options.circuit ??
    createCircuitBreaker(`wechat:${account.key}`, {
      threshold: options.breaker?.threshold,
      cooldownMs: options.breaker?.cooldownMs,
    });
  const http: PlatformHttp = createPlatformHttp({
    platform: 'wechat',
    baseUrl: account.apiBase,
    timeoutMs: options.timeoutMs ?? 5000,
    breaker: circuit,
    metrics: options.metrics,
    logger: options.logger,
  });

  // The last token the platform refused here: when stable_token hands back that very token, only a forced
  // refresh (20 a day, 30 s apart) gets past it.
  let lastRefused: string | undefined;
  const tokens = createTokenCache({
    redis,
    key: `wechat:token:${account.appid}`,
    fetchToken: async ({ afterInvalid }) => {
      const fetchOnce = (forceRefresh: boolean) =>
        http.request({
          method: 'POST',
          path: '/cgi-bin/stable_token',
          body: {
            grant_type: 'client_credential',
            appid: account.appid,
            secret: account.secret,
            force_refresh: forceRefresh,
          },
          schema: StableToken,
        });
      let fetched = await fetchOnce(false);
      if (afterInvalid && fetched.access_token === lastRefused) fetched = await fetchOnce(true);
      return { token: fetched.access_token, expiresInSeconds: fetched.expires_in };
    },
  });

  /** Runs a call with the shared token, remembering a token the platform refuses. */
  function withToken<T>(fn: (token: string) => Promise<T>): Promise<T> {
    return tokens.use(async (token) => {
      try {
        return await fn(token);
      } catch (err) {
        if (err instanceof PlatformError && err.disposition === 'refresh_token') lastRefused = token;
        throw err;
      }
    });
  }

  async function withRetries<T>(req: WechatCallRequest<T>, attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof PlatformError) || err.disposition !== 'retry') throw err;
        // An open circuit means "not now": failing fast is its whole point.
        if (err.errcode === 'circuit_open') throw err;
        if (err.errcode === 'timeout' && req.repeatOnTimeout === false) throw err;
        if (n + 1 >= retry.attempts) throw err;
        const delay = Math.max(1, backoffMs(n, retry.baseMs, retry.capMs));
        options.logger?.debug(
          { account: account.key, endpoint: req.path, errcode: err.errcode, attempt: n + 1, delayMs: delay },
          'retrying wechat call',
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  return {
    accountKey: account.key,
    appid: account.appid,
    apiBase: account.apiBase,
    secret: account.secret,
    circuit,
    call<T>(req: WechatCallRequest<T>): Promise<T> {
      return withRetries(req, () =>
        withToken((token) => http.request({ ...req, query: { ...req.query, access_token: token } })),
      );
    },
    callWithoutToken<T>(req: WechatCallRequest<T>): Promise<T> {
      return withRetries(req, () => http.request(req));
    },
    bytes(req) {
      return withRetries(req, () => http.requestBytes(req));
    },
    accessToken: () => tokens.get(),
    sharedCredential(name, fetch) {
      return createTokenCache({
        redis,
        key: `wechat:${name}:${account.appid}`,
        fetchToken: async () => {
          const got = await withRetries({ method: 'GET', path: name }, () => withToken((t) => fetch(http, t)));
          return { token: got.value, expiresInSeconds: got.expiresIn };
        },
      });
    },
  };
}
