/**
 * The WeCom channel: the callback, external contacts joined to CRM profiles, channel codes, welcomes, tags
 * both ways, loss alerts, hand-over and the contact sync. Other domains and the composition root use this.
 */
import type { Crm } from '../crm/index.js';
import { createDedup } from '../gateway/index.js';
import type { EventBus } from '../infra/events.js';
import type { Infra } from '../infra/runtime.js';
import type { WecomClient } from '../platform/wecom/index.js';
import { createWecomCallback, type WecomCallback } from './callback.js';
import { handleWecomEvent } from './contacts.js';
import type { WecomDeps } from './deps.js';
import { WECOM_INBOUND } from './events.js';

export type { WecomDeps } from './deps.js';
export type { WecomCallback } from './callback.js';
export { WECOM_INBOUND, type WecomInboundEvent } from './events.js';
export { wecomAdminRoutes, wecomCallbackRoutes, wecomSidebarRoutes } from './routes.js';
export { defineWecomJobs, scheduleWecomJobs, WECOM_SYNC_JOB, WECOM_RESUME_GROUP_SENDS_JOB } from './jobs.js';
export { runContactSync } from './sync.js';
export { createChannel, channelReport } from './channels.js';
export { setWelcome } from './welcome.js';
export { linkStaff, handOver, lossReport } from './staff.js';
export { linkCrmTag, pushProfileTags } from './tags.js';
export { syncGroups, groupMemberProfiles } from './groups.js';
export {
  createGroupSend,
  refreshGroupSend,
  groupSendFunnel,
  findGroupSend,
  groupSendTargets,
  resumeGroupSends,
  type GroupSendFunnel,
  type GroupSendTarget,
} from './groupsend.js';

export interface WecomDomain {
  wecomDomain: WecomDeps;
  wecomCallback: WecomCallback;
}

/**
 * Builds the WeCom domain and subscribes it to its callback's events: each change_external_contact is
 * handled after WeCom got its answer (the welcome code's 20 s leave room; the sync repairs what a crash loses).
 */
export function createWecomDomain(
  infra: Pick<Infra, 'config' | 'redis' | 'logger' | 'metrics'>,
  ports: {
    events: EventBus;
    crm: Crm;
    clients: ReadonlyMap<string, WecomClient>;
    now?: () => Date;
    customerExtras?: WecomDeps['customerExtras'];
  },
): WecomDomain {
  const deps: WecomDeps = {
    config: infra.config.wecom,
    redis: infra.redis,
    logger: infra.logger.child({ domain: 'wecom' }),
    clients: ports.clients,
    crm: ports.crm,
    now: ports.now ?? (() => new Date()),
    ...(ports.customerExtras ? { customerExtras: ports.customerExtras } : {}),
  };
  const wecomCallback = createWecomCallback({
    corps: infra.config.wecom.corps,
    maxSkewSeconds: infra.config.callback.maxSkewSeconds,
    dedup: createDedup(infra.redis, infra.config.callback.dedupTtlSeconds),
    events: ports.events,
    metrics: infra.metrics,
  });
  ports.events.subscribe(WECOM_INBOUND, (e) => handleWecomEvent(deps, e.corp, e.event));
  return { wecomDomain: deps, wecomCallback };
}
