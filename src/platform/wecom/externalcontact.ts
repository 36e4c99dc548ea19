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

// ---- Members, batch reads and hand-over ----------------------------------------------------------

/**
 * The members with customer contact enabled.
 * https://developer.work.weixin.qq.com/document/path/92571
 */
export async function getFollowUserList(client: WecomClient): Promise<string[]> {
  const res = await client.call({
    method: 'GET',
    path: '/cgi-bin/externalcontact/get_follow_user_list',
    schema: z.object({ follow_user: z.array(z.string()).default([]) }),
  });
  return res.follow_user;
}

const FollowInfo = z.object({
  userid: z.string(),
  remark: z.string().optional(),
  description: z.string().optional(),
  createtime: z.number().int(),
  tag_id: z.array(z.string()).optional(),
  remark_mobiles: z.array(z.string()).optional(),
  oper_userid: z.string().optional(),
  add_way: z.number().int().optional(),
  state: z.string().optional(),
});
const BatchResponse = z.object({
  external_contact_list: z.array(z.object({ external_contact: ExternalContact, follow_info: FollowInfo })).default([]),
  next_cursor: z.string().optional(),
});
export type ExternalContactPage = z.infer<typeof BatchResponse>;

/**
 * One page of the customers of some members, with each member's follow info (limit ≤ 100).
 * https://developer.work.weixin.qq.com/document/path/93010
 */
export function batchGetByUser(
  client: WecomClient,
  input: { userids: string[]; cursor?: string; limit?: number },
): Promise<ExternalContactPage> {
  return client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/batch/get_by_user',
    body: { userid_list: input.userids, cursor: input.cursor ?? '', limit: input.limit ?? 100 },
    schema: BatchResponse,
  });
}

/**
 * Hands customers over from one member to another: `resigned` for a member who left (离职继承), else the
 * in-service transfer (在职继承, the customer is told). At most 100 customers per call; each has its errcode.
 * https://developer.work.weixin.qq.com/document/path/94081 (resigned)  /92125 (in service)
 */
export async function transferCustomer(
  client: WecomClient,
  input: { handoverUserid: string; takeoverUserid: string; externalUserIds: string[]; resigned: boolean },
): Promise<{ externalUserId: string; errcode: number }[]> {
  if (input.externalUserIds.length === 0 || input.externalUserIds.length > 100)
    throw new TypeError('1 to 100 customers per transfer');
  const res = await client.call({
    method: 'POST',
    path: input.resigned
      ? '/cgi-bin/externalcontact/resigned/transfer_customer'
      : '/cgi-bin/externalcontact/transfer_customer',
    body: {
      handover_userid: input.handoverUserid,
      takeover_userid: input.takeoverUserid,
      external_userid: input.externalUserIds,
    },
    schema: z.object({
      customer: z.array(z.object({ external_userid: z.string(), errcode: z.number().int() })).default([]),
    }),
  });
  return res.customer.map((c) => ({ externalUserId: c.external_userid, errcode: c.errcode }));
}

/**
 * One page of a group-send task's per-customer results for one sender: status 0 not sent, 1 sent,
 * 2 not a friend (any more), 3 already received another group send today.
 * https://developer.work.weixin.qq.com/document/path/93338
 */
export async function getGroupMsgSendResult(
  client: WecomClient,
  input: { msgid: string; userid: string; cursor?: string; limit?: number },
): Promise<{ sendList: { externalUserId: string; status: number }[]; nextCursor?: string }> {
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/get_groupmsg_send_result',
    body: { msgid: input.msgid, userid: input.userid, limit: input.limit ?? 500, cursor: input.cursor },
    schema: z.object({
      send_list: z.array(z.object({ external_userid: z.string().optional(), status: z.number().int() })).default([]),
      next_cursor: z.string().optional(),
    }),
  });
  return {
    sendList: res.send_list.flatMap((s) =>
      s.external_userid ? [{ externalUserId: s.external_userid, status: s.status }] : [],
    ),
    ...(res.next_cursor ? { nextCursor: res.next_cursor } : {}),
  };
}

/**
 * One page of the group-send tasks created in a time window (≤ 1 month, seconds): msgid, creator, text and
 * creation time. The only way to learn whether an `add_msg_template` whose answer was lost created a task.
 * https://developer.work.weixin.qq.com/document/path/93338
 */
export async function getGroupMsgListV2(
  client: WecomClient,
  input: {
    chatType?: 'single' | 'group';
    startTime: number;
    endTime: number;
    creator?: string;
    /** 0 created by the corp (API or admin), 1 by members, 2 both. */
    filterType?: 0 | 1 | 2;
    cursor?: string;
    limit?: number;
  },
): Promise<{
  groupMsgs: { msgid: string; creator?: string; createTime: number; text?: string }[];
  nextCursor?: string;
}> {
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/get_groupmsg_list_v2',
    body: {
      chat_type: input.chatType ?? 'single',
      start_time: input.startTime,
      end_time: input.endTime,
      creator: input.creator,
      filter_type: input.filterType ?? 2,
      limit: input.limit ?? 100,
      cursor: input.cursor,
    },
    schema: z.object({
      group_msg_list: z
        .array(
          z.object({
            msgid: z.string(),
            creator: z.string().optional(),
            create_time: z.coerce.number().int(),
            text: z.object({ content: z.string() }).optional(),
          }),
        )
        .default([]),
      next_cursor: z.string().optional(),
    }),
  });
  return {
    groupMsgs: res.group_msg_list.map((m) => ({
      msgid: m.msgid,
      ...(m.creator ? { creator: m.creator } : {}),
      createTime: m.create_time,
      ...(m.text ? { text: m.text.content } : {}),
    })),
    ...(res.next_cursor ? { nextCursor: res.next_cursor } : {}),
  };
}

/**
 * The member behind an OAuth code from the WeCom client (single use, 5 minutes): a userid for members,
 * only an openid for anyone else.
 * https://developer.work.weixin.qq.com/document/path/91023
 */
export async function getUserInfoByCode(client: WecomClient, code: string): Promise<{ userid?: string }> {
  const res = await client.call({
    method: 'GET',
    path: '/cgi-bin/auth/getuserinfo',
    query: { code },
    schema: z.object({ userid: z.string().optional(), UserId: z.string().optional() }),
  });
  const userid = res.userid ?? res.UserId;
  return userid ? { userid } : {};
}

// ---- Customer groups (客户群) --------------------------------------------------------------------

/**
 * One page of the corp's customer group chats (limit ≤ 1000).
 * https://developer.work.weixin.qq.com/document/path/92120
 */
export async function listGroupChats(
  client: WecomClient,
  input: { cursor?: string; limit?: number } = {},
): Promise<{ chatIds: string[]; nextCursor?: string }> {
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/groupchat/list',
    body: { status_filter: 0, cursor: input.cursor, limit: input.limit ?? 1000 },
    schema: z.object({
      group_chat_list: z.array(z.object({ chat_id: z.string(), status: z.number().int() })).default([]),
      next_cursor: z.string().optional(),
    }),
  });
  return {
    chatIds: res.group_chat_list.map((g) => g.chat_id),
    ...(res.next_cursor ? { nextCursor: res.next_cursor } : {}),
  };
}

const GroupChat = z.object({
  chat_id: z.string(),
  name: z.string().default(''),
  owner: z.string(),
  create_time: z.number().int(),
  member_list: z
    .array(
      z.object({
        userid: z.string(),
        /** 1 a member of the corp, 2 an external contact. */
        type: z.number().int(),
        join_time: z.number().int(),
        unionid: z.string().optional(),
      }),
    )
    .default([]),
});
export type GroupChatDetail = z.infer<typeof GroupChat>;

/**
 * A customer group chat with its members.
 * https://developer.work.weixin.qq.com/document/path/92122
 */
export async function getGroupChat(client: WecomClient, chatId: string): Promise<GroupChatDetail> {
  const res = await client.call({
    method: 'POST',
    path: '/cgi-bin/externalcontact/groupchat/get',
    body: { chat_id: chatId, need_name: 1 },
    schema: z.object({ group_chat: GroupChat }),
  });
  return res.group_chat;
}
