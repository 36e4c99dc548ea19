/**
 * Input validation at the edge: zod schemas, strict objects, one clear error listing each bad field.
 */
import type { Context } from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';
import type { z } from 'zod';
import { DomainError } from '../errors.js';

/** Parses `input` with `schema` or throws DomainError('invalid', 'invalid_input') naming every bad field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  throw new DomainError('invalid', 'invalid_input', 'The request has invalid fields.', { fields });
}

/** JSON bodies only, bounded; malformed JSON is a 400, other content types a 415. */
export function jsonBody(limitBytes: number): Middleware {
  const parser = bodyParser({ enableTypes: ['json'], jsonLimit: limitBytes, encoding: 'utf-8' });
  return async (ctx, next) => {
    const hasBody = ctx.request.length !== undefined ? ctx.request.length > 0 : ctx.get('transfer-encoding') !== '';
    if (['POST', 'PUT', 'PATCH'].includes(ctx.method) && hasBody && !ctx.is('json')) {
      throw new DomainError('invalid', 'unsupported_media_type', 'Send JSON with Content-Type: application/json.');
    }
    try {
      await parser(ctx, async () => undefined);
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 413)
        throw new DomainError('too_large', 'payload_too_large', `The body is larger than ${limitBytes} bytes.`);
      throw new DomainError('invalid', 'malformed_json', 'The body is not valid JSON.');
    }
    await next();
  };
}

/** The Idempotency-Key header, when present and well-formed. */
export function idempotencyKeyOf(ctx: Context): string | undefined {
  const key = ctx.get('idempotency-key');
  if (!key) return undefined;
  if (!/^[A-Za-z0-9._:-]{8,128}$/.test(key))
    throw new DomainError('invalid', 'invalid_idempotency_key', 'Idempotency-Key must be 8-128 of A-Z a-z 0-9 . _ : -');
  return key;
}
