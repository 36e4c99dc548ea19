/** Reviewing four-eyes requests. Requests are created by the services of the actions they guard. */
import { pageOf } from '../api/pagination.js';
import { adminRoute, type AdminRoute } from '../api/route.js';
import { IdParams } from '../api/schemas.js';
import { ApprovalListQuery, ApprovalView, DecisionBody, type Approvals } from './service.js';

export function approvalAdminRoutes(deps: { approvals: Approvals }): AdminRoute[] {
  const { approvals } = deps;
  return [
    adminRoute(
      {
        method: 'get',
        path: '/approvals',
        permission: 'approval:read',
        summary: 'List approval requests, newest first',
        tags: ['approvals'],
        query: ApprovalListQuery,
        response: pageOf(ApprovalView),
      },
      async (call) => approvals.list(call.query),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/approvals/:id',
        permission: 'approval:read',
        summary: 'Read an approval request',
        tags: ['approvals'],
        params: IdParams,
        response: ApprovalView,
      },
      async (call) => approvals.get(call.params.id),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/approvals/:id/approve',
        permission: 'approval:decide',
        summary: "Approve someone else's request (needs the request's own approve permission too)",
        tags: ['approvals'],
        params: IdParams,
        body: DecisionBody,
        response: ApprovalView,
        audit: { action: 'approval.approve', targetType: 'approval' },
      },
      async (call) => {
        const view = await approvals.approve(call.principal, call.params.id, call.body.reason);
        call.audit.after = { status: view.status, action: view.action, subjectId: view.subjectId };
        return view;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/approvals/:id/reject',
        permission: 'approval:decide',
        summary: "Reject someone else's request (needs the request's own approve permission too)",
        tags: ['approvals'],
        params: IdParams,
        body: DecisionBody,
        response: ApprovalView,
        audit: { action: 'approval.reject', targetType: 'approval' },
      },
      async (call) => {
        const view = await approvals.reject(call.principal, call.params.id, call.body.reason);
        call.audit.after = { status: view.status, action: view.action, subjectId: view.subjectId };
        return view;
      },
    ),
  ];
}
