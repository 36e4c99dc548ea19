/**
 * Mass (broadcast) messages by tag / to all, and to a list of 2–10 000 openids. Acceptance only: the
 * result arrives later as MASSSENDJOBFINISH. A follower receives at most 4 broadcasts a month.
 * https://developers.weixin.qq.com/doc/service/api/notify/message/api_masssend.html
 */
import { z } from 'zod';
import { isPlatformError } from '../../kernel/index.js';
import type { WechatCaller } from '../client.js';

export type MassMessage =
  | { msgtype: 'text'; text: { content: string } }
  | { msgtype: 'mpnews'; mpnews: { media_id: string }; send_ignore_reprint?: 0 | 1 }
  | { msgtype: 'image'; images: { media_ids: string[]; recommend?: string } }
  | { msgtype: 'voice'; voice: { media_id: string } }
  | { msgtype: 'mpvideo'; mpvideo: { media_id: string } }
  | { msgtype: 'wxcard'; wxcard: { card_id: string } };

export interface MassSent {
  /** Undefined only for a duplicate whose earlier id WeChat did not name. */
  msgId: string | undefined;
  msgDataId?: string;
  /** True when WeChat recognised the clientmsgid (45065) and answered the earlier broadcast's id. */
  duplicate: boolean;
}

const Sent = z.object({
  msg_id: z.union([z.number(), z.string()]),
  msg_data_id: z.union([z.number(), z.string()]).optional(),
});

export interface MassApi {
  /** Broadcasts to the followers holding a tag, or to everyone. */
  sendToTag(
    target: { tagId: number } | { all: true },
    message: MassMessage,
    options?: { clientMsgId?: string },
  ): Promise<MassSent>;
  /** Broadcasts to an explicit list of 2–10 000 openids. */
  sendToOpenids(openids: string[], message: MassMessage, options?: { clientMsgId?: string }): Promise<MassSent>;
}

/**
 * A clientmsgid already used within 24 h is refused with 45065 "clientmsgid exist"; the earlier msg_id is
 * read from the answer when WeChat names it.
 */
export function massApi(caller: WechatCaller): MassApi {
  async function send(path: string, body: Record<string, unknown>, clientMsgId?: string): Promise<MassSent> {
    const raw = await caller
      .call({
        method: 'POST',
        path,
        body: { ...body, ...(clientMsgId ? { clientmsgid: clientMsgId } : {}) },
        schema: Sent,
        repeatOnTimeout: clientMsgId !== undefined,
      })
      .then((sent) => ({ sent, duplicate: false }))
      .catch(async (err: unknown) => {
        if (!isPlatformError(err, 45065)) throw err;
        const msgId = /msg_id[^0-9]*(\d+)/.exec(err.errmsg)?.[1] ?? null;
        return { sent: { msg_id: msgId, msg_data_id: undefined }, duplicate: true };
      });
    return {
      msgId: raw.sent.msg_id === null ? undefined : String(raw.sent.msg_id),
      msgDataId: raw.sent.msg_data_id === undefined ? undefined : String(raw.sent.msg_data_id),
      duplicate: raw.duplicate,
    };
  }
  return {
    sendToTag: (target, message, options = {}) =>
      send(
        '/cgi-bin/message/mass/sendall',
        { filter: 'all' in target ? { is_to_all: true } : { is_to_all: false, tag_id: target.tagId }, ...message },
        options.clientMsgId,
      ),
    sendToOpenids: (openids, message, options = {}) =>
      send('/cgi-bin/message/mass/send', { touser: openids, ...message }, options.clientMsgId),
  };
}
