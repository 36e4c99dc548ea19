/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import type { Infra } from './infra/runtime.js';
import { createPayClient, type PayClient } from './platform/pay/index.js';
import { createWecomClient, type WecomClient } from './platform/wecom/index.js';

export type AppDeps = Infra & {
  /** WeChat Pay v3 (absent when WECHATPAY_MCHID is not configured). */
  pay?: PayClient;
  /** WeCom clients by corp key (WECOM_KEY, default "default"). */
  wecom: ReadonlyMap<string, WecomClient>;
};

export async function createServices(infra: Infra): Promise<AppDeps> {
  const { config, logger, metrics, redis } = infra;
  const pay = config.pay ? createPayClient({ config: config.pay, logger, metrics }) : undefined;
  const wecom = new Map(
    config.wecom.corps.map((corp) => [corp.key, createWecomClient({ config: corp, redis, logger, metrics })] as const),
  );
  return Promise.resolve({ ...infra, pay, wecom });
}
