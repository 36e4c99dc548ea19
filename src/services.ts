/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import type { Infra } from './infra/runtime.js';
import { createStaffDomain, type StaffDomain } from './staff/index.js';

/** Staff domain: `staff` (auth, accounts), `approvals` (four-eyes), `audit` (append-only log). */
export type AppDeps = Infra & StaffDomain;

export async function createServices(infra: Infra): Promise<AppDeps> {
  return { ...infra, ...createStaffDomain(infra) };
}
