/**
 * Turns the registry of admin routes into one Koa router under /admin/api. The guard pipeline is the
 * same for every route and visible here: authenticate → check permission → parse input → handler →
 * check response (tests) → append the audit entry. The OpenAPI document and its docs page are served
 * from the same registry.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AppConfig } from '../../infra/config.js';
import { DomainError, isDomainError } from '../../infra/errors.js';
import { jsonBody, parse } from '../../infra/http/parse.js';
import type { AuditInput } from '../../audit/service.js';
import type { Principal } from '../principal.js';
import { buildOpenApiDocument } from './openapi.js';
import { docsPage } from './docs.js';
import { ADMIN_API_PREFIX, registryProblems, type AdminCall, type AdminRoute, type AuditNote } from './route.js';

export interface AdminApiDeps {
  config: AppConfig;
  /** Verifies a bearer access token and returns who is calling; throws DomainError('unauthenticated'). */
  authenticate(accessToken: string): Promise<Principal>;
  /** Appends one audit entry (append-only). */
  recordAudit(entry: AuditInput): Promise<void>;
}

function bearerOf(ctx: Context): string {
  const header = ctx.get('authorization');
  const match = /^Bearer ([A-Za-z0-9_.~+/=-]{10,4096})$/.exec(header);
  if (!match?.[1])
    throw new DomainError('unauthenticated', 'unauthenticated', 'Sign in: send Authorization: Bearer <access token>.');
  return match[1];
}

/** Builds the router; throws at start-up when a route breaks the conventions (no permission, unaudited write). */
export function adminApiRouter(deps: AdminApiDeps, routes: readonly AdminRoute[]): Router {
  const problems = registryProblems(routes);
  if (problems.length > 0) throw new Error(`admin routes break the conventions:\n  ${problems.join('\n  ')}`);

  const router = new Router({ prefix: ADMIN_API_PREFIX });
  router.use(jsonBody(deps.config.http.jsonBodyLimitBytes));

  let openapi: unknown;
  router.get('/openapi.json', (ctx) => {
    openapi ??= buildOpenApiDocument(routes, { publicBaseUrl: deps.config.publicBaseUrl });
    ctx.body = openapi;
  });
  router.get('/docs', (ctx) => {
    ctx.type = 'html';
    ctx.set(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    );
    ctx.body = docsPage(`${ADMIN_API_PREFIX}/openapi.json`);
  });

  const checkResponses = deps.config.env === 'test';

  for (const route of routes) {
    const { def } = route;
    router[def.method](def.path, async (ctx) => {
      const principal = def.permission === 'public' ? undefined : await deps.authenticate(bearerOf(ctx));
      const note: AuditNote = {};
      const call: AdminCall<typeof def.permission, unknown, unknown, unknown> = {
        principal,
        params: undefined,
        query: undefined,
        body: undefined,
        requestId: ctx.state.requestId,
        ip: ctx.ip,
        userAgent: ctx.get('user-agent').slice(0, 200),
        log: principal ? ctx.state.log.child({ staffId: principal.staffId }) : ctx.state.log,
        audit: note,
      };
      const audit = async (outcome: 'ok' | 'denied' | 'failed', errorCode?: string) => {
        if (!def.audit) return;
        const actor =
          note.actor ?? (principal ? { staffId: principal.staffId, username: principal.username } : undefined);
        const params = ctx.params as Record<string, string | undefined>;
        try {
          await deps.recordAudit({
            action: def.audit.action,
            outcome,
            errorCode,
            actorId: actor?.staffId,
            actorUsername: actor?.username,
            targetType: def.audit.targetType,
            targetId: note.targetId ?? params.id,
            before: note.before,
            after: note.after,
            requestId: ctx.state.requestId,
            ip: ctx.ip,
            route: `${def.method.toUpperCase()} ${ADMIN_API_PREFIX}${def.path}`,
          });
        } catch (err) {
          // The write already happened; losing its audit entry must be loud, not silent.
          ctx.state.log.error({ err, action: def.audit.action }, 'audit entry not written');
        }
      };

      try {
        if (principal && def.permission !== 'public' && def.permission !== 'authenticated') {
          if (!principal.permissions.has(def.permission))
            throw new DomainError('forbidden', 'permission_denied', `This needs the ${def.permission} permission.`, {
              permission: def.permission,
            });
        }
        call.params = def.params ? parse(def.params, ctx.params) : undefined;
        call.query = def.query ? parse(def.query, ctx.query) : undefined;
        const rawBody = (ctx.request as { body?: unknown }).body;
        call.body = def.body ? parse(def.body, rawBody ?? {}) : undefined;

        const result = await route.handler(call);
        if (def.response) {
          // The response schema is also an allow-list: fields it does not name (a hash, an internal flag)
          // are stripped. A mismatch fails tests loudly; in production it is logged and the body sent as is.
          const checked = def.response.safeParse(result);
          if (!checked.success) {
            const message = `response of ${def.method} ${def.path} does not match its schema: ${checked.error.message}`;
            if (checkResponses) throw new Error(message);
            ctx.state.log.error({ route: def.path }, message);
          }
          ctx.status = def.status ?? 200;
          ctx.body = checked.success ? checked.data : result;
        } else {
          ctx.status = 204;
        }
      } catch (err) {
        if (isDomainError(err) && (err.kind === 'forbidden' || err.kind === 'unauthenticated'))
          await audit('denied', err.code);
        else if (isDomainError(err) && def.permission === 'public') await audit('failed', err.code);
        throw err;
      }
      await audit('ok');
    });
  }
  return router;
}
