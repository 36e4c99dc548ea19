/**
 * The typed model of every message and event an official account receives on its callback URL
 * (docs: wechat-platform §2). Parsing never throws for an unknown type: it yields an `unknown`
 * variant that keeps every field, so the gateway can log and store it.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
 */
import { listOf, nodeOf, textOf, type XmlNode } from './xml.js';

interface Header {
  /** The account's original id (gh_…). */
  toUserName: string;
  /** The user's OpenID. */
  openid: string;
  /** Unix seconds. */
  createTime: number;
  /** Every field as received, for audit and for fields this model does not name. */
  fields: XmlNode;
}

interface MessageHeader extends Header {
  kind: 'message';
  /** 64-bit id: kept as a string. */
  msgId: string;
}

export type TextMessage = MessageHeader & {
  type: 'text';
  content: string;
  /** Set when the user tapped a customer-service menu item (msgmenu). */
  bizMsgMenuId?: string;
};
export type ImageMessage = MessageHeader & { type: 'image'; picUrl: string; mediaId: string };
export type VoiceMessage = MessageHeader & { type: 'voice'; mediaId: string; format: string; recognition?: string };
export type VideoMessage = MessageHeader & { type: 'video' | 'shortvideo'; mediaId: string; thumbMediaId: string };
export type LocationMessage = MessageHeader & {
  type: 'location';
  latitude: number;
  longitude: number;
  scale: number;
  label: string;
};
export type LinkMessage = MessageHeader & { type: 'link'; title: string; description: string; url: string };
export type MiniProgramPageMessage = MessageHeader & {
  type: 'miniprogrampage';
  appId: string;
  title: string;
  pagePath: string;
  thumbUrl: string;
  thumbMediaId: string;
};
export type UnknownMessage = Omit<MessageHeader, 'msgId'> & { type: 'unknown'; msgType: string; msgId?: string };

export type InboundMessage =
  | TextMessage
  | ImageMessage
  | VoiceMessage
  | VideoMessage
  | LocationMessage
  | LinkMessage
  | MiniProgramPageMessage
  | UnknownMessage;

interface EventHeader extends Header {
  kind: 'event';
}

export type SubscribeEvent = EventHeader & {
  event: 'subscribe';
  /** Scene of the parameter QR code the user followed through (without `qrscene_`), if any. */
  sceneId?: string;
  ticket?: string;
};
export type UnsubscribeEvent = EventHeader & { event: 'unsubscribe' };
export type ScanEvent = EventHeader & { event: 'SCAN'; sceneId: string; ticket?: string };
export type LocationEvent = EventHeader & { event: 'LOCATION'; latitude: number; longitude: number; precision: number };
export type ClickEvent = EventHeader & { event: 'CLICK'; key: string };
export type ViewEvent = EventHeader & { event: 'VIEW'; url: string; menuId?: string };
export type ScanCodeEvent = EventHeader & {
  event: 'scancode_push' | 'scancode_waitmsg';
  key: string;
  scanType: string;
  scanResult: string;
};
export type PicEvent = EventHeader & {
  event: 'pic_sysphoto' | 'pic_photo_or_album' | 'pic_weixin';
  key: string;
  count: number;
  picMd5Sums: string[];
};
export type LocationSelectEvent = EventHeader & {
  event: 'location_select';
  key: string;
  latitude: number;
  longitude: number;
  scale: number;
  label: string;
  poiname?: string;
};
export type ViewMiniProgramEvent = EventHeader & { event: 'view_miniprogram'; pagePath: string; menuId?: string };
export type TemplateSendJobFinishEvent = EventHeader & {
  event: 'TEMPLATESENDJOBFINISH';
  msgId: string;
  /** `success`, `failed:user block`, `failed: system failed`, … */
  status: string;
};
export type MassSendJobFinishEvent = EventHeader & {
  event: 'MASSSENDJOBFINISH';
  msgId: string;
  status: string;
  totalCount: number;
  filterCount: number;
  sentCount: number;
  errorCount: number;
};
export interface SubscribeMsgItem {
  templateId: string;
  /** accept | reject */
  status: string;
  /** 1 = H5 page, 2 = article (popup events only). */
  popupScene?: string;
}
export type SubscribeMsgPopupEvent = EventHeader & {
  event: 'subscribe_msg_popup_event' | 'subscribe_msg_change_event';
  items: SubscribeMsgItem[];
};
export type SubscribeMsgSentEvent = EventHeader & {
  event: 'subscribe_msg_sent_event';
  items: Array<{ templateId: string; msgId: string; errorCode: string; errorStatus: string }>;
};
export type KfSessionEvent = EventHeader & {
  event: 'kf_create_session' | 'kf_close_session' | 'kf_switch_session';
  kfAccount?: string;
  fromKfAccount?: string;
  toKfAccount?: string;
};
export type UnknownEvent = EventHeader & { event: 'unknown'; eventName: string; key?: string };

export type InboundEvent =
  | SubscribeEvent
  | UnsubscribeEvent
  | ScanEvent
  | LocationEvent
  | ClickEvent
  | ViewEvent
  | ScanCodeEvent
  | PicEvent
  | LocationSelectEvent
  | ViewMiniProgramEvent
  | TemplateSendJobFinishEvent
  | MassSendJobFinishEvent
  | SubscribeMsgPopupEvent
  | SubscribeMsgSentEvent
  | KfSessionEvent
  | UnknownEvent;

export type Inbound = InboundMessage | InboundEvent;
export type MessageType = Exclude<InboundMessage['type'], 'unknown'>;
export type EventType = Exclude<InboundEvent['event'], 'unknown'>;

export class InboundError extends Error {
  readonly code = 'invalid_message';
  constructor(message: string) {
    super(message);
    this.name = 'InboundError';
  }
}

// Identifiers: WeChat pads some of them with whitespace around CDATA (its own sample does).
const str = (node: XmlNode | undefined, name: string): string => (node ? (textOf(node, name) ?? '').trim() : '');
const opt = (node: XmlNode | undefined, name: string): string | undefined => {
  const v = node ? textOf(node, name)?.trim() : undefined;
  return v === undefined || v === '' ? undefined : v;
};
const num = (node: XmlNode | undefined, name: string): number => {
  const n = Number(str(node, name));
  return Number.isFinite(n) ? n : 0;
};

/**
 * Turns a parsed callback document into a typed message or event.
 * @throws InboundError when the common header (FromUserName, CreateTime, MsgType) is missing.
 */
export function parseInbound(fields: XmlNode): Inbound {
  const openid = str(fields, 'FromUserName');
  const msgType = str(fields, 'MsgType');
  const createTimeText = str(fields, 'CreateTime');
  if (!openid || !msgType || !/^\d{1,12}$/.test(createTimeText))
    throw new InboundError('FromUserName, CreateTime and MsgType are required');
  const header: Header = { toUserName: str(fields, 'ToUserName'), openid, createTime: Number(createTimeText), fields };
  if (msgType === 'event') return parseEvent(header, fields);
  return parseMessage(header, msgType, fields);
}

function parseMessage(header: Header, msgType: string, f: XmlNode): InboundMessage {
  const msgId = str(f, 'MsgId');
  if (!msgId) return { ...header, kind: 'message', type: 'unknown', msgType };
  const base: MessageHeader = { ...header, kind: 'message', msgId };
  switch (msgType) {
    case 'text': {
      const bizMsgMenuId = opt(f, 'bizmsgmenuid');
      // Content is the user's own words: kept verbatim (no trimming).
      return { ...base, type: 'text', content: textOf(f, 'Content') ?? '', ...(bizMsgMenuId ? { bizMsgMenuId } : {}) };
    }
    case 'image':
      return { ...base, type: 'image', picUrl: str(f, 'PicUrl'), mediaId: str(f, 'MediaId') };
    case 'voice': {
      const recognition = opt(f, 'Recognition');
      return {
        ...base,
        type: 'voice',
        mediaId: str(f, 'MediaId'),
        format: str(f, 'Format'),
        ...(recognition ? { recognition } : {}),
      };
    }
    case 'video':
    case 'shortvideo':
      return { ...base, type: msgType, mediaId: str(f, 'MediaId'), thumbMediaId: str(f, 'ThumbMediaId') };
    case 'location':
      return {
        ...base,
        type: 'location',
        latitude: num(f, 'Location_X'),
        longitude: num(f, 'Location_Y'),
        scale: num(f, 'Scale'),
        label: str(f, 'Label'),
      };
    case 'link':
      return { ...base, type: 'link', title: str(f, 'Title'), description: str(f, 'Description'), url: str(f, 'Url') };
    case 'miniprogrampage':
      return {
        ...base,
        type: 'miniprogrampage',
        appId: str(f, 'AppId'),
        title: str(f, 'Title'),
        pagePath: str(f, 'PagePath'),
        thumbUrl: str(f, 'ThumbUrl'),
        thumbMediaId: str(f, 'ThumbMediaId'),
      };
    default:
      return { ...base, type: 'unknown', msgType };
  }
}

function parseEvent(header: Header, f: XmlNode): InboundEvent {
  const event = str(f, 'Event');
  const base: EventHeader = { ...header, kind: 'event' };
  const key = str(f, 'EventKey');
  switch (event) {
    case 'subscribe': {
      const ticket = opt(f, 'Ticket');
      const sceneId = key.startsWith('qrscene_') ? key.slice('qrscene_'.length) : undefined;
      return { ...base, event, ...(sceneId ? { sceneId } : {}), ...(ticket ? { ticket } : {}) };
    }
    case 'unsubscribe':
      return { ...base, event };
    case 'SCAN': {
      const ticket = opt(f, 'Ticket');
      return { ...base, event, sceneId: key, ...(ticket ? { ticket } : {}) };
    }
    case 'LOCATION':
      return {
        ...base,
        event,
        latitude: num(f, 'Latitude'),
        longitude: num(f, 'Longitude'),
        precision: num(f, 'Precision'),
      };
    case 'CLICK':
      return { ...base, event, key };
    case 'VIEW': {
      const menuId = opt(f, 'MenuId');
      return { ...base, event, url: key, ...(menuId ? { menuId } : {}) };
    }
    case 'view_miniprogram': {
      const menuId = opt(f, 'MenuId');
      return { ...base, event, pagePath: key, ...(menuId ? { menuId } : {}) };
    }
    case 'scancode_push':
    case 'scancode_waitmsg': {
      const info = nodeOf(f, 'ScanCodeInfo');
      return { ...base, event, key, scanType: str(info, 'ScanType'), scanResult: str(info, 'ScanResult') };
    }
    case 'pic_sysphoto':
    case 'pic_photo_or_album':
    case 'pic_weixin': {
      const info = nodeOf(f, 'SendPicsInfo');
      const picMd5Sums = listOf(nodeOf(info ?? {}, 'PicList'), 'item').map((item) => str(item, 'PicMd5Sum'));
      return { ...base, event, key, count: num(info, 'Count'), picMd5Sums };
    }
    case 'location_select': {
      const info = nodeOf(f, 'SendLocationInfo');
      const poiname = opt(info, 'Poiname');
      return {
        ...base,
        event,
        key,
        latitude: num(info, 'Location_X'),
        longitude: num(info, 'Location_Y'),
        scale: num(info, 'Scale'),
        label: str(info, 'Label'),
        ...(poiname ? { poiname } : {}),
      };
    }
    case 'TEMPLATESENDJOBFINISH':
      return { ...base, event, msgId: str(f, 'MsgID') || str(f, 'MsgId'), status: str(f, 'Status') };
    case 'MASSSENDJOBFINISH':
      return {
        ...base,
        event,
        msgId: str(f, 'MsgID') || str(f, 'MsgId'),
        status: str(f, 'Status'),
        totalCount: num(f, 'TotalCount'),
        filterCount: num(f, 'FilterCount'),
        sentCount: num(f, 'SentCount'),
        errorCount: num(f, 'ErrorCount'),
      };
    case 'subscribe_msg_popup_event':
    case 'subscribe_msg_change_event': {
      const container = nodeOf(
        f,
        event === 'subscribe_msg_popup_event' ? 'SubscribeMsgPopupEvent' : 'SubscribeMsgChangeEvent',
      );
      const items = listOf(container, 'List').map((item) => {
        const popupScene = opt(item, 'PopupScene');
        return {
          templateId: str(item, 'TemplateId'),
          status: str(item, 'SubscribeStatusString'),
          ...(popupScene ? { popupScene } : {}),
        };
      });
      return { ...base, event, items };
    }
    case 'subscribe_msg_sent_event': {
      const items = listOf(nodeOf(f, 'SubscribeMsgSentEvent'), 'List').map((item) => ({
        templateId: str(item, 'TemplateId'),
        msgId: str(item, 'MsgID'),
        errorCode: str(item, 'ErrorCode'),
        errorStatus: str(item, 'ErrorStatus'),
      }));
      return { ...base, event, items };
    }
    case 'kf_create_session':
    case 'kf_close_session':
    case 'kf_switch_session': {
      const kfAccount = opt(f, 'KfAccount');
      const fromKfAccount = opt(f, 'FromKfAccount');
      const toKfAccount = opt(f, 'ToKfAccount');
      return {
        ...base,
        event,
        ...(kfAccount ? { kfAccount } : {}),
        ...(fromKfAccount ? { fromKfAccount } : {}),
        ...(toKfAccount ? { toKfAccount } : {}),
      };
    }
    default:
      return { ...base, event: 'unknown', eventName: event, ...(key ? { key } : {}) };
  }
}

/**
 * The retry-stable identity of a push: `FromUserName + MsgId` for messages (MsgId alone was seen
 * colliding across users), `FromUserName + CreateTime + Event (+ EventKey)` for events (docs §1.4, §15.2).
 */
export function dedupKeyOf(inbound: Inbound): string {
  if (inbound.kind === 'message' && inbound.msgId) return `m:${inbound.openid}:${inbound.msgId}`;
  // A job receipt names its message: two template receipts to one follower within the same second are two
  // receipts (keyed by CreateTime they collided, and the second message never counted as delivered).
  if (inbound.kind === 'event' && 'msgId' in inbound && inbound.msgId)
    return `e:${inbound.openid}:${inbound.event}:${inbound.msgId}`;
  const f = inbound.fields;
  const event = str(f, 'Event') || str(f, 'MsgType');
  return `e:${inbound.openid}:${inbound.createTime}:${event}:${str(f, 'EventKey')}`;
}
