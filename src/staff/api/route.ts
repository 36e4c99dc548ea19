/**
 * The admin route declaration: one value says method, path, permission, schemas, summary and audit
 * action, and a handler that receives parsed, typed input and the principal. The registry of these values
 * drives the permission middleware, input parsing, the audit log and the OpenAPI document at once.
 *
 *   export function tagAdminRoutes(deps: TagDeps): AdminRoute[] {
 *     return [
 *       adminRoute({ method: 'post', path: '/tags', permission: 'tag:manage', summary: 'Create a tag',
 *                    tags: ['tags'], body: CreateTagBody, response: TagView, status: 201,
 *                    audit: { action: 'tag.create', targetType: 'tag' } },
 *         async (call) => {
 *           const tag = await createTag(deps, call.principal, call.body);
 *           call.audit.targetId = tag.id; call.audit.after = { name: tag.name };
 *           return presentTag(tag);
 *         }),
 *     ];
 *   }
 */
import type { z } from 'zod';
import type { Logger } from '../../infra/logger.js';
import type { Principal } from '../principal.js';
import type { RouteAccess } from '../permissions.js';

/** Every admin route lives below this prefix. */
export const ADMIN_API_PREFIX = '/admin/api';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface AuditDeclaration {
  /** `domain.verb` (e.g. `staff.disable`, `push.send`): what the auditor filters on. */
  action: string;
  /** The kind of thing acted on (e.g. `staff`, `customer`); the id comes from `:id` or the handler. */
  targetType: string;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface AdminRouteDef<
  A extends RouteAccess = RouteAccess,
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType | undefined = undefined,
> {
  method: HttpMethod;
  /** Below /admin/api, koa-router syntax: `/staff/:id/disable`. */
  path: string;
  /** The named permission the caller must hold, or `public` / `authenticated` (see permissions.ts). */
  permission: A;
  /** One line for the OpenAPI document. */
  summary: string;
  description?: string;
  /** OpenAPI tags (the domain), e.g. ['staff']. */
  tags: string[];
  params?: P;
  query?: Q;
  body?: B;
  /** The success body; omitted means 204 No Content. Checked against the handler's result in tests. */
  response?: R;
  /** Success status when there is a body (200 by default, 201 for creations). */
  status?: 200 | 201 | 202;
  /** Required on every write (post/put/patch/delete): the route layer appends an audit entry. */
  audit?: AuditDeclaration;
}

/** What the handler may add to the audit entry: the target id and short before/after summaries. */
export interface AuditNote {
  targetId?: string;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  /** For public routes (login), who the actor turned out to be. */
  actor?: { staffId: string; username: string };
}

export interface AdminCall<A extends RouteAccess, P, Q, B> {
  principal: A extends 'public' ? Principal | undefined : Principal;
  params: P;
  query: Q;
  body: B;
  requestId: string;
  ip: string;
  userAgent: string;
  log: Logger;
  audit: AuditNote;
}

export type AdminHandler<A extends RouteAccess, P, Q, B, R> = (
  call: AdminCall<A, P, Q, B>,
) => Promise<R extends z.ZodType ? z.input<R> : void>;

/** A declared route with its types erased, ready for the registry. */
export interface AdminRoute {
  def: AdminRouteDef<
    RouteAccess,
    z.ZodType | undefined,
    z.ZodType | undefined,
    z.ZodType | undefined,
    z.ZodType | undefined
  >;
  handler: (call: AdminCall<RouteAccess, unknown, unknown, unknown>) => Promise<unknown>;
}

/** Declares an admin route; see the example at the top of this file and src/staff/README.md. */
export function adminRoute<
  A extends RouteAccess,
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType | undefined = undefined,
>(def: AdminRouteDef<A, P, Q, B, R>, handler: AdminHandler<A, Out<P>, Out<Q>, Out<B>, R>): AdminRoute {
  return { def, handler: handler as unknown as AdminRoute['handler'] };
}

export const WRITE_METHODS: readonly HttpMethod[] = ['post', 'put', 'patch', 'delete'];

/** Problems with a set of routes (missing permission, write without audit, duplicate method+path). */
export function registryProblems(routes: readonly AdminRoute[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { def } of routes) {
    const key = `${def.method.toUpperCase()} ${def.path}`;
    if (seen.has(key)) problems.push(`${key}: declared twice`);
    seen.add(key);
    if (!def.permission) problems.push(`${key}: no permission declared`);
    if (WRITE_METHODS.includes(def.method) && !def.audit) problems.push(`${key}: a write without an audit action`);
    if (!def.summary) problems.push(`${key}: no summary`);
  }
  return problems;
}
