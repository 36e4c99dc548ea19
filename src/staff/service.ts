/** Staff accounts: create, update, disable/enable, reset password, list, and the first admin's seed. */
import { randomBytes } from 'node:crypto';
import { DomainError, isDuplicateKey } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import { findPage, type Page } from './api/pagination.js';
import { Staff, StaffSession, type StaffDoc } from './model.js';
import { hashPassword } from './passwords.js';
import type { Principal } from './principal.js';
import type { CreateStaffBody, StaffListQuery, StaffView, UpdateStaffBody } from './schemas.js';
import type { DataScope } from './scope.js';
import type { SessionState } from './auth/session-state.js';

export function newSessionVersion(): string {
  return randomBytes(9).toString('base64url');
}

export function presentStaff(doc: StaffDoc | Record<string, unknown>): StaffView {
  const d = doc as StaffDoc;
  return {
    id: d._id.toHexString(),
    username: d.username,
    displayName: d.displayName,
    roles: d.roles,
    scope: d.scope ?? {},
    status: d.status,
    lastLoginAt: d.lastLoginAt ? d.lastLoginAt.toISOString() : null,
    createdAt: d.createdAt.toISOString(),
  };
}

/** A short summary for the audit log: never the password hash. */
export function staffSummary(s: StaffView): Record<string, unknown> {
  return { username: s.username, displayName: s.displayName, roles: s.roles, scope: s.scope, status: s.status };
}

export interface StaffAccountsDeps {
  sessions: SessionState;
  logger: Logger;
  now?: () => Date;
}

export interface StaffAccounts {
  create(input: CreateStaffBody): Promise<StaffView>;
  get(id: string): Promise<StaffView>;
  list(query: StaffListQuery): Promise<Page<StaffView>>;
  update(id: string, input: UpdateStaffBody): Promise<{ before: StaffView; after: StaffView }>;
  disable(by: Principal, id: string): Promise<{ before: StaffView; after: StaffView }>;
  enable(id: string): Promise<{ before: StaffView; after: StaffView }>;
  resetPassword(id: string, password: string): Promise<StaffView>;
  /** Creates the first admin when no staff exists; true when it did. */
  seedFirstAdmin(username: string | undefined, password: string | undefined): Promise<boolean>;
  /** Revokes every session of a staff member (refresh tokens stop working, access tokens are refused). */
  revokeAllSessions(staffId: string, reason: 'disabled' | 'password_reset'): Promise<void>;
}

function defaultScope(roles: readonly string[]): DataScope {
  return roles.length > 0 && roles.every((r) => r === 'sales') ? { own: true } : {};
}

export function createStaffAccounts(deps: StaffAccountsDeps): StaffAccounts {
  const now = deps.now ?? (() => new Date());

  async function load(id: string): Promise<StaffDoc> {
    if (!/^[0-9a-f]{24}$/.test(id)) throw notFound();
    const doc = await Staff.findById(id).lean();
    if (!doc) throw notFound();
    return doc;
  }
  function notFound(): DomainError {
    return new DomainError('not_found', 'staff_not_found', 'No such staff member.');
  }

  /** Sets fields and, when sessions must die, a new session version published to Redis at once. */
  async function change(id: string, set: Partial<StaffDoc>, killSessions: boolean) {
    const beforeDoc = await load(id);
    const sv = killSessions ? newSessionVersion() : beforeDoc.sessionVersion;
    await Staff.updateOne({ _id: beforeDoc._id }, { $set: { ...set, sessionVersion: sv, updatedAt: now() } });
    const afterDoc = await load(id);
    if (killSessions)
      await deps.sessions.publish(id, { status: afterDoc.status, sessionVersion: afterDoc.sessionVersion });
    return { before: presentStaff(beforeDoc), after: presentStaff(afterDoc) };
  }

  const accounts: StaffAccounts = {
    async create(input) {
      try {
        const doc = await Staff.create({
          username: input.username,
          displayName: input.displayName,
          passwordHash: await hashPassword(input.password),
          roles: [...new Set(input.roles)],
          scope: input.scope ?? defaultScope(input.roles),
          status: 'active',
          sessionVersion: newSessionVersion(),
        });
        return presentStaff(doc.toObject());
      } catch (err) {
        if (isDuplicateKey(err))
          throw new DomainError('conflict', 'username_taken', 'That username is taken.', { field: 'username' });
        throw err;
      }
    },
    async get(id) {
      return presentStaff(await load(id));
    },
    async list(query) {
      const filter: Record<string, unknown> = {};
      if (query.status) filter.status = query.status;
      if (query.role) filter.roles = query.role;
      return findPage(Staff, {
        filter,
        limit: query.limit,
        cursor: query.cursor,
        projection: { passwordHash: 0 },
        present: presentStaff,
      });
    },
    async update(id, input) {
      const set: Partial<StaffDoc> = {};
      if (input.displayName !== undefined) set.displayName = input.displayName;
      if (input.roles !== undefined) set.roles = [...new Set(input.roles)];
      if (input.scope !== undefined) set.scope = input.scope;
      // New roles or scope must not wait for old access tokens to expire: their holders refresh.
      return change(id, set, input.roles !== undefined || input.scope !== undefined);
    },
    async disable(by, id) {
      if (by.staffId === id)
        throw new DomainError('conflict', 'cannot_disable_self', 'You cannot disable your own account.');
      const result = await change(id, { status: 'disabled' }, true);
      await accounts.revokeAllSessions(id, 'disabled');
      return result;
    },
    async enable(id) {
      return change(id, { status: 'active' }, true);
    },
    async resetPassword(id, password) {
      const { after } = await change(id, { passwordHash: await hashPassword(password) }, true);
      await accounts.revokeAllSessions(id, 'password_reset');
      return after;
    },
    async revokeAllSessions(staffId, reason) {
      const at = now();
      // One filter, one statement (FerretDB: keep bulk updates small and single-filtered).
      await StaffSession.updateMany(
        { staffId, revokedAt: { $exists: false } },
        { $set: { revokedAt: at, revokedReason: reason } },
      );
    },
    async seedFirstAdmin(username, password) {
      if (!username || !password) return false;
      if ((await Staff.estimatedDocumentCount()) > 0) return false;
      try {
        await accounts.create({ username, displayName: 'Administrator', password, roles: ['admin'] });
        deps.logger.info({ username }, 'first admin created from ADMIN_USERNAME');
        return true;
      } catch (err) {
        // Another process seeded it first (unique username).
        if (err instanceof DomainError && err.code === 'username_taken') return false;
        throw err;
      }
    },
  };
  return accounts;
}
