/**
 * Where a reply goes when the handler missed the 5-second window: the customer-service message API
 * (docs: wechat-platform §5). The gateway only knows this interface; the composition root wires the
 * official-account client behind it. Until then (and in tests) a recording sender keeps what it got.
 */
import type { Logger } from '../infra/logger.js';
import type { Reply } from '../platform/wechat/replies.js';

export interface CustomerServiceSender {
  /** Sends `reply` to `openid` through account `account`'s customer-service API. */
  send(account: string, openid: string, reply: Reply): Promise<void>;
}

export interface SentCustomerServiceMessage {
  account: string;
  openid: string;
  reply: Reply;
  at: Date;
}

export interface RecordingCustomerServiceSender extends CustomerServiceSender {
  readonly kind: 'recording';
  readonly sent: SentCustomerServiceMessage[];
}

/** Records every send in memory (bounded) and logs it; sends nothing anywhere. */
export function createRecordingCustomerServiceSender(logger: Logger, keep = 1000): RecordingCustomerServiceSender {
  const sent: SentCustomerServiceMessage[] = [];
  return {
    kind: 'recording',
    sent,
    async send(account, openid, reply) {
      sent.push({ account, openid, reply, at: new Date() });
      if (sent.length > keep) sent.splice(0, sent.length - keep);
      logger.info({ account, replyType: reply.type }, 'customer-service reply recorded (no client wired)');
    },
  };
}

export function isRecordingSender(sender: CustomerServiceSender): sender is RecordingCustomerServiceSender {
  return (sender as Partial<RecordingCustomerServiceSender>).kind === 'recording';
}
