/**
 * The staff domain's public surface: what other domains and the composition root import.
 *
 * - Declaring admin routes: `adminRoute`, `AdminRoute`, `pageOf`, `PageQuery`, `sortParam`, `findPage`,
 *   `IdParams`, `ObjectIdString`, `IsoDateTime` (see README.md in this folder).
 * - Inside services: `Principal`, `can`, `scopeFilter`, `withinScope`, `inScope`, `DataScope`.
 * - Four-eyes: `Approvals` (deps.approvals).
 */
import type { AppConfig } from '../infra/config.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import { createAuditLog, type AuditLog } from '../audit/service.js';
import { auditAdminRoutes } from '../audit/routes.js';
import { createApprovals, type Approvals } from './approvals/service.js';
import { approvalAdminRoutes } from './approvals/routes.js';
import { adminApiRouter } from './api/router.js';
import type { AdminRoute } from './api/route.js';
import { createStaffAuth, type StaffAuth } from './auth/service.js';
import { createSessionState } from './auth/session-state.js';
import { createLoginThrottle } from './auth/throttle.js';
import { createAccessTokens } from './auth/tokens.js';
import { staffAdminRoutes } from './routes.js';
import { createStaffAccounts, type StaffAccounts } from './service.js';

export { adminRoute, ADMIN_API_PREFIX, type AdminRoute, type AdminCall, type AuditNote } from './api/route.js';
export { adminApiRouter, type AdminApiDeps } from './api/router.js';
export { buildOpenApiDocument } from './api/openapi.js';
export { findPage, pageOf, PageQuery, sortParam, afterCursor, type Page, type SortSpec } from './api/pagination.js';
export { CsvStream, ErrorBody, IdParams, IsoDateTime, ObjectIdString } from './api/schemas.js';
export { can, type Principal } from './principal.js';
export {
  PERMISSIONS,
  ROLES,
  ROLE_PERMISSIONS,
  permissionsOf,
  type Permission,
  type Role,
  type RouteAccess,
} from './permissions.js';
export {
  DataScopeSchema,
  inScope,
  isUnrestricted,
  scopeFilter,
  withinScope,
  type DataScope,
  type ScopeFields,
  type ScopeOf,
} from './scope.js';
export type { Approvals, ApprovalRequest, ApprovalView } from './approvals/service.js';
export type { AuditLog, AuditInput } from '../audit/service.js';
export type { StaffAuth } from './auth/service.js';
export type { StaffAccounts } from './service.js';

export interface StaffModule {
  auth: StaffAuth;
  accounts: StaffAccounts;
}

export interface StaffDomain {
  staff: StaffModule;
  approvals: Approvals;
  audit: AuditLog;
}

/** Builds the staff, approvals and audit services from the infrastructure. */
export function createStaffDomain(infra: { config: AppConfig; redis: Redis; logger: Logger }): StaffDomain {
  const { auth: settings } = infra.config;
  const sessions = createSessionState(infra.redis, settings.accessTtlSeconds);
  const auth = createStaffAuth({
    tokens: createAccessTokens(settings),
    throttle: createLoginThrottle(infra.redis, settings),
    sessions,
    logger: infra.logger,
    accessTtlSeconds: settings.accessTtlSeconds,
    refreshTtlSeconds: settings.refreshTtlSeconds,
  });
  const accounts = createStaffAccounts({ sessions, logger: infra.logger });
  return {
    staff: { auth, accounts },
    approvals: createApprovals(infra.config.approvals),
    audit: createAuditLog(),
  };
}

/** The staff domain's own admin routes (auth, staff, approvals, audit). */
export function staffDomainAdminRoutes(deps: StaffDomain): AdminRoute[] {
  return [...staffAdminRoutes(deps.staff), ...approvalAdminRoutes(deps), ...auditAdminRoutes(deps)];
}

/** The /admin/api router for a list of routes, wired to this domain's authentication and audit log. */
export function adminApi(deps: StaffDomain & { config: AppConfig }, routes: readonly AdminRoute[]) {
  return adminApiRouter(
    {
      config: deps.config,
      authenticate: (token) => deps.staff.auth.authenticate(token),
      recordAudit: (entry) => deps.audit.record(entry),
    },
    routes,
  );
}
