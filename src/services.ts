/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import {
  createClientCustomerServiceSender,
  createGatewayServices,
  type CustomerServiceSender,
  type GatewayServices,
} from './gateway/index.js';
import { createEventBus, type EventBus } from './infra/events.js';
import type { Infra } from './infra/runtime.js';
import { createPayClient, type PayClient } from './platform/pay/index.js';
import { createWechatClients, type WechatClients } from './platform/wechat/index.js';
import { createWecomClient, type WecomClient } from './platform/wecom/index.js';
import { createStaffDomain, type StaffDomain } from './staff/index.js';

/** Staff domain: `staff` (auth, accounts), `approvals` (four-eyes), `audit` (append-only log). */
export type AppDeps = Infra &
  StaffDomain &
  GatewayServices & {
    /** The official-account API client of an account by key (`wechatClients()` = the default account). */
    wechatClients: WechatClients;
    /** In-process domain events (e.g. `wechat.inbound`); subscribers are isolated from publishers. */
    events: EventBus;
    /** WeChat Pay v3 (absent when WECHATPAY_MCHID is not configured). */
    pay?: PayClient;
    /** WeCom clients by corp key (WECOM_KEY, default "default"). */
    wecom: ReadonlyMap<string, WecomClient>;
  };

/** Replacements for tests and tools (e.g. a recording customer-service sender). */
export interface ServiceOverrides {
  customerService?: (infra: Infra) => CustomerServiceSender;
}

export async function createServices(infra: Infra, overrides: ServiceOverrides = {}): Promise<AppDeps> {
  const wechatClients = createWechatClients(infra.config.wechat.accounts, infra.config.wechat.defaultAccount, {
    redis: infra.redis,
    logger: infra.logger,
    metrics: infra.metrics,
    settings: infra.config.wechat.api,
  });
  const failedDeliveries = infra.metrics.counter('domain_event_failures_total', 'Failed event deliveries', ['event']);
  const events = createEventBus({
    logger: infra.logger,
    onError: (event) => failedDeliveries.inc({ event }),
  });
  // Replies that miss the 5-second window go out as customer-service messages through the account's client.
  const customerService =
    overrides.customerService?.(infra) ??
    createClientCustomerServiceSender((account) => wechatClients(account), infra.logger);
  const gateway = createGatewayServices(infra, events, customerService);
  const { config, logger, metrics, redis } = infra;
  const pay = config.pay ? createPayClient({ config: config.pay, logger, metrics }) : undefined;
  const wecom = new Map(
    config.wecom.corps.map((corp) => [corp.key, createWecomClient({ config: corp, redis, logger, metrics })] as const),
  );
  return { ...infra, ...createStaffDomain(infra), wechatClients, events, ...gateway, pay, wecom };
}
