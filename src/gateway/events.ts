/** The domain events the gateway publishes (declared on the shared bus's event map). */
import type { Inbound } from '../platform/wechat/inbound.js';

export interface WechatInboundEvent {
  /** The account key. */
  account: string;
  /** The typed message or event, published once per push (after dedup). */
  inbound: Inbound;
  requestId: string;
  receivedAt: Date;
}

declare module '../infra/events.js' {
  interface DomainEvents {
    'wechat.inbound': WechatInboundEvent;
  }
}

export const WECHAT_INBOUND = 'wechat.inbound' as const;
