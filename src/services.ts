/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import type { Infra } from './infra/runtime.js';
import { createWechatClients, type WechatClients } from './platform/wechat/index.js';
import { createStaffDomain, type StaffDomain } from './staff/index.js';

/** Staff domain: `staff` (auth, accounts), `approvals` (four-eyes), `audit` (append-only log). */
export type AppDeps = Infra &
  StaffDomain & {
    /** The official-account API client of an account by key (`wechatClients()` = the default account). */
    wechatClients: WechatClients;
  };

export async function createServices(infra: Infra): Promise<AppDeps> {
  const wechatClients = createWechatClients(infra.config.wechat.accounts, infra.config.wechat.defaultAccount, {
    redis: infra.redis,
    logger: infra.logger,
    metrics: infra.metrics,
    settings: infra.config.wechat.api,
  });
  return { ...infra, ...createStaffDomain(infra), wechatClients };
}
