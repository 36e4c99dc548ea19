/**
 * The official-account client: one per account, each concern behind a small interface so domains
 * depend on what they use (`CustomServiceApi`, `TemplateApi`, `TagApi`…), and a registry
 * `wechatClients(accountKey)` built once per process and handed out through AppDeps.
 */
import type { WechatAccountConfig } from '../../infra/config.js';
import { DomainError } from '../../infra/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Redis } from '../../infra/redis.js';
import { createWechatCaller, type WechatCaller, type WechatRetryPolicy } from './client.js';
import { customServiceApi, type CustomServiceApi } from './api/custom-service.js';
import { jsSdkApi, type JsSdkApi } from './api/jssdk.js';
import { massApi, type MassApi } from './api/mass.js';
import { mediaApi, type MediaApi } from './api/media.js';
import { menuApi, type MenuApi } from './api/menus.js';
import { oauthApi, type OAuthApi } from './api/oauth.js';
import { qrCodeApi, type QrCodeApi } from './api/qrcodes.js';
import { tagApi, type TagApi } from './api/tags.js';
import { templateApi, type TemplateApi } from './api/templates.js';
import { userApi, type UserApi } from './api/users.js';

export interface WechatClient
  extends MenuApi, TemplateApi, CustomServiceApi, UserApi, TagApi, QrCodeApi, MassApi, MediaApi, OAuthApi, JsSdkApi {
  readonly accountKey: string;
  readonly appid: string;
  accessToken(): Promise<string>;
}

export interface WechatClientSettings {
  timeoutMs: number;
  retry: WechatRetryPolicy;
  breaker: { threshold: number; cooldownMs: number };
}

export const DEFAULT_WECHAT_CLIENT_SETTINGS: WechatClientSettings = {
  timeoutMs: 5000,
  retry: { attempts: 3, baseMs: 200, capMs: 5000 },
  breaker: { threshold: 5, cooldownMs: 10_000 },
};

export interface WechatClientDeps {
  redis: Redis;
  logger?: Logger;
  metrics?: Metrics;
  settings?: Partial<WechatClientSettings>;
}

/** Builds the client of one account. Two clients of the same appid share the token through Redis. */
export function createWechatClient(
  account: Pick<WechatAccountConfig, 'key' | 'appid' | 'secret' | 'apiBase'>,
  deps: WechatClientDeps,
): WechatClient {
  const settings = { ...DEFAULT_WECHAT_CLIENT_SETTINGS, ...deps.settings };
  const caller: WechatCaller = createWechatCaller({
    account,
    redis: deps.redis,
    logger: deps.logger,
    metrics: deps.metrics,
    timeoutMs: settings.timeoutMs,
    retry: settings.retry,
    breaker: settings.breaker,
  });
  return {
    accountKey: caller.accountKey,
    appid: caller.appid,
    accessToken: () => caller.accessToken(),
    ...menuApi(caller),
    ...templateApi(caller),
    ...customServiceApi(caller),
    ...userApi(caller),
    ...tagApi(caller),
    ...qrCodeApi(caller),
    ...massApi(caller),
    ...mediaApi(caller),
    ...oauthApi(caller),
    ...jsSdkApi(caller),
  };
}

/** The registry: the client of an account by key (the default account without a key). */
export type WechatClients = (accountKey?: string) => WechatClient;

export function createWechatClients(
  accounts: WechatAccountConfig[],
  defaultAccount: string,
  deps: WechatClientDeps,
): WechatClients {
  const clients = new Map<string, WechatClient>();
  return (accountKey = defaultAccount) => {
    let client = clients.get(accountKey);
    if (!client) {
      const account = accounts.find((a) => a.key === accountKey);
      if (!account)
        throw new DomainError(
          'not_found',
          'unknown_wechat_account',
          `No official account "${accountKey}" is configured.`,
        );
      client = createWechatClient(account, deps);
      clients.set(accountKey, client);
    }
    return client;
  };
}

export { createWechatCaller, type WechatCaller, type WechatCallRequest, type WechatRetryPolicy } from './client.js';
export type { CustomMessage, CustomMessageType, CustomServiceApi } from './api/custom-service.js';
export { jsSdkSignature, type JsSdkApi, type JsSdkConfig } from './api/jssdk.js';
export type { MassApi, MassMessage, MassSent } from './api/mass.js';
export { TEMPORARY_MEDIA_SECONDS, type MediaApi, type UploadedMedia } from './api/media.js';
export { MENU_BUTTON_TYPES, type MenuApi, type MenuButton, type MenuMatchRule, type Menus } from './api/menus.js';
export type { OAuthApi, OAuthGrant, OAuthScope, OAuthUserInfo } from './api/oauth.js';
export { MAX_TEMPORARY_QR_SECONDS, type QrCode, type QrCodeApi, type QrScene } from './api/qrcodes.js';
export { BATCH_TAGGING_LIMIT, type TagApi, type WechatTag } from './api/tags.js';
export type { TemplateApi, TemplateMessage } from './api/templates.js';
export { BATCHGET_LIMIT, type FollowerPageResult, type UserApi, type WechatUser } from './api/users.js';
