/**
 * The WeChat callback gateway's public surface: the handler registry other domains plug into, the
 * reply builders, the `wechat.inbound` event, and the customer-service sender interface.
 */
import type { EventBus } from '../infra/events.js';
import type { Infra } from '../infra/runtime.js';
import { createAuditWriter, type AuditWriter } from './audit.js';
import { createRecordingCustomerServiceSender, type CustomerServiceSender } from './customer-service.js';
import { createDedup } from './dedup.js';
import { createCallbackGateway, type CallbackGateway } from './pipeline.js';
import { createHandlerRegistry, type HandlerRegistry } from './registry.js';

export type { Handler, HandlerContext, HandlerRegistry } from './registry.js';
export type { CallbackGateway } from './pipeline.js';
export type { WechatInboundEvent } from './events.js';
export { WECHAT_INBOUND } from './events.js';
export {
  createClientCustomerServiceSender,
  createRecordingCustomerServiceSender,
  customMessageOf,
  isRecordingSender,
  type CustomerServiceSender,
  type RecordingCustomerServiceSender,
} from './customer-service.js';
export { replies, type Reply } from '../platform/wechat/replies.js';
export { gatewayRoutes, readBody } from './routes.js';
// Shared with the WeCom callback (src/wecom): the same dedup and query-parameter rules.
export { createDedup, type Dedup } from './dedup.js';
export { param, type Query } from './pipeline.js';
export { defineGatewayJobs, pruneInboundAudit, PRUNE_INBOUND_AUDIT } from './jobs.js';

export interface GatewayServices {
  wechatHandlers: HandlerRegistry;
  customerService: CustomerServiceSender;
  gateway: CallbackGateway;
  gatewayAudit: AuditWriter;
}

/** Builds the gateway from the infrastructure; `customerService` defaults to the recording sender. */
export function createGatewayServices(
  infra: Infra,
  events: EventBus,
  customerService: CustomerServiceSender = createRecordingCustomerServiceSender(infra.logger),
): GatewayServices {
  const wechatHandlers = createHandlerRegistry();
  const gatewayAudit = createAuditWriter({ logger: infra.logger, metrics: infra.metrics });
  const gateway = createCallbackGateway({
    config: infra.config,
    registry: wechatHandlers,
    events,
    dedup: createDedup(infra.redis, infra.config.callback.dedupTtlSeconds),
    audit: gatewayAudit,
    customerService,
    metrics: infra.metrics,
  });
  return { wechatHandlers, customerService, gateway, gatewayAudit };
}
