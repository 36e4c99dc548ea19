/**
 * The conversation service's public surface (`deps.conversation`): the action registry other domains
 * register into, the callback-side engine, menus, and staff operations.
 */
import type { Crm } from '../crm/index.js';
import type { CustomerServiceSender } from '../gateway/customer-service.js';
import type { HandlerRegistry } from '../gateway/index.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import type { SmsSender } from '../platform/sms/index.js';
import type { WechatClients } from '../platform/wechat/index.js';
import { createActionRegistry, type ActionRegistry } from './actions.js';
import { createConversationAdmin, type ConversationAdmin } from './admin.js';
import { registerBuiltInActions } from './builtins.js';
import { createConversationCache, type ConversationCache } from './cache.js';
import { createEngine, type Engine } from './engine.js';
import { registerConversationHandlers } from './handlers.js';
import { createMenus, type Menus } from './menus.js';
import { createPhoneVerification, type VerificationPolicy } from './verification.js';

export type { ActionCall, ActionHandler, ActionRegistry } from './actions.js';
export type { Decision, Engine } from './engine.js';
export { reminderAttribute } from './builtins.js';
export { PHONE_VERIFICATION_KIND, type VerificationPolicy } from './verification.js';
export { conversationAdminRoutes } from './routes.js';

export interface Conversation {
  /** Register actions here by name: menu CLICK keys and keyword rules run them. */
  actions: ActionRegistry;
  engine: Engine;
  menus: Menus;
  admin: ConversationAdmin;
  cache: ConversationCache;
  /** Plugs the keyword, click, welcome and default-reply handlers into the gateway (after the domains' own). */
  registerHandlers(registry: HandlerRegistry): void;
  close(): Promise<void>;
}

export interface ConversationOptions {
  redis: Redis;
  logger: Logger;
  crm: Crm;
  wechatClients: WechatClients;
  customerService: CustomerServiceSender;
  accounts: string[];
  profileOf: (account: string, openid: string) => Promise<string | undefined>;
  /** Sends the phone-verification codes. */
  sms: SmsSender;
  verificationPolicy?: Partial<VerificationPolicy>;
  /** The clock of service hours, active windows and the unmatched log (tests pin it). */
  now?: () => Date;
}

export async function createConversation(options: ConversationOptions): Promise<Conversation> {
  const cache = await createConversationCache({
    redis: options.redis,
    logger: options.logger,
    accounts: options.accounts,
  });
  const actions = createActionRegistry();
  const now = options.now ?? (() => new Date());
  const engine = createEngine({ ...options, cache, actions, now });
  const verification = createPhoneVerification({
    redis: options.redis,
    crm: options.crm,
    sms: options.sms,
    now,
    ...(options.verificationPolicy ? { policy: options.verificationPolicy } : {}),
  });
  registerBuiltInActions(actions, { engine, cache, crm: options.crm, verification, now });
  const menus = createMenus({ ...options, cache });
  return {
    actions,
    engine,
    menus,
    admin: createConversationAdmin({ cache, engine, actions }),
    cache,
    registerHandlers: (registry) => registerConversationHandlers(registry, engine, verification, options.profileOf),
    close: () => cache.close(),
  };
}
