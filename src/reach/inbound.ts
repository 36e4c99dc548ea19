/**
 * What the gateway's `wechat.inbound` events mean to the reach ledger: a user's message opens the 48-hour
 * window, a follow / parameter-QR scan / counting menu click opens the one-minute window, an unfollow closes
 * everything, and subscription pop-ups add or remove one-time consents (wechat-platform §2, §5, §6.2).
 */
import type { WechatInboundEvent } from '../gateway/events.js';
import type { ReachLedger } from './ledger.js';

// Menu clicks that open a window (§5): only click and the two scancode kinds.
const WINDOW_EVENTS = new Set(['CLICK', 'scancode_push', 'scancode_waitmsg', 'SCAN']);

/** Applies one inbound message or event to the ledger; anything else is ignored. */
export async function applyInbound(ledger: ReachLedger, event: WechatInboundEvent): Promise<void> {
  const { account, inbound } = event;
  const openid = inbound.openid;
  // WeChat's own clock starts the window: CreateTime (seconds), never later than the platform's.
  const at = new Date(inbound.createTime > 0 ? inbound.createTime * 1000 : event.receivedAt.getTime());
  if (inbound.kind === 'message') {
    const key = `${account}:${inbound.msgId ?? `${openid}:${inbound.createTime}`}`;
    await ledger.openWindow({ account, openid, kind: 'message', at, key });
    return;
  }
  const key = `${account}:${openid}:${inbound.createTime}:${inbound.event}`;
  switch (inbound.event) {
    case 'subscribe':
      await ledger.setSubscribed({ account, openid, subscribed: true, at, key });
      return;
    case 'unsubscribe':
      await ledger.setSubscribed({ account, openid, subscribed: false, at, key });
      return;
    case 'subscribe_msg_popup_event':
    case 'subscribe_msg_change_event':
      for (const [i, item] of inbound.items.entries()) {
        if (item.status !== 'accept' && item.status !== 'reject') continue;
        await ledger.subscriptionConsent({
          account,
          openid,
          templateId: item.templateId,
          accepted: item.status === 'accept',
          at,
          key: `${key}:${i}`,
        });
      }
      return;
    default:
      if (WINDOW_EVENTS.has(inbound.event)) await ledger.openWindow({ account, openid, kind: 'event', at, key });
  }
}
