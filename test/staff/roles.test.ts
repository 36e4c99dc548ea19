/**
 * The role table: every registered admin route, for every role, is allowed exactly when the role holds
 * the route's permission. New routes are covered automatically; a route without a permission fails here.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adminRoutes } from '../../src/app.js';
import { adminRoute, adminApiRouter, PERMISSIONS, ROLE_PERMISSIONS, ROLES, type Role } from '../../src/staff/index.js';
import { registryProblems, WRITE_METHODS } from '../../src/staff/api/route.js';
import { Staff } from '../../src/staff/model.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from './support.js';

/** Routes that need no token: keep this list short and deliberate. */
const PUBLIC_ROUTES = ['POST /auth/login', 'POST /auth/refresh'];
/** Routes any signed-in staff member may call about their own session. */
const SELF_ROUTES = ['POST /auth/logout', 'GET /me', 'POST /me/password'];

const keyOf = (def: { method: string; path: string }) => `${def.method.toUpperCase()} ${def.path}`;
const concretePath = (path: string) => path.replace(/:[A-Za-z0-9_]+/g, () => randomBytes(12).toString('hex'));

describe('admin routes and roles', () => {
  const t = useTestApp();
  const routes = () => adminRoutes(t().deps);

  it('declares a known permission on every route, and only allow-listed routes are public or self-service', () => {
    expect(routes().length).toBeGreaterThan(10);
    for (const { def } of routes()) {
      const key = keyOf(def);
      expect(def.permission, `${key} has no permission`).toBeTruthy();
      if (def.permission === 'public') expect(PUBLIC_ROUTES, `${key} is public`).toContain(key);
      else if (def.permission === 'authenticated') expect(SELF_ROUTES, `${key} is open to any staff`).toContain(key);
      else expect(PERMISSIONS, `${key} names an unknown permission`).toContain(def.permission);
      if (WRITE_METHODS.includes(def.method)) expect(def.audit, `${key} writes without an audit action`).toBeDefined();
    }
    expect(registryProblems(routes())).toEqual([]);
  });

  it('refuses to build a router with a route that has no permission or an unaudited write', () => {
    const noPermission = adminRoute(
      { method: 'get', path: '/x', permission: '' as never, summary: 'x', tags: ['x'], response: z.object({}) },
      async () => ({}),
    );
    const unaudited = adminRoute(
      { method: 'post', path: '/y', permission: 'tag:manage', summary: 'y', tags: ['x'] },
      async () => undefined,
    );
    const deps = { config: t().config, authenticate: () => Promise.reject(new Error()), recordAudit: async () => {} };
    expect(() => adminApiRouter(deps, [noPermission])).toThrow(/no permission declared/);
    expect(() => adminApiRouter(deps, [unaudited])).toThrow(/write without an audit action/);
  });

  it('keeps the auditor read-only and gives every permission to admin', () => {
    for (const { def } of routes()) {
      if (!WRITE_METHODS.includes(def.method) || def.permission === 'public' || def.permission === 'authenticated')
        continue;
      expect(ROLE_PERMISSIONS.auditor, `auditor may ${keyOf(def)}`).not.toContain(def.permission);
    }
    expect([...ROLE_PERMISSIONS.admin].sort()).toEqual([...PERMISSIONS].sort());
  });

  it('refuses every non-public route without a token', async () => {
    for (const { def } of routes()) {
      if (def.permission === 'public') continue;
      const res = await t().http[def.method](`/admin/api${concretePath(def.path)}`);
      expect(res.status, keyOf(def)).toBe(401);
    }
  });

  it('allows each role exactly the routes its permissions cover, and refuses the rest with permission_denied', async () => {
    const staffByRole = new Map<Role, string>();
    for (const role of ROLES) staffByRole.set(role, (await givenStaff(t(), [role])).id);
    const outcomes: string[] = [];
    for (const role of ROLES) {
      const doc = await Staff.findById(staffByRole.get(role)).lean();
      const session = () => t().deps.staff.auth.startSession(doc!, { ip: '127.0.0.1', userAgent: 'test' });
      const shared = await session();
      for (const { def } of routes()) {
        if (def.permission === 'public') continue;
        // Self-service writes (logout) get their own session so they cannot end the shared one.
        const { accessToken } = def.permission === 'authenticated' && def.method !== 'get' ? await session() : shared;
        const res = await t()
          .http[def.method](`/admin/api${concretePath(def.path)}`)
          .set(bearer(accessToken))
          .send(def.method === 'get' ? undefined : {});
        const allowed =
          def.permission === 'authenticated' || (ROLE_PERMISSIONS[role] as readonly string[]).includes(def.permission);
        const denied = res.status === 403 && res.body?.error?.code === 'permission_denied';
        if (allowed) {
          expect(res.status, `${role} ${keyOf(def)}: ${JSON.stringify(res.body)}`).not.toBe(401);
          expect(denied, `${role} should be allowed ${keyOf(def)}`).toBe(false);
          expect(res.status, `${role} ${keyOf(def)}`).toBeLessThan(500);
        } else {
          expect(denied, `${role} should be refused ${keyOf(def)} (got ${res.status})`).toBe(true);
        }
        outcomes.push(`${role} ${keyOf(def)} ${allowed ? 'allowed' : 'forbidden'}`);
      }
    }
    // Spot checks that read like the issue: who may do what.
    expect(outcomes).toContain('auditor GET /audit allowed');
    expect(outcomes).toContain('marketing GET /audit forbidden');
    expect(outcomes).toContain('sales POST /staff forbidden');
    expect(outcomes).toContain('finance POST /approvals/:id/approve allowed');
    expect(outcomes).toContain('service POST /approvals/:id/approve forbidden');
    expect(outcomes).toContain('admin PATCH /staff/:id allowed');
    // Every role × every admin route, one request each: grows with each domain's routes.
  }, 240_000); // every admin route for every role: it grows with each domain
});
