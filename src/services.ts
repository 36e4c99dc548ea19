/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import { createCrm, type Crm } from './crm/index.js';
import type { Infra } from './infra/runtime.js';

export type AppDeps = Infra & { crm: Crm };

export async function createServices(infra: Infra): Promise<AppDeps> {
  // The integrator wires the CRM's ports here: followerInfo (OA user/info/batchget), wechatTags (OA tags API),
  // audit (staff audit log), and subscribes crm.followers.record / crm.wecom.recordContact to the gateway's events.
  const crm = createCrm({ config: infra.config, logger: infra.logger, redis: infra.redis });
  return { ...infra, crm };
}
