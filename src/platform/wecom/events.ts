/**
 * WeCom callback events (decrypted XML) as a discriminated union. Customer-contact changes arrive as
 * `Event=change_external_contact` with a `ChangeType`; anything else is an `unknown` variant, never a throw.
 * https://developer.work.weixin.qq.com/document/path/92130
 */
import { parseStringPromise } from 'xml2js';

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

export async function parseWecomEvent(xml: string): Promise<WecomEvent> {
  const parsed = (await parseStringPromise(xml, { explicitArray: false, trim: true })) as {
    xml?: Record<string, unknown>;
  };
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed.xml ?? {})) if (typeof v === 'string') fields[k] = v;
  const createTime = Number(fields.CreateTime ?? 0);
  const common: Common = {
    corpid: fields.ToUserName ?? '',
    createTime,
    dedupKey: [
      fields.ToUserName,
      fields.ChangeType ?? fields.Event,
      fields.UserID,
      fields.ExternalUserID,
      createTime,
    ].join(':'),
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
