/**
 * One error shape for JSON APIs: { error: { code, message, requestId, details? } }.
 * DomainErrors map kind → status; anything else is logged once with the request id and answered
 * `internal_error` with no internals.
 */
import type { Middleware } from 'koa';
import { HTTP_STATUS_BY_KIND, isDomainError } from '../errors.js';

interface HttpishError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  message?: string;
}

export function errorHandler(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: { code: 'not_found', message: 'No such route.', requestId: ctx.state.requestId } };
      }
    } catch (err) {
      if (isDomainError(err)) {
        ctx.status = HTTP_STATUS_BY_KIND[err.kind];
        ctx.body = {
          error: {
            code: err.code,
            message: err.message,
            requestId: ctx.state.requestId,
            ...(err.details ? { details: err.details } : {}),
          },
        };
        if (err.kind === 'rate_limited' && typeof err.details?.retryAfterSeconds === 'number')
          ctx.set('Retry-After', String(Math.ceil(err.details.retryAfterSeconds)));
        return;
      }
      // Errors raised by body parsers and koa itself (4xx with `expose`) keep their status, with a stable code.
      const e = err as HttpishError;
      const status = e.status ?? e.statusCode;
      if (typeof status === 'number' && status >= 400 && status < 500 && e.expose) {
        ctx.status = status;
        const code = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
        ctx.body = { error: { code, message: e.message ?? 'Bad request.', requestId: ctx.state.requestId } };
        return;
      }
      ctx.state.log.error({ err }, 'unhandled error');
      ctx.status = 500;
      ctx.body = {
        error: { code: 'internal_error', message: 'Something went wrong on our side.', requestId: ctx.state.requestId },
      };
    }
  };
}
