/**
 * The HTTP application: the middleware list, then each domain's routes. Reads like a table of contents.
 */
import Koa from 'koa';
import type Router from '@koa/router';
import './infra/http/state.js';
import { gatewayRoutes } from './gateway/index.js';
import { errorHandler } from './infra/http/error-handler.js';
import { createInFlight, requestContext } from './infra/http/request-context.js';
import { pingMongo } from './infra/mongo.js';
import { pingRedis } from './infra/redis.js';
import { opsRoutes, type ReadinessCheck } from './ops/routes.js';
import type { AppDeps } from './services.js';
import { ingestionRoutes } from './crm/ingestion/routes.js';
import { crmAdminRoutes } from './crm/routes.js';
import { redEnvelopeAdminRoutes } from './campaigns/redenvelope/routes.js';
import { conversationAdminRoutes } from './conversation/index.js';
import { payNotifyRoutes } from './campaigns/redenvelope/wiring.js';
import { referralAdminRoutes } from './campaigns/referral/routes.js';
import { audienceAdminRoutes } from './audiences/routes.js';
import { h5AuthRoutes } from './h5/session.js';
import { reservationApiRoutes } from './reservations/api-routes.js';
import { reservationH5Routes } from './reservations/h5-routes.js';
import { reservationAdminRoutes } from './reservations/routes.js';
import { pushAdminRoutes, trackingRoutes } from './push/index.js';
import { adminApi, staffDomainAdminRoutes, type AdminRoute } from './staff/index.js';
import { wecomAdminRoutes, wecomCallbackRoutes, wecomSidebarRoutes } from './wecom/index.js';
import { consoleRoutes } from './console/routes.js';
import { redEnvelopeH5Routes } from './campaigns/redenvelope/h5-routes.js';
import { referralH5Routes } from './campaigns/referral/h5-routes.js';

export interface AppOptions {
  /** Extra readiness checks (e.g. Agenda on worker processes). */
  readiness?: ReadinessCheck[];
  /** Set while shutting down so /readyz turns 503 and load balancers drain us. */
  isShuttingDown?: () => boolean;
  /** False on worker-only processes: they serve the operations endpoints and nothing else. */
  webRoutes?: boolean;
}

export interface BuiltApp {
  app: Koa;
  inFlight: ReturnType<typeof createInFlight>;
}

/** Every admin API route (/admin/api), from every domain: one registry for permissions, audit and OpenAPI. */
export function adminRoutes(deps: AppDeps): AdminRoute[] {
  return [
    ...staffDomainAdminRoutes(deps),
    ...crmAdminRoutes(deps.crm),
    ...reservationAdminRoutes(deps.reservations),
    ...redEnvelopeAdminRoutes(deps.redEnvelopes),
    ...conversationAdminRoutes(deps.conversation),
    ...referralAdminRoutes(deps.referrals),
    ...wecomAdminRoutes(deps.wecomDomain),
    ...audienceAdminRoutes({}),
    ...pushAdminRoutes(deps.push),
  ];
}

/** Each domain's routers, in the order they are matched. */
function domainRoutes(deps: AppDeps): Router[] {
  return [
    gatewayRoutes(deps),
    wecomCallbackRoutes({ ...deps, bodyLimitBytes: deps.config.callback.bodyLimitBytes }),
    adminApi(deps, adminRoutes(deps)),
    ingestionRoutes(deps.crm, { jsonBodyLimitBytes: deps.config.http.jsonBodyLimitBytes }),
    reservationApiRoutes({
      reservations: deps.reservations,
      jsonBodyLimitBytes: deps.config.http.jsonBodyLimitBytes,
      authenticate: async (key) => (await deps.crm.ingestion.authenticate(key))._id.toString(),
      profileOf: async (kind, value) => {
        const identity =
          kind === 'phone'
            ? deps.crm.identities.phone(value, true)
            : kind === 'unionid'
              ? deps.crm.identities.of.unionid(value)
              : deps.crm.identities.of.customerNo(value);
        return (await deps.crm.identities.find(identity))?.toHexString();
      },
    }),
    payNotifyRoutes(deps.pay, deps.redEnvelopes),
    h5AuthRoutes({
      config: deps.config,
      redis: deps.redis,
      authorizeUrl: (account, input) => deps.wechatClients(account).authorizeUrl({ ...input, scope: 'snsapi_base' }),
      exchangeCode: (account, code) => deps.wechatClients(account).exchangeCode(code),
      resolveProfile: async (account, openid, unionid) => {
        const identities = [deps.crm.identities.of.openid(account, openid)];
        if (unionid) identities.push(deps.crm.identities.of.unionid(unionid));
        const resolved = await deps.crm.identities.resolve({
          identities,
          source: `wechat:${account}`,
          seed: { stage: 'follower' },
        });
        return resolved.profileId.toHexString();
      },
    }),
    reservationH5Routes(deps.reservations, deps.config),
    wecomSidebarRoutes({
      wecomDomain: deps.wecomDomain,
      scopeOf: async (staffId) => {
        const staff = await deps.staff.accounts.get(staffId);
        return staff.status === 'active' ? { staffId, scope: staff.scope } : undefined;
      },
      publicBaseUrl: deps.config.publicBaseUrl,
      secureCookies: deps.config.env === 'production',
    }),
    redEnvelopeH5Routes({
      config: deps.config,
      redEnvelopes: deps.redEnvelopes,
      signJsSdk: (account, url) => deps.wechatClients(account).signJsSdk(url),
    }),
    referralH5Routes(deps.referrals, deps.config),
    consoleRoutes(),
    trackingRoutes(deps.push),
  ];
}

export function buildApp(deps: AppDeps, options: AppOptions = {}): BuiltApp {
  // Behind one proxy (docker/nginx.conf appends the peer to X-Forwarded-For), only the LAST entry is
  // trustworthy: the leftmost ones are whatever the client sent, and per-IP login throttling keys on ctx.ip.
  const app = new Koa({ proxy: deps.config.http.trustProxy, maxIpsCount: 1 });
  // Koa's default error listener prints stacks to stderr; our error handler already logged what matters.
  app.silent = true;
  const inFlight = createInFlight();

  app.use(requestContext(deps.logger, deps.metrics, inFlight));
  app.use(errorHandler());

  const readiness: ReadinessCheck[] = [
    {
      name: 'shutdown',
      check: async () => {
        if (options.isShuttingDown?.()) throw new Error('shutting down');
      },
    },
    { name: 'mongodb', check: () => pingMongo() },
    { name: 'redis', check: () => pingRedis(deps.redis) },
    ...(options.readiness ?? []),
  ];
  const routers = [opsRoutes({ metrics: deps.metrics, readiness })];
  if (options.webRoutes !== false) {
    routers.push(...domainRoutes(deps));
  }

  for (const router of routers) app.use(router.routes()).use(router.allowedMethods());
  return { app, inFlight };
}
