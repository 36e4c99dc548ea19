/** The domain event the WeCom callback publishes once per push (after dedup). */
import type { WecomEvent } from '../platform/wecom/index.js';

export interface WecomInboundEvent {
  /** The corp key (WECOM_KEY). */
  corp: string;
  event: WecomEvent;
  requestId: string;
  receivedAt: Date;
}

declare module '../infra/events.js' {
  interface DomainEvents {
    'wecom.inbound': WecomInboundEvent;
  }
}

export const WECOM_INBOUND = 'wecom.inbound' as const;
