/** Who is calling: built from a verified access token, handed to services instead of any web context. */
import type { Permission, Role } from './permissions.js';
import type { DataScope, ScopeOf } from './scope.js';

export interface Principal extends ScopeOf {
  staffId: string;
  username: string;
  roles: readonly Role[];
  permissions: ReadonlySet<Permission>;
  scope: DataScope;
  /** The login session (refresh-token family) the access token belongs to. */
  sessionId: string;
}

export function can(principal: Principal, permission: Permission): boolean {
  return principal.permissions.has(permission);
}
