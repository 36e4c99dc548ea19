/**
 * Customer-service messages: free-form messages inside a follower's window (5 messages within 48 h of
 * the follower's last message; 3 within a minute of a menu click, follow or scan), and the typing state.
 * https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage
 */
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

export type CustomMessage =
  | { msgtype: 'text'; text: { content: string } }
  | { msgtype: 'image'; image: { media_id: string } }
  | { msgtype: 'voice'; voice: { media_id: string } }
  | { msgtype: 'video'; video: { media_id: string; thumb_media_id?: string; title?: string; description?: string } }
  | {
      msgtype: 'music';
      music: { title?: string; description?: string; musicurl: string; hqmusicurl?: string; thumb_media_id: string };
    }
  | {
      msgtype: 'news';
      news: { articles: Array<{ title: string; description?: string; url: string; picurl?: string }> };
    }
  | { msgtype: 'mpnews'; mpnews: { media_id: string } }
  | { msgtype: 'mpnewsarticle'; mpnewsarticle: { article_id: string } }
  | {
      msgtype: 'msgmenu';
      msgmenu: { head_content?: string; list: Array<{ id: string; content: string }>; tail_content?: string };
    }
  | { msgtype: 'wxcard'; wxcard: { card_id: string } }
  | {
      msgtype: 'miniprogrampage';
      miniprogrampage: { title: string; appid: string; pagepath: string; thumb_media_id: string };
    };

export type CustomMessageType = CustomMessage['msgtype'];

const Ok = z.object({ errcode: z.number().optional() }).loose();

export interface CustomServiceApi {
  /**
   * Sends a customer-service message. Gives up with 45015 outside the follower's window, 45047 when the
   * window's quota is used, 40003 for an openid that is not this account's.
   */
  sendCustomMessage(touser: string, message: CustomMessage, options?: { kfAccount?: string }): Promise<void>;
  /** Shows (or cancels) "typing…" in the follower's chat for up to 15 s. */
  setTyping(touser: string, typing: boolean): Promise<void>;
}

export function customServiceApi(caller: WechatCaller): CustomServiceApi {
  return {
    async sendCustomMessage(touser, message, options = {}) {
      await caller.call({
        method: 'POST',
        path: '/cgi-bin/message/custom/send',
        body: {
          touser,
          ...message,
          ...(options.kfAccount ? { customservice: { kf_account: options.kfAccount } } : {}),
        },
        schema: Ok,
        // WeChat has no de-duplication key for these: a timeout may hide a delivered message.
        repeatOnTimeout: false,
      });
    },
    async setTyping(touser, typing) {
      await caller.call({
        method: 'POST',
        path: '/cgi-bin/message/custom/typing',
        body: { touser, command: typing ? 'Typing' : 'CancelTyping' },
        schema: Ok,
      });
    },
  };
}
