/**
 * The WeCom (企业微信) client for one corp + secret: an access token per (corpid, secret) shared by every
 * process through the kernel's Redis token cache (one refresh at a time; refreshed and retried once on
 * 40001/40014/42001), JSON calls with timeouts, typed errcodes and a circuit breaker per corp.
 * https://developer.work.weixin.qq.com/document/path/91039 (gettoken)
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { WecomConfig } from '../../infra/config.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Redis } from '../../infra/redis.js';
import { createCircuitBreaker, type CircuitBreaker } from '../kernel/circuit-breaker.js';
import { PlatformError } from '../kernel/errors.js';
import { createPlatformHttp, type PlatformHttp } from '../kernel/http.js';
import { createTokenCache, type TokenCache } from '../kernel/token-cache.js';

export interface WecomClientOptions {
  config: Pick<WecomConfig, 'corpid' | 'secret' | 'apiBase'> & Partial<WecomConfig>;
  redis: Redis;
  timeoutMs?: number;
  breaker?: CircuitBreaker;
  metrics?: Metrics;
  logger?: Logger;
}

export interface WecomCall<T> {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  schema?: z.ZodType<T>;
}

export interface WecomClient {
  readonly corpid: string;
  readonly tokens: TokenCache;
  readonly http: PlatformHttp;
  /** Calls an API with the access token (refreshed and retried once when WeCom says it is bad). */
  call<T>(req: WecomCall<T>): Promise<T>;
}

const TokenResponse = z.object({ access_token: z.string().min(1).max(512), expires_in: z.number().int().positive() });

/** The Redis key of a corp+secret's token: the secret itself never leaves this process. */
export function wecomTokenKey(corpid: string, secret: string): string {
  return `wecom:token:${corpid}:${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;
}

export function createWecomClient(options: WecomClientOptions): WecomClient {
  const { config } = options;
  const http = createPlatformHttp({
    platform: 'wecom',
    baseUrl: config.apiBase,
    timeoutMs: options.timeoutMs ?? 5000,
    breaker: options.breaker ?? createCircuitBreaker(`wecom:${config.corpid}`),
    metrics: options.metrics,
    logger: options.logger,
  });
  const tokens = createTokenCache({
    redis: options.redis,
    key: wecomTokenKey(config.corpid, config.secret),
    // WeCom answers the same token while it is valid, so asking again costs nothing but quota.
    fetchToken: async () => {
      try {
        const res = await http.request({
          method: 'GET',
          path: '/cgi-bin/gettoken',
          query: { corpid: config.corpid, corpsecret: config.secret },
          schema: TokenResponse,
        });
        return { token: res.access_token, expiresInSeconds: res.expires_in };
      } catch (err) {
        // 40001 from gettoken means a wrong secret, not a stale token: refreshing again cannot help.
        if (err instanceof PlatformError && err.disposition === 'refresh_token')
          throw new PlatformError('wecom', err.endpoint, err.errcode, err.errmsg, 'give_up', err.httpStatus);
        throw err;
      }
    },
  });
  return {
    corpid: config.corpid,
    tokens,
    http,
    call<T>(req: WecomCall<T>): Promise<T> {
      return tokens.use((token) =>
        http.request({
          method: req.method,
          path: req.path,
          query: { ...req.query, access_token: token },
          body: req.body,
          schema: req.schema,
        }),
      );
    },
  };
}
