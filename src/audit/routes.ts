/** Auditors read the log; nothing here (or anywhere) writes to it except the route layer. */
import { adminRoute, type AdminRoute } from '../staff/api/route.js';
import { pageOf } from '../staff/api/pagination.js';
import { AuditEntryView, AuditQuery, type AuditLog } from './service.js';

export function auditAdminRoutes(deps: { audit: AuditLog }): AdminRoute[] {
  return [
    adminRoute(
      {
        method: 'get',
        path: '/audit',
        permission: 'audit:read',
        summary: 'List audit entries (newest first) by actor, action, target, outcome and time',
        tags: ['audit'],
        query: AuditQuery,
        response: pageOf(AuditEntryView),
      },
      async (call) => deps.audit.list(call.query),
    ),
  ];
}
