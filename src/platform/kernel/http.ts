/**
 * JSON over HTTP to WeChat-style APIs: a timeout on every call, `errcode` turned into a typed
 * PlatformError, a per-account circuit breaker, latency metrics by endpoint. The access token travels
 * in the query string and is never logged (endpoints are logged by path only).
 */
import type { z } from 'zod';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { CircuitOpenError, type CircuitBreaker } from './circuit-breaker.js';
import { dispositionOf, PlatformError, type Platform } from './errors.js';

export interface PlatformHttpOptions {
  platform: Platform;
  baseUrl: string;
  timeoutMs: number;
  breaker?: CircuitBreaker;
  metrics?: Metrics;
  logger?: Logger;
}

export interface PlatformRequest<T> {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | number | undefined>;
  /** JSON, or a FormData sent as multipart/form-data. */
  body?: unknown;
  /** Response schema: an unexpected shape is a PlatformError('bad_response'), never a crash downstream. */
  schema?: z.ZodType<T>;
}

export interface PlatformHttp {
  readonly baseUrl: string;
  request<T>(req: PlatformRequest<T>): Promise<T>;
  /** For endpoints that answer binary data (e.g. media, QR images) on success and JSON on error. */
  requestBytes(req: Omit<PlatformRequest<never>, 'schema'>): Promise<{ contentType: string; bytes: Buffer }>;
}

export function createPlatformHttp(options: PlatformHttpOptions): PlatformHttp {
  const duration = options.metrics?.histogram(
    'platform_call_duration_seconds',
    'Calls to WeChat, WeChat Pay and WeCom by endpoint and outcome',
    ['platform', 'endpoint', 'outcome'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );

  function urlOf(path: string, query?: Record<string, string | number | undefined>): string {
    const url = new URL(options.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  async function send(req: Omit<PlatformRequest<unknown>, 'schema'>): Promise<Response> {
    try {
      options.breaker?.before();
    } catch (err) {
      if (err instanceof CircuitOpenError)
        throw new PlatformError(options.platform, req.path, 'circuit_open', err.message, 'retry', 0);
      throw err;
    }
    try {
      // A FormData body goes as multipart/form-data (media uploads); fetch writes its boundary.
      const form = req.body instanceof FormData ? req.body : undefined;
      const res = await fetch(urlOf(req.path, req.query), {
        method: req.method,
        headers: req.body === undefined || form ? {} : { 'content-type': 'application/json' },
        body: req.body === undefined ? undefined : (form ?? JSON.stringify(req.body)),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (res.status >= 500) {
        options.breaker?.failure();
        await res.body?.cancel();
        throw new PlatformError(options.platform, req.path, `http_${res.status}`, res.statusText, 'retry', res.status);
      }
      return res;
    } catch (err) {
      if (err instanceof PlatformError) throw err;
      options.breaker?.failure();
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new PlatformError(
        options.platform,
        req.path,
        timedOut ? 'timeout' : 'network',
        timedOut ? `no answer within ${options.timeoutMs} ms` : err instanceof Error ? err.message : 'network error',
        'retry',
        0,
      );
    }
  }

  function settle(req: { path: string }, body: unknown): void {
    const errcode = typeof body === 'object' && body !== null && 'errcode' in body ? Number(body.errcode) : 0;
    if (errcode !== 0 && !Number.isNaN(errcode)) {
      const disposition = dispositionOf(errcode);
      if (disposition === 'retry') options.breaker?.failure();
      else options.breaker?.success();
      const rawMsg = (body as { errmsg?: unknown }).errmsg;
      const errmsg = typeof rawMsg === 'string' ? rawMsg : '';
      throw new PlatformError(options.platform, req.path, errcode, errmsg, disposition, 200);
    }
    options.breaker?.success();
  }

  async function timed<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    let outcome = 'ok';
    try {
      return await fn();
    } catch (err) {
      outcome = err instanceof PlatformError ? String(err.errcode) : 'error';
      options.logger?.debug({ endpoint: path, outcome }, 'platform call failed');
      throw err;
    } finally {
      duration?.observe(
        { platform: options.platform, endpoint: path, outcome },
        Number(process.hrtime.bigint() - start) / 1e9,
      );
    }
  }

  return {
    baseUrl: options.baseUrl,
    request<T>(req: PlatformRequest<T>): Promise<T> {
      return timed(req.path, async () => {
        const res = await send(req);
        const text = await res.text();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          options.breaker?.failure();
          throw new PlatformError(
            options.platform,
            req.path,
            'bad_response',
            `not JSON (HTTP ${res.status})`,
            'retry',
            res.status,
          );
        }
        settle(req, body);
        if (!req.schema) return body as T;
        const parsed = req.schema.safeParse(body);
        if (!parsed.success)
          throw new PlatformError(
            options.platform,
            req.path,
            'bad_response',
            parsed.error.issues[0]?.message ?? 'unexpected shape',
            'give_up',
            res.status,
          );
        return parsed.data;
      });
    },
    requestBytes(req) {
      return timed(req.path, async () => {
        const res = await send(req);
        const contentType = res.headers.get('content-type') ?? '';
        const bytes = Buffer.from(await res.arrayBuffer());
        if (contentType.includes('json') || contentType.startsWith('text/plain')) {
          let body: unknown;
          try {
            body = JSON.parse(bytes.toString('utf8'));
          } catch {
            body = undefined;
          }
          if (body !== undefined) settle(req, body);
        } else {
          options.breaker?.success();
        }
        return { contentType, bytes };
      });
    },
  };
}
