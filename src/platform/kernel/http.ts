/**
 * JSON over HTTP to WeChat-style APIs: a timeout on every call, `errcode` turned into a typed
 * PlatformError, a per-account circuit breaker, latency metrics by endpoint. The access token travels
 * in the query string and is never logged (endpoints are logged by path only).
 */
import { EventEmitter } from 'node:events';
import { Agent, request } from 'undici';
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

/** One keep-alive pool per process for every platform client (a push keeps up to a few dozen calls in flight). */
const dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: 128 });

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT']);

function timedOut(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (
    err.name === 'TimeoutError' || err.name === 'AbortError' || (typeof code === 'string' && TIMEOUT_CODES.has(code))
  );
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

  /** What a call answered: the status, its content type and the body, read once. */
  interface Answer {
    status: number;
    contentType: string;
    text(): Promise<string>;
    bytes(): Promise<Buffer>;
  }

  async function call(req: Omit<PlatformRequest<unknown>, 'schema'>): Promise<Answer> {
    const url = urlOf(req.path, req.query);
    // A FormData body goes as multipart/form-data (media uploads) through fetch, which writes its boundary.
    if (req.body instanceof FormData) {
      const res = await fetch(url, {
        method: req.method,
        body: req.body,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      return {
        status: res.status,
        contentType: res.headers.get('content-type') ?? '',
        text: () => res.text(),
        bytes: async () => Buffer.from(await res.arrayBuffer()),
      };
    }
    // JSON calls go through undici's request on a keep-alive pool: the hot path (a push's template sends)
    // costs a fraction of fetch's CPU (no WHATWG streams, no AbortSignal per call). undici's own timeouts
    // tick once a second, so the deadline is a plain timer that aborts the call, body included.
    const abort = new EventEmitter();
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      abort.emit('abort');
    }, options.timeoutMs);
    try {
      const res = await request(url, {
        method: req.method,
        dispatcher,
        signal: abort,
        headers: req.body === undefined ? {} : { 'content-type': 'application/json' },
        ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      const contentType = res.headers['content-type'];
      return {
        status: res.statusCode,
        contentType: (Array.isArray(contentType) ? contentType[0] : contentType) ?? '',
        text: () => Promise.resolve(body.toString('utf8')),
        bytes: () => Promise.resolve(body),
      };
    } catch (err) {
      throw expired
        ? Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { name: 'TimeoutError' })
        : err;
    } finally {
      clearTimeout(timer);
    }
  }

  async function send(req: Omit<PlatformRequest<unknown>, 'schema'>): Promise<Answer> {
    try {
      options.breaker?.before();
    } catch (err) {
      if (err instanceof CircuitOpenError)
        throw new PlatformError(options.platform, req.path, 'circuit_open', err.message, 'retry', 0);
      throw err;
    }
    try {
      const res = await call(req);
      if (res.status >= 500) {
        options.breaker?.failure();
        await res.bytes().catch(() => undefined);
        throw new PlatformError(
          options.platform,
          req.path,
          `http_${res.status}`,
          `HTTP ${res.status}`,
          'retry',
          res.status,
        );
      }
      return res;
    } catch (err) {
      if (err instanceof PlatformError) throw err;
      options.breaker?.failure();
      throw new PlatformError(
        options.platform,
        req.path,
        timedOut(err) ? 'timeout' : 'network',
        timedOut(err)
          ? `no answer within ${options.timeoutMs} ms`
          : err instanceof Error
            ? err.message
            : 'network error',
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
        const contentType = res.contentType;
        const bytes = await res.bytes();
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
