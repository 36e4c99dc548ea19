/** Staff members for tests: random usernames, real accounts, real sessions. */
import { randomBytes } from 'node:crypto';
import { Staff } from '../../src/staff/model.js';
import type { DataScope, Role } from '../../src/staff/index.js';
import type { TestApp } from '../support/app.js';

export interface GivenStaff {
  id: string;
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

export async function givenStaff(t: TestApp, roles: Role[], scope?: DataScope): Promise<GivenStaff> {
  const username = `s${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const view = await t.deps.staff.accounts.create({ username, displayName: username, password, roles, scope });
  const doc = await Staff.findById(view.id).lean();
  if (!doc) throw new Error('staff not created');
  const tokens = await t.deps.staff.auth.startSession(doc, { ip: '127.0.0.1', userAgent: 'test' });
  return { id: view.id, username, password, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
