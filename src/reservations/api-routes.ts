/**
 * POST /api/reservations/redeem: a business system (a sales counter, an order service) verifies and
 * redeems a code at purchase with its source API key. The customer is named by any CRM identity when the
 * code is bound to its owner. Exactly once; the same Idempotency-Key gets the same answer.
 */
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import { z } from 'zod';
import { DomainError } from '../infra/errors.js';
import { idempotencyKeyOf, jsonBody, parse } from '../infra/http/parse.js';
import { redeemCode, type ReservationDeps } from './service.js';

const RedeemApiBody = z
  .object({
    code: z.string().min(1).max(40),
    customer: z
      .object({
        kind: z.enum(['profile', 'customer_no', 'unionid', 'phone']),
        value: z.string().min(1).max(64),
      })
      .strict()
      .optional(),
    orderRef: z.string().min(1).max(64),
  })
  .strict();

export interface ReservationApiDeps {
  reservations: ReservationDeps;
  jsonBodyLimitBytes: number;
  /** The calling source's id for a valid API key (throws unauthenticated otherwise). */
  authenticate(apiKey: string | undefined): Promise<string>;
  /** A profile id for an identity, if known. */
  profileOf(kind: 'customer_no' | 'unionid' | 'phone', value: string): Promise<string | undefined>;
}

export function reservationApiRoutes(deps: ReservationApiDeps): Router {
  const router = new Router({ prefix: '/api/reservations' });
  // A verified key is remembered for 30 s (keyed by its SHA-256), so a counter redeeming codes all day
  // costs no database read per request; a deactivated key stops working within that time.
  const known = new Map<string, { sourceId: string; at: number }>();
  const authenticate = async (key: string | undefined): Promise<string> => {
    const digest = key ? createHash('sha256').update(key).digest('hex') : '';
    const hit = known.get(digest);
    if (key && hit && Date.now() - hit.at < 30_000) return hit.sourceId;
    const sourceId = await deps.authenticate(key);
    if (known.size > 1000) known.clear();
    known.set(digest, { sourceId, at: Date.now() });
    return sourceId;
  };
  router.post('/redeem', async (ctx) => {
    const bearer = /^Bearer (.+)$/i.exec(ctx.get('authorization'))?.[1];
    const sourceId = await authenticate(ctx.get('x-api-key') || bearer);
    await jsonBody(deps.jsonBodyLimitBytes)(ctx, async () => undefined);
    const body = parse(RedeemApiBody, ctx.request.body);
    let profileId: string | undefined;
    if (body.customer) {
      profileId =
        body.customer.kind === 'profile'
          ? body.customer.value
          : await deps.profileOf(body.customer.kind, body.customer.value);
      if (!profileId) throw new DomainError('not_found', 'customer_not_found', 'No customer with this identity.');
    }
    const redemption = await redeemCode(deps.reservations, {
      code: body.code,
      channel: 'api',
      ...(profileId ? { profileId } : {}),
      actor: `apikey:${sourceId}`,
      orderRef: body.orderRef,
      idempotencyKey: idempotencyKeyOf(ctx) ?? `api:${sourceId}:${body.orderRef}`,
      throttle: [`ip:${ctx.ip}`],
    });
    ctx.body = { redemption: { ...redemption, at: redemption.at.toISOString() } };
  });
  return router;
}
