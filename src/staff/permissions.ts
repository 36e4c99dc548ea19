/**
 * Roles and named permissions: the ONE place that says who may do what, for every domain (present and
 * future). Routes declare a permission; one middleware checks it against the principal's roles.
 * Add a permission here first, then grant it to roles, then declare it on a route.
 */
import { z } from 'zod';

export const PERMISSIONS = [
  // crm
  'customer:read',
  'customer:write',
  'customer:export',
  'customer:merge',
  'lead:manage',
  'tag:manage',
  // audiences, pushes, templates
  'audience:manage',
  'push:send',
  'push:approve',
  'template:manage',
  // campaigns: red envelopes, referrals
  'campaign:manage',
  'campaign:approve',
  'payout:review',
  'reconciliation:read',
  // reservations
  'reservation:manage',
  'reservation:verify',
  // conversation: menus, keyword rules, hand-off
  'conversation:manage',
  'menu:publish',
  // risk review queue
  'risk:review',
  // reports and dashboards
  'report:read',
  // staff, approvals, audit
  'staff:manage',
  'approval:read',
  /** Route-level gate for approve/reject; the request's own permission (push:approve...) is checked too. */
  'approval:decide',
  'audit:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['admin', 'marketing', 'sales', 'service', 'finance', 'auditor'] as const;
export type Role = (typeof ROLES)[number];
export const RoleSchema = z.enum(ROLES);

/**
 * Route access levels besides a named permission: `public` (no token: login, refresh) and
 * `authenticated` (any signed-in staff member acting on their own session: me, logout).
 */
export type RouteAccess = Permission | 'public' | 'authenticated';

const ALL: readonly Permission[] = PERMISSIONS;

/** Role → permissions. Auditors read, never write; approvals are split from the actions they approve. */
export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  admin: ALL,
  marketing: [
    'customer:read',
    'customer:export',
    'tag:manage',
    'audience:manage',
    'push:send',
    'push:approve',
    'template:manage',
    'campaign:manage',
    'reservation:manage',
    'conversation:manage',
    'menu:publish',
    'report:read',
    'approval:read',
    'approval:decide',
  ],
  sales: ['customer:read', 'customer:write', 'lead:manage', 'tag:manage'],
  service: ['customer:read', 'conversation:manage', 'reservation:verify'],
  finance: [
    'payout:review',
    'reconciliation:read',
    'campaign:approve',
    'report:read',
    'approval:read',
    'approval:decide',
    'risk:review',
  ],
  auditor: ['audit:read', 'customer:read', 'report:read', 'approval:read', 'reconciliation:read'],
};

/** Every permission granted by any of the roles. */
export function permissionsOf(roles: readonly Role[]): ReadonlySet<Permission> {
  const set = new Set<Permission>();
  for (const role of roles) for (const p of ROLE_PERMISSIONS[role]) set.add(p);
  return set;
}

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}
