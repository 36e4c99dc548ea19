/**
 * Reservation codes on the customer's H5 page (inside WeChat, signed in by OAuth): open programs, the
 * customer's own codes in full, claiming, and redeeming — the same exactly-once service as the chat and
 * the counter, with the customer's session as the owner.
 */
import Router from '@koa/router';
import { z } from 'zod';
import type { AppConfig } from '../infra/config.js';
import { DomainError } from '../infra/errors.js';
import { idempotencyKeyOf, jsonBody, parse } from '../infra/http/parse.js';
import { requireCustomer } from '../h5/session.js';
import { claimCode, codesOfOwner, openPrograms, redeemCode, type ReservationDeps } from './service.js';

const ClaimBody = z.object({ programId: z.string().regex(/^rp_[0-9a-f]{20}$/) }).strict();
const RedeemBody = z
  .object({ code: z.string().min(1).max(40), orderRef: z.string().min(1).max(64).optional() })
  .strict();

export function reservationH5Routes(deps: ReservationDeps, config: AppConfig): Router {
  const router = new Router({ prefix: '/api/h5/reservations' });
  router.use(requireCustomer(config), jsonBody(config.http.jsonBodyLimitBytes));
  const customer = (state: { customer?: { profileId: string } }) => {
    if (!state.customer)
      throw new DomainError('unauthenticated', 'customer_session_required', 'Open this page from WeChat.');
    return state.customer;
  };

  router.get('/programs', async (ctx) => {
    const programs = await openPrograms(deps);
    ctx.body = {
      items: programs
        .filter((p) => p.issueMode === 'claim')
        .map((p) => ({
          id: p._id,
          name: p.name,
          description: p.description ?? '',
          issueUntil: p.issueUntil.toISOString(),
        })),
    };
  });
  router.get('/codes', async (ctx) => {
    const codes = await codesOfOwner(deps, customer(ctx.state).profileId, { reveal: true });
    ctx.body = {
      items: codes.map((c) => ({
        programName: c.programName,
        code: c.code,
        status: c.status,
        expiresAt: c.expiresAt.toISOString(),
      })),
    };
  });
  router.post('/claim', async (ctx) => {
    const body = parse(ClaimBody, ctx.request.body);
    const me = customer(ctx.state);
    const key = idempotencyKeyOf(ctx);
    const issued = await claimCode(deps, {
      programId: body.programId,
      profileId: me.profileId,
      via: 'h5',
      ...(key ? { claimKey: `h5:${key}` } : {}),
    });
    ctx.status = issued.created ? 201 : 200;
    ctx.body = { code: issued.code, expiresAt: issued.expiresAt.toISOString(), created: issued.created };
  });
  router.post('/redeem', async (ctx) => {
    const body = parse(RedeemBody, ctx.request.body);
    const me = customer(ctx.state);
    const redemption = await redeemCode(deps, {
      code: body.code,
      channel: 'h5',
      profileId: me.profileId,
      actor: `profile:${me.profileId}`,
      ...(body.orderRef ? { orderRef: body.orderRef } : {}),
      idempotencyKey:
        idempotencyKeyOf(ctx) ?? `h5:${me.profileId}:${body.code.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}`,
      throttle: [`ip:${ctx.ip}`],
    });
    ctx.body = { redemption: { masked: redemption.masked, at: redemption.at.toISOString() } };
  });
  return router;
}
