/**
 * Where a reply goes when the handler missed the 5-second window: the customer-service message API
 * (docs: wechat-platform §5). The gateway only knows this interface; the composition root wires the
 * official-account client behind it. Until then (and in tests) a recording sender keeps what it got.
 */
import type { Logger } from '../infra/logger.js';
import type { CustomMessage, CustomServiceApi } from '../platform/wechat/api/custom-service.js';
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

/** The customer-service message that carries a passive reply which missed the 5-second window. */
export function customMessageOf(reply: Reply): CustomMessage | undefined {
  switch (reply.type) {
    case 'text':
      return { msgtype: 'text', text: { content: reply.content } };
    case 'image':
      return { msgtype: 'image', image: { media_id: reply.mediaId } };
    case 'voice':
      return { msgtype: 'voice', voice: { media_id: reply.mediaId } };
    case 'video':
      return {
        msgtype: 'video',
        video: {
          media_id: reply.mediaId,
          ...(reply.title ? { title: reply.title } : {}),
          ...(reply.description ? { description: reply.description } : {}),
        },
      };
    case 'music':
      return {
        msgtype: 'music',
        music: {
          thumb_media_id: reply.thumbMediaId,
          musicurl: reply.musicUrl ?? '',
          ...(reply.hqMusicUrl ? { hqmusicurl: reply.hqMusicUrl } : {}),
          ...(reply.title ? { title: reply.title } : {}),
          ...(reply.description ? { description: reply.description } : {}),
        },
      };
    case 'news':
      // The customer-service API takes one article per news message.
      return {
        msgtype: 'news',
        news: {
          articles: reply.articles.slice(0, 1).map((a) => ({
            title: a.title,
            url: a.url ?? '',
            ...(a.description ? { description: a.description } : {}),
            ...(a.picUrl ? { picurl: a.picUrl } : {}),
          })),
        },
      };
    case 'transfer_customer_service':
      return undefined;
  }
}

/** Late replies go out through the account's customer-service API (the official-account client). */
export function createClientCustomerServiceSender(
  clients: (account: string) => Pick<CustomServiceApi, 'sendCustomMessage'>,
  logger: Logger,
): CustomerServiceSender {
  return {
    async send(account, openid, reply) {
      const message = customMessageOf(reply);
      if (!message) {
        logger.warn({ account, replyType: reply.type }, 'late reply has no customer-service form; dropped');
        return;
      }
      await clients(account).sendCustomMessage(openid, message);
    },
  };
}
