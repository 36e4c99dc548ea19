/** Admin routes of the staff domain: auth (login, refresh, logout, me) and staff management. */
import { z } from 'zod';
import { pageOf } from './api/pagination.js';
import { adminRoute, type AdminRoute } from './api/route.js';
import { IdParams } from './api/schemas.js';
import type { StaffAuth } from './auth/service.js';
import { PERMISSIONS } from './permissions.js';
import {
  CreateStaffBody,
  LoginBody,
  MeView,
  RefreshBody,
  ResetPasswordBody,
  StaffListQuery,
  StaffView,
  TokenPair,
  UpdateStaffBody,
} from './schemas.js';
import { staffSummary, type StaffAccounts } from './service.js';

export interface StaffRouteDeps {
  auth: StaffAuth;
  accounts: StaffAccounts;
}

const LoginResponse = z.object({ tokens: TokenPair, staff: StaffView });

export function staffAdminRoutes(deps: StaffRouteDeps): AdminRoute[] {
  const { auth, accounts } = deps;
  return [
    adminRoute(
      {
        method: 'post',
        path: '/auth/login',
        permission: 'public',
        summary: 'Sign in with username and password',
        description: 'Throttled per username and per IP; repeated failures lock the username (429 login_locked).',
        tags: ['auth'],
        body: LoginBody,
        response: LoginResponse,
        audit: { action: 'auth.login', targetType: 'staff' },
      },
      async (call) => {
        call.audit.after = { username: call.body.username.trim().toLowerCase() };
        const result = await auth.login(call.body.username, call.body.password, call);
        call.audit.actor = { staffId: result.staff.id, username: result.staff.username };
        call.audit.targetId = result.staff.id;
        return result;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/auth/refresh',
        permission: 'public',
        summary: 'Exchange a refresh token for new tokens (the old refresh token stops working)',
        description: 'Presenting an already-used refresh token revokes the whole session (401 refresh_token_reused).',
        tags: ['auth'],
        body: RefreshBody,
        response: TokenPair,
        audit: { action: 'auth.refresh', targetType: 'session' },
      },
      async (call) => auth.refresh(call.body.refreshToken, call),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/auth/logout',
        permission: 'authenticated',
        summary: "End the caller's session (refresh and access tokens stop working)",
        tags: ['auth'],
        audit: { action: 'auth.logout', targetType: 'session' },
      },
      async (call) => {
        call.audit.targetId = call.principal.sessionId;
        await auth.logout(call.principal);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/me',
        permission: 'authenticated',
        summary: 'The signed-in staff member and their permissions',
        tags: ['auth'],
        response: MeView,
      },
      async (call) => ({
        staff: await accounts.get(call.principal.staffId),
        permissions: PERMISSIONS.filter((p) => call.principal.permissions.has(p)),
      }),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/staff',
        permission: 'staff:manage',
        summary: 'List staff members',
        tags: ['staff'],
        query: StaffListQuery,
        response: pageOf(StaffView),
      },
      async (call) => accounts.list(call.query),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/staff',
        permission: 'staff:manage',
        summary: 'Create a staff member',
        tags: ['staff'],
        body: CreateStaffBody,
        response: StaffView,
        status: 201,
        audit: { action: 'staff.create', targetType: 'staff' },
      },
      async (call) => {
        const staff = await accounts.create(call.body);
        call.audit.targetId = staff.id;
        call.audit.after = staffSummary(staff);
        return staff;
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/staff/:id',
        permission: 'staff:manage',
        summary: 'Read a staff member',
        tags: ['staff'],
        params: IdParams,
        response: StaffView,
      },
      async (call) => accounts.get(call.params.id),
    ),
    adminRoute(
      {
        method: 'patch',
        path: '/staff/:id',
        permission: 'staff:manage',
        summary: 'Change display name, roles or data scope (role and scope changes end current access tokens)',
        tags: ['staff'],
        params: IdParams,
        body: UpdateStaffBody,
        response: StaffView,
        audit: { action: 'staff.update', targetType: 'staff' },
      },
      async (call) => {
        const { before, after } = await accounts.update(call.params.id, call.body);
        call.audit.before = staffSummary(before);
        call.audit.after = staffSummary(after);
        return after;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/staff/:id/disable',
        permission: 'staff:manage',
        summary: 'Disable a staff member; their sessions end at once',
        tags: ['staff'],
        params: IdParams,
        response: StaffView,
        audit: { action: 'staff.disable', targetType: 'staff' },
      },
      async (call) => {
        const { before, after } = await accounts.disable(call.principal, call.params.id);
        call.audit.before = { status: before.status };
        call.audit.after = { status: after.status };
        return after;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/staff/:id/enable',
        permission: 'staff:manage',
        summary: 'Enable a disabled staff member',
        tags: ['staff'],
        params: IdParams,
        response: StaffView,
        audit: { action: 'staff.enable', targetType: 'staff' },
      },
      async (call) => {
        const { before, after } = await accounts.enable(call.params.id);
        call.audit.before = { status: before.status };
        call.audit.after = { status: after.status };
        return after;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/staff/:id/reset-password',
        permission: 'staff:manage',
        summary: 'Set a new password for a staff member; their sessions end',
        tags: ['staff'],
        params: IdParams,
        body: ResetPasswordBody,
        audit: { action: 'staff.reset_password', targetType: 'staff' },
      },
      async (call) => {
        await accounts.resetPassword(call.params.id, call.body.password);
        call.audit.after = { passwordChanged: true };
      },
    ),
  ];
}
