/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import { createCrm, type Crm } from './crm/index.js';
import type { Infra } from './infra/runtime.js';
import { createStaffDomain, type StaffDomain } from './staff/index.js';

/** Staff domain: `staff` (auth, accounts), `approvals` (four-eyes), `audit` (append-only log); and the CRM. */
export type AppDeps = Infra & StaffDomain & { crm: Crm };

export async function createServices(infra: Infra): Promise<AppDeps> {
  const staffDomain = createStaffDomain(infra);
  // The integrator wires the CRM's other ports here: followerInfo (OA user/info/batchget), wechatTags (OA tags
  // API), and subscribes crm.followers.record / crm.wecom.recordContact to the gateway's events.
  const crm = createCrm({
    config: infra.config,
    logger: infra.logger,
    redis: infra.redis,
    schedule: async (job, data) => {
      await infra.agenda.now(job, data);
    },
  });
  return { ...infra, ...staffDomain, crm };
}
