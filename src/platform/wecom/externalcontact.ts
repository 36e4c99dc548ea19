/**
 * Customer contact (客户联系) APIs: external contacts, contact ways ("联系我") with `state`, welcome
 * messages, corp tags and staff group sends. One function per endpoint, mirroring WeCom's URL map.
 */
import { z } from 'zod';
import type { WecomClient } from './client.js';

const Ok = z.object({ errcode: z.literal(0).optional(), errmsg: z.string().optional() });

const FollowUser = z.object({
  userid: z.string(),
  remark: z.string().optional(),
  description: z.string().optional(),
  createtime: z.number().int(),
  tags: z
    .array(
      z.object({ group_name: z.string(), tag_name: z.string(), type: z.number().int(), tag_id: z.string().optional() }),
    )
    .optional(),
  remark_corp_name: z.string().optional(),
  remark_mobiles: z.array(z.string()).optional(),
  oper_userid: z.string().optional(),
  add_way: z.number().int().optional(),
  state: z.string().optional(),
});

const ExternalContact = z.object({
  external_userid: z.string(),
  name: z.string(),
  avatar: z.string().optional(),
  type: z.number().int(),
  gender: z.number().int().optional(),
  unionid: z.string().optional(),
  position: z.string().optional(),
  corp_name: z.string().optional(),
  corp_full_name: z.string().optional(),
});

const GetResponse = z.object({
  external_contact: ExternalContact,
  follow_user: z.array(FollowUser),
  next_cursor: z.string().optional(),
});
export type ExternalContactDetail = z.infer<typeof GetResponse>;

/**
 * A customer's details and the members following them (paged past 500 followers).
 * https://developer.work.weixin.qq.com/document/path/92114
 */
export function getExternalContact(
  client: WecomClient,
  externalUserId: string,
  cursor?: string,
): Promise<ExternalContactDetail> {
  return client.call({
    method: 'GET',
    path: '/cgi-bin/externalcontact/get',
    query: { external_userid: externalUserId, cursor },
    schema: GetResponse,
  });
}

/**
 * The external_userids of one member's customers.
 * https://developer.work.weixin.qq.com/document/path/92113
 */
export async function listExternalContacts(client: WecomClient, userid: string): Promise<string[]> {
  const res = await client.call({
    method: 'GET',
    path: '/cgi-bin/externalcontact/list',
    query: { userid },
    schema: z.object({ external_userid: z.array(z.string()).default([]) }),
  });
  return res.external_userid;
}

export const ContactWayInput = z
  .object({
    /** 1 single member, 2 several members. */
    type: z.union([z.literal(1), z.literal(2)]),
    /** 1 in a mini program, 2 as a QR code. */
    scene: z.union([z.literal(1), z.literal(2)]),
    remark: z.string().max(30).optional(),
    skipVerify: z.boolean().optional(),
    /** Comes back on the add_external_contact event and in follow_user[].state: the channel key. */
    state: z.string().max(30).optional(),
    users: z.array(z.string().min(1)).min(1).max(100),
    isTemp: z.boolean().optional(),
    expiresIn: z
      .number()
      .int()
      .positive()
      .max(14 * 86400)
      .optional(),
  })
  .strict();
export type ContactWayInput = z.input<typeof ContactWayInput>;

/**
 * Creates a contact way ("联系我"); keep the config_id: it is the only handle to it.
 * https://developer.work.weixin.qq.com/document/path/92228
 */
export async function addContactWay(
  client: WecomClient,
  input: ContactWayInput,
): Promise<{ configId: string; qrCode?: string }> {
  const v = ContactWayInput.parse(input);
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/add_contact_way',
    body: {
      type: v.type,
      scene: v.scene,
      remark: v.remark,
      skip_verify: v.skipVerify,
      state: v.state,
      user: v.users,
      is_temp: v.isTemp,
      expires_in: v.expiresIn,
    },
    schema: z.object({ config_id: z.string(), qr_code: z.string().optional() }),
  });
  return { configId: res.config_id, qrCode: res.qr_code };
}

const Attachment = z.union([
  z.object({
    msgtype: z.literal('image'),
    image: z.object({ media_id: z.string().optional(), pic_url: z.string().optional() }),
  }),
  z.object({
    msgtype: z.literal('link'),
    link: z.object({ title: z.string(), picurl: z.string().optional(), desc: z.string().optional(), url: z.string() }),
  }),
  z.object({
    msgtype: z.literal('miniprogram'),
    miniprogram: z.object({ title: z.string(), pic_media_id: z.string(), appid: z.string(), page: z.string() }),
  }),
]);
export type WecomAttachment = z.infer<typeof Attachment>;

/**
 * Sends the welcome message for an add_external_contact event: within 20 s of the event, once per code.
 * 41051 (already started chatting / already sent) is final; 41096 (another app is sending) may be retried.
 * https://developer.work.weixin.qq.com/document/path/92599
 */
export async function sendWelcomeMsg(
  client: WecomClient,
  input: { welcomeCode: string; text?: string; attachments?: WecomAttachment[] },
): Promise<void> {
  if (!input.text && !input.attachments?.length) throw new TypeError('a welcome message needs text or attachments');
  if ((input.attachments?.length ?? 0) > 9) throw new TypeError('at most 9 attachments');
  await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/send_welcome_msg',
    body: {
      welcome_code: input.welcomeCode,
      ...(input.text ? { text: { content: input.text } } : {}),
      ...(input.attachments?.length ? { attachments: input.attachments.map((a) => Attachment.parse(a)) } : {}),
    },
    schema: Ok,
  });
}

// ---- Corp tags (企业客户标签) ----------------------------------------------------------------------

const Tag = z.object({
  id: z.string(),
  name: z.string(),
  create_time: z.number().int(),
  order: z.number().int(),
  deleted: z.boolean().optional(),
});
const TagGroup = z.object({
  group_id: z.string(),
  group_name: z.string(),
  create_time: z.number().int(),
  order: z.number().int(),
  deleted: z.boolean().optional(),
  tag: z.array(Tag),
});
export type CorpTagGroup = z.infer<typeof TagGroup>;

/**
 * The corp's tag groups and tags, optionally only some ids (tag ids win over group ids).
 * https://developer.work.weixin.qq.com/document/path/92117
 */
export async function getCorpTagList(
  client: WecomClient,
  filter: { tagIds?: string[]; groupIds?: string[] } = {},
): Promise<CorpTagGroup[]> {
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/get_corp_tag_list',
    body: { tag_id: filter.tagIds, group_id: filter.groupIds },
    schema: z.object({ tag_group: z.array(TagGroup) }),
  });
  return res.tag_group;
}

/** Adds tags to a group (by id), or creates the group (by name) with them. */
export async function addCorpTag(
  client: WecomClient,
  input: { groupId?: string; groupName?: string; order?: number; tags: { name: string; order?: number }[] },
): Promise<CorpTagGroup> {
  if (!input.groupId && !input.groupName) throw new TypeError('groupId or groupName is required');
  if (input.tags.length === 0) throw new TypeError('at least one tag');
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/add_corp_tag',
    body: { group_id: input.groupId, group_name: input.groupName, order: input.order, tag: input.tags },
    schema: z.object({ tag_group: TagGroup }),
  });
  return res.tag_group;
}

/** Renames or reorders a tag or a tag group (by its id). */
export async function editCorpTag(
  client: WecomClient,
  input: { id: string; name?: string; order?: number },
): Promise<void> {
  await client.call({ method: 'POST', path: '/cgi-bin/externalcontact/edit_corp_tag', body: input, schema: Ok });
}

/** Deletes tags and/or whole groups. */
export async function delCorpTag(
  client: WecomClient,
  input: { tagIds?: string[]; groupIds?: string[] },
): Promise<void> {
  await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/del_corp_tag',
    body: { tag_id: input.tagIds, group_id: input.groupIds },
    schema: Ok,
  });
}

/**
 * Tags or untags one customer as seen by one member (no callback is generated: update our records ourselves).
 * https://developer.work.weixin.qq.com/document/path/92118
 */
export async function markTag(
  client: WecomClient,
  input: { userid: string; externalUserId: string; add?: string[]; remove?: string[] },
): Promise<void> {
  if (!input.add?.length && !input.remove?.length) throw new TypeError('add or remove at least one tag');
  await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/mark_tag',
    body: {
      userid: input.userid,
      external_userid: input.externalUserId,
      add_tag: input.add ?? [],
      remove_tag: input.remove ?? [],
    },
    schema: Ok,
  });
}

// ---- Staff group send (企业群发) ------------------------------------------------------------------

/**
 * Creates a group-send task a member confirms in the client (single chats: ≤ 10,000 customers).
 * https://developer.work.weixin.qq.com/document/path/92135
 */
export async function addMsgTemplate(
  client: WecomClient,
  input: {
    chatType?: 'single' | 'group';
    externalUserIds?: string[];
    chatIds?: string[];
    sender?: string;
    allowSelect?: boolean;
    text?: string;
    attachments?: WecomAttachment[];
  },
): Promise<{ msgid: string; failList: string[] }> {
  if (!input.text && !input.attachments?.length) throw new TypeError('a message needs text or attachments');
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/add_msg_template',
    body: {
      chat_type: input.chatType ?? 'single',
      external_userid: input.externalUserIds,
      chat_id_list: input.chatIds,
      sender: input.sender,
      allow_select: input.allowSelect,
      ...(input.text ? { text: { content: input.text } } : {}),
      ...(input.attachments?.length ? { attachments: input.attachments } : {}),
    },
    schema: z.object({ msgid: z.string(), fail_list: z.array(z.string()).default([]) }),
  });
  return { msgid: res.msgid, failList: res.fail_list };
}
