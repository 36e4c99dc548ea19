/**
 * Template messages (service accounts). The final delivery status arrives later as the
 * TEMPLATESENDJOBFINISH event on the callback.
 * https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.html
 */
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

export interface TemplateMessage {
  touser: string;
  templateId: string;
  /** keyword → value; each value at most 20 characters without line breaks since 2023-05. */
  data: Record<string, string>;
  url?: string;
  miniprogram?: { appid: string; pagepath?: string };
  /**
   * De-duplication key: WeChat sends one message per openid + client_msg_id (10 minutes), so a retried
   * send after a timeout cannot reach the follower twice.
   */
  clientMsgId?: string;
}

const Sent = z.object({ msgid: z.union([z.number(), z.string()]) });

export interface TemplateApi {
  /** Sends a template message; returns WeChat's msgid (the key of its TEMPLATESENDJOBFINISH event). */
  sendTemplate(message: TemplateMessage): Promise<{ msgId: string }>;
}

export function templateApi(caller: WechatCaller): TemplateApi {
  return {
    async sendTemplate(message) {
      const body = {
        touser: message.touser,
        template_id: message.templateId,
        url: message.url,
        miniprogram: message.miniprogram,
        client_msg_id: message.clientMsgId,
        data: Object.fromEntries(Object.entries(message.data).map(([k, value]) => [k, { value }])),
      };
      const sent = await caller.call({
        method: 'POST',
        path: '/cgi-bin/message/template/send',
        body,
        schema: Sent,
        // Without a client_msg_id a timed-out send may have gone out: do not repeat it blindly.
        repeatOnTimeout: message.clientMsgId !== undefined,
      });
      return { msgId: String(sent.msgid) };
    },
  };
}
