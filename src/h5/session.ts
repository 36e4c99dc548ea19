/**
 * Customers on H5 pages inside WeChat: OAuth2 web authorisation (snsapi_base) gives their openid, which the
 * CRM resolves to a profile; the page then holds a short customer session — an HS256 JWT with its own
 * audience, so a customer token can never pass as a staff token — in an httpOnly cookie (or a Bearer header).
 *   GET /h5/oauth/start?account=<key>&next=/h5/...   → WeChat's consent page
 *   GET /h5/oauth/callback?code=…&state=…            → session cookie, redirect to `next`
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import type { AppConfig } from '../infra/config.js';
import { DomainError } from '../infra/errors.js';
import { parse } from '../infra/http/parse.js';
import type { Redis } from '../infra/redis.js';

export const CUSTOMER_AUDIENCE = 'wechat-scrm-h5';
const COOKIE = 'scrm_h5';
const TTL_SECONDS = 2 * 3600;

export interface CustomerSession {
  profileId: string;
  account: string;
  openid: string;
}

export interface H5Deps {
  config: AppConfig;
  redis: Redis;
  exchangeCode(account: string, code: string): Promise<{ openid: string; unionid?: string }>;
  authorizeUrl(account: string, input: { redirectUri: string; state: string }): string;
  resolveProfile(account: string, openid: string, unionid?: string): Promise<string>;
}

function sign(config: AppConfig, session: CustomerSession): string {
  return jwt.sign({ acc: session.account, oid: session.openid }, config.auth.jwtSecret, {
    algorithm: 'HS256',
    subject: session.profileId,
    audience: CUSTOMER_AUDIENCE,
    issuer: config.auth.jwtIssuer,
    expiresIn: TTL_SECONDS,
  });
}

function verify(config: AppConfig, token: string): CustomerSession {
  try {
    const claims = jwt.verify(token, config.auth.jwtSecret, {
      algorithms: ['HS256'],
      audience: CUSTOMER_AUDIENCE,
      issuer: config.auth.jwtIssuer,
    }) as jwt.JwtPayload & { acc?: unknown; oid?: unknown };
    if (typeof claims.sub !== 'string' || typeof claims.acc !== 'string' || typeof claims.oid !== 'string')
      throw new Error('claims');
    return { profileId: claims.sub, account: claims.acc, openid: claims.oid };
  } catch {
    throw new DomainError('unauthenticated', 'customer_session_invalid', 'Open this page from WeChat again.');
  }
}

/**
 * The OAuth state: a one-time random nonce (WeChat allows 128 of [A-Za-z0-9]) remembered in Redis for ten
 * minutes with the account and the return path, so nobody can forge a sign-in or send a customer elsewhere.
 */
async function stateOf(redis: Redis, account: string, next: string): Promise<string> {
  const nonce = randomBytes(16).toString('hex');
  await redis.set(`h5:oauth:${nonce}`, JSON.stringify({ account, next }), 'EX', 600);
  return nonce;
}

async function readState(redis: Redis, state: string): Promise<{ account: string; next: string }> {
  const saved = /^[0-9a-f]{32}$/.test(state) ? await redis.getdel(`h5:oauth:${state}`) : null;
  if (!saved)
    throw new DomainError('invalid', 'oauth_state_invalid', 'The sign-in link is not valid; open the page again.');
  return JSON.parse(saved) as { account: string; next: string };
}

const NextPath = z.string().regex(/^\/h5\/[A-Za-z0-9/_-]{0,100}$/, 'a path under /h5/');

export function h5AuthRoutes(deps: H5Deps): Router {
  const router = new Router({ prefix: '/h5/oauth' });
  router.get('/start', async (ctx) => {
    const q = parse(
      z.object({ account: z.string().max(32).optional(), next: NextPath.optional() }).strict(),
      ctx.query,
    );
    const account = q.account ?? deps.config.wechat.defaultAccount;
    if (!deps.config.wechat.accounts.some((a) => a.key === account))
      throw new DomainError('not_found', 'unknown_account', 'No such account.');
    const redirectUri = `${deps.config.publicBaseUrl}/h5/oauth/callback`;
    ctx.redirect(
      deps.authorizeUrl(account, { redirectUri, state: await stateOf(deps.redis, account, q.next ?? '/h5/') }),
    );
  });
  router.get('/callback', async (ctx) => {
    const q = parse(
      z.object({ code: z.string().min(1).max(128), state: z.string().min(1).max(512) }).strict(),
      ctx.query,
    );
    const { account, next } = await readState(deps.redis, q.state);
    const grant = await deps.exchangeCode(account, q.code);
    const profileId = await deps.resolveProfile(account, grant.openid, grant.unionid);
    const token = sign(deps.config, { profileId, account, openid: grant.openid });
    ctx.cookies.set(COOKIE, token, {
      httpOnly: true,
      sameSite: 'lax',
      secure: deps.config.env === 'production',
      maxAge: TTL_SECONDS * 1000,
    });
    if (ctx.accepts('json', 'html') === 'json') ctx.body = { token, next };
    else ctx.redirect(next);
  });
  return router;
}

/** Middleware: the customer's session from the cookie or `Authorization: Bearer`. */
export function requireCustomer(config: AppConfig) {
  return async (ctx: Context, next: Next) => {
    const bearer = /^Bearer (.+)$/i.exec(ctx.get('authorization'))?.[1];
    const token = bearer ?? ctx.cookies.get(COOKIE);
    if (!token) throw new DomainError('unauthenticated', 'customer_session_required', 'Open this page from WeChat.');
    ctx.state.customer = verify(config, token);
    await next();
  };
}
