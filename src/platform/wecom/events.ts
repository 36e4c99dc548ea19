/**
 * WeCom callback events (decrypted XML) as a discriminated union. Customer-contact changes arrive as
 * `Event=change_external_contact` with a `ChangeType`; anything else is an `unknown` variant, never a throw.
 * https://developer.work.weixin.qq.com/document/path/92130
 */
import { parseXml, type XmlNode } from '../wechat/xml.js';

interface Common {
  corpid: string;
  createTime: number;
  /** For de-duplication of WeCom's re-deliveries (no MsgId on events). */
  dedupKey: string;
}

export type WecomEvent =
  | (Common & {
      kind: 'add_external_contact' | 'add_half_external_contact';
      userId: string;
      externalUserId: string;
      state?: string;
      welcomeCode?: string;
    })
  | (Common & { kind: 'edit_external_contact' | 'del_follow_user'; userId: string; externalUserId: string })
  | (Common & { kind: 'del_external_contact'; userId: string; externalUserId: string; source?: string })
  | (Common & { kind: 'transfer_fail'; userId: string; externalUserId: string; failReason?: string })
  | (Common & {
      kind: 'unknown';
      msgType: string;
      event?: string;
      changeType?: string;
      fields: Record<string, string>;
    });

/**
 * Parses decrypted callback XML with the official-account gateway's hardened codec (no DOCTYPE or
 * entities, one <xml> root); throws its XmlError on malformed input.
 */
export function parseWecomEvent(xml: string): Promise<WecomEvent> {
  return Promise.resolve(wecomEventOf(parseXml(xml)));
}

/** The typed event of an already parsed callback (text children only; values trimmed). */
export function wecomEventOf(node: XmlNode): WecomEvent {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(node)) if (typeof v === 'string') fields[k] = v.trim();
  const createTime = Number(fields.CreateTime ?? 0);
  const common: Common = {
    corpid: fields.ToUserName ?? '',
    createTime,
    // Messages carry a MsgId; events are told apart by their change, parties and time.
    dedupKey: fields.MsgId
      ? `${fields.ToUserName ?? ''}:msg:${fields.MsgId}`
      : [fields.ToUserName, fields.ChangeType ?? fields.Event, fields.UserID, fields.ExternalUserID, createTime].join(
          ':',
        ),
  };
  const userId = fields.UserID ?? '';
  const externalUserId = fields.ExternalUserID ?? '';
  const present = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  if (fields.MsgType === 'event' && fields.Event === 'change_external_contact' && userId && externalUserId) {
    switch (fields.ChangeType) {
      case 'add_external_contact':
      case 'add_half_external_contact':
        return {
          ...common,
          kind: fields.ChangeType,
          userId,
          externalUserId,
          state: present(fields.State),
          welcomeCode: present(fields.WelcomeCode),
        };
      case 'edit_external_contact':
      case 'del_follow_user':
        return { ...common, kind: fields.ChangeType, userId, externalUserId };
      case 'del_external_contact':
        return { ...common, kind: 'del_external_contact', userId, externalUserId, source: present(fields.Source) };
      case 'transfer_fail':
        return { ...common, kind: 'transfer_fail', userId, externalUserId, failReason: present(fields.FailReason) };
      default:
        break;
    }
  }
  return {
    ...common,
    kind: 'unknown',
    msgType: fields.MsgType ?? '',
    event: fields.Event,
    changeType: fields.ChangeType,
    fields,
  };
}
