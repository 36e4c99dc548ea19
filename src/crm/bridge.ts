/**
 * What the CRM learns from the callback gateway: every inbound message or event of a follower becomes a
 * follower event (subscribe, unsubscribe, message, click, scan, location, template receipt), recorded
 * idempotently under the gateway's dedup key. Runs as an event-bus subscriber, after WeChat got its answer.
 * Phone numbers in texts are masked: a follower types theirs to verify it, and only the vault keeps it whole.
 */
import type { WechatInboundEvent } from '../gateway/index.js';
import { dedupKeyOf, type Inbound } from '../platform/wechat/inbound.js';
import type { FollowerEventInput, FollowerEventKind } from './index.js';
import { maskPhonesIn } from './phone.js';

function kindOf(inbound: Inbound): FollowerEventKind {
  if (inbound.kind === 'message') return 'message';
  switch (inbound.event) {
    case 'subscribe':
      return 'subscribe';
    case 'unsubscribe':
      return 'unsubscribe';
    case 'CLICK':
    case 'scancode_push':
    case 'scancode_waitmsg':
    case 'pic_sysphoto':
    case 'pic_photo_or_album':
    case 'pic_weixin':
    case 'location_select':
      return 'click';
    case 'VIEW':
    case 'view_miniprogram':
      return 'view';
    case 'SCAN':
      return 'scan';
    case 'LOCATION':
      return 'location';
    case 'TEMPLATESENDJOBFINISH':
      return 'template_delivered';
    default:
      return 'other';
  }
}

/** The CRM's follower event for one inbound push. */
export function followerEventOf(event: WechatInboundEvent): FollowerEventInput {
  const { inbound } = event;
  const base: FollowerEventInput = {
    eventId: `${event.account}:${dedupKeyOf(inbound)}`,
    account: event.account,
    openid: inbound.openid,
    kind: kindOf(inbound),
    at: new Date(inbound.createTime * 1000),
  };
  if (inbound.kind === 'message') {
    return {
      ...base,
      payload: {
        type: inbound.type,
        ...(inbound.type === 'text' ? { text: maskPhonesIn(inbound.content.slice(0, 500)) } : {}),
      },
      ...(inbound.type === 'location'
        ? { location: { latitude: inbound.latitude, longitude: inbound.longitude } }
        : {}),
    };
  }
  switch (inbound.event) {
    case 'subscribe':
      return { ...base, ...(inbound.sceneId ? { qrScene: inbound.sceneId, scene: 'ADD_SCENE_QR_CODE' } : {}) };
    case 'SCAN':
      return { ...base, qrScene: inbound.sceneId };
    case 'LOCATION':
      return {
        ...base,
        location: { latitude: inbound.latitude, longitude: inbound.longitude, precision: inbound.precision },
      };
    case 'CLICK':
      return { ...base, payload: { key: inbound.key } };
    case 'VIEW':
      return { ...base, payload: { url: inbound.url } };
    case 'TEMPLATESENDJOBFINISH':
      return { ...base, payload: { msgId: inbound.msgId, status: inbound.status } };
    default:
      return { ...base, payload: { event: inbound.event } };
  }
}
