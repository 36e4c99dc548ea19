/**
 * The push domain's public surface: building its service, its routes and jobs, and the follower events it
 * listens to (unfollows, delivery receipts).
 */
import type { Agenda } from '../infra/agenda.js';
import type { PushConfig } from '../infra/config.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import type { Approvals } from '../staff/index.js';
import type { CustomerServicePort } from './customer-service-channel.js';
import type { TemplateSender } from './delivery.js';
import type { PushService } from './plans.js';
import type { MessageTemplate } from './templates.js';
import { trackedUrl } from './tracking.js';
import type { StaffGroupSender } from './wecom-channel.js';

export { pushAdminRoutes, trackingRoutes } from './routes.js';
export { definePushJobs, schedulePushJobs } from './jobs.js';
export { onPushInbound } from './tracking.js';
export type { PushService } from './plans.js';
export type { CustomerServicePort } from './customer-service-channel.js';
export type { StaffGroupSender, StaffTarget } from './wecom-channel.js';
export { refreshStaffSends } from './wecom-channel.js';

export function createPushService(input: {
  config: PushConfig;
  publicBaseUrl: string;
  redis: Redis;
  logger: Logger;
  agenda: Agenda;
  approvals: Approvals;
  sender: TemplateSender;
  templates: Map<string, MessageTemplate>;
  members(audienceId: string): Promise<Set<string>>;
  storage: { flavor: 'mongodb' | 'ferretdb' };
  /** The `wecom` channel (absent: WeCom plans cannot start). */
  staff?: StaffGroupSender;
  /** The `customer_service` channel (absent: customer-service plans cannot start). */
  customerService?: CustomerServicePort;
}): PushService {
  const { config } = input;
  const svc: PushService = {
    config,
    publicBaseUrl: input.publicBaseUrl,
    agenda: input.agenda,
    approvals: input.approvals,
    logger: input.logger.child({ domain: 'push' }),
    delivery: {
      redis: input.redis,
      logger: input.logger.child({ domain: 'push' }),
      sender: input.sender,
      templates: input.templates,
      members: (audienceId) => input.members(audienceId),
      storage: input.storage,
      ...(input.staff ? { staff: input.staff } : {}),
      ...(input.customerService ? { customerService: input.customerService } : {}),
      policy: {
        capPerDay: config.capPerDay,
        capPerWeek: config.capPerWeek,
        quietStartHour: config.quietStartHour,
        quietEndHour: config.quietEndHour,
        unfollowCooldownHours: config.unfollowCooldownHours,
        ratePerSecond: config.ratePerSecond,
      },
    },
  };
  svc.delivery.trackedUrl = trackedUrl(svc);
  return svc;
}
