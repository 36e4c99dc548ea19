/**
 * WeCom simulator (qyapi.weixin.qq.com paths, below /wecom): tokens per corp+secret that expire and are
 * checked on every call, a per-corp call budget (45009), external contacts with unionids, contact ways
 * whose `state` comes back on add_external_contact events (signed + encrypted to the corp's callback URL,
 * re-sent when the answer takes more than 5 s) with a WelcomeCode that is single-use and lives 20 s, corp
 * tags and customer tagging, staff group-send tasks — with WeCom's errcodes.
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { createWecomCallbackCrypto, type WecomCallbackCrypto } from '../../platform/wecom/crypto.js';
import type { SandboxContext, SandboxPart } from '../context.js';
import { platformFaults } from '../platform-faults.js';

const PREFIX = '/wecom';
const TOKEN_TTL_SECONDS = 7200;
const WELCOME_CODE_TTL_MS = 20_000;

export interface WecomSandboxCorpInput {
  corpid?: string;
  secret?: string;
  /** Callback (接收事件服务器) settings. */
  callbackUrl?: string;
  token?: string;
  encodingAESKey?: string;
  /** Members with customer contact enabled. */
  members?: string[];
}

interface FollowInfo {
  userid: string;
  remark: string;
  description: string;
  createtime: number;
  tagIds: Set<string>;
  state?: string;
  addWay: number;
  operUserid: string;
}

interface SandboxExternalContact {
  externalUserId: string;
  name: string;
  unionid?: string;
  gender: number;
  avatar: string;
  follow: Map<string, FollowInfo>;
}

interface ContactWay {
  configId: string;
  type: 1 | 2;
  scene: 1 | 2;
  state?: string;
  users: string[];
  remark?: string;
  skipVerify: boolean;
  /** Type-2 codes rotate new customers across their members (round robin here). */
  next: number;
}

interface TagRecord {
  id: string;
  name: string;
  order: number;
  createTime: number;
  groupId: string;
}

interface TagGroupRecord {
  groupId: string;
  name: string;
  order: number;
  createTime: number;
}

interface WelcomeCode {
  code: string;
  userid: string;
  externalUserId: string;
  expiresAt: number;
  used: boolean;
}

export interface WelcomeMessage {
  externalUserId: string;
  userid: string;
  text?: string;
  attachments: unknown[];
  at: number;
}

export interface MsgTemplate {
  msgid: string;
  chatType: string;
  externalUserIds: string[];
  sender?: string;
  text?: string;
  attachments: unknown[];
  at: number;
  /** Per customer: 0 not sent yet, 1 sent, 2 not a friend, 3 already got another group send today. */
  status: Map<string, 0 | 1 | 2 | 3>;
}

export interface CallbackDelivery {
  attempt: number;
  status: number;
  body: string;
  ms: number;
}

interface Corp {
  corpid: string;
  secret: string;
  callbackUrl?: string;
  token: string;
  encodingAESKey: string;
  crypto: WecomCallbackCrypto;
  members: Set<string>;
  tokens: Map<string, number>;
  currentToken?: { token: string; expiresAt: number };
  contacts: Map<string, SandboxExternalContact>;
  ways: Map<string, ContactWay>;
  groups: Map<string, TagGroupRecord>;
  tags: Map<string, TagRecord>;
  welcomeCodes: Map<string, WelcomeCode>;
  welcomes: WelcomeMessage[];
  templates: MsgTemplate[];
  calls: { minute: number; count: number };
  gettokenCalls: number;
  groupChats: Map<string, { chatId: string; name: string; owner: string; createTime: number; members: string[] }>;
  /** OAuth codes from the WeCom client: single use, 5 minutes. */
  oauthCodes: Map<string, { userid: string; expiresAt: number }>;
}

export interface WecomSandboxApi {
  /** Registers a corp (the sandbox starts with none); returns its settings. */
  addCorp(input?: WecomSandboxCorpInput): {
    corpid: string;
    secret: string;
    token: string;
    encodingAESKey: string;
    apiBase: string;
  };
  setCallbackUrl(corpid: string, url: string | undefined): void;
  /** WeCom's URL verification against the corp's callback URL: true when it answered the decrypted echostr. */
  verifyCallbackUrl(corpid: string): Promise<boolean>;
  /**
   * A WeChat user adds a member through a contact way (or directly): the contact is created, and an
   * add_external_contact event with State and WelcomeCode is pushed to the callback URL.
   */
  addCustomer(input: {
    corpid: string;
    configId?: string;
    userid?: string;
    name?: string;
    unionid?: string;
    /** A returning customer keeps their external_userid (WeCom's is stable per corp). */
    externalUserId?: string;
    /** Create the contact without pushing the event (an event WeCom lost: only the sync finds it). */
    silent?: boolean;
  }): Promise<{ externalUserId: string; userid: string; welcomeCode: string; deliveries: CallbackDelivery[] }>;
  /** A member tags a customer in the WeCom client: the tags change and edit_external_contact is pushed. */
  memberTagsCustomer(input: {
    corpid: string;
    userid: string;
    externalUserId: string;
    groupName: string;
    tagName: string;
  }): Promise<{ tagId: string; deliveries: CallbackDelivery[] }>;
  /** Corp tag id by group and tag name (undefined when absent). */
  corpTagId(corpid: string, groupName: string, tagName: string): string | undefined;
  /** Members following a customer. */
  followersOf(corpid: string, externalUserId: string): string[];
  /** The customer deletes the member (del_follow_user event); the contact goes when no member follows it. */
  customerDeletesMember(input: { corpid: string; externalUserId: string; userid: string }): Promise<CallbackDelivery[]>;
  welcomeMessages(corpid: string, externalUserId?: string): WelcomeMessage[];
  /** A member creates a customer group chat (members: external_userids, or member userids). */
  addGroupChat(corpid: string, input: { name: string; owner: string; members: string[] }): string;
  /** Someone leaves a group chat. */
  leaveGroupChat(corpid: string, chatId: string, member: string): void;
  /** A member opens our H5 page in the WeCom client: the OAuth code it would hand to the page. */
  oauthCode(corpid: string, userid: string): string;
  /**
   * The member confirms a group-send task in the client: every customer gets it, except those in
   * `notFriends` (status 2) and `alreadyToday` (status 3).
   */
  memberSendsTemplate(corpid: string, msgid: string, input?: { notFriends?: string[]; alreadyToday?: string[] }): void;
  msgTemplates(corpid: string): MsgTemplate[];
  tagsOf(corpid: string, externalUserId: string, userid: string): string[];
  gettokenCalls(corpid: string): number;
  /** Invalidates every token of the corp (the next call answers 40014). */
  revokeTokens(corpid: string): void;
  /** Calls per corp per minute before 45009 (WeCom: 10,000/min per API; one budget here). */
  setCallBudget(perMinute: number): void;
  setCallbackTimeoutMs(ms: number): void;
}

class WecomError extends Error {
  constructor(
    readonly errcode: number,
    readonly errmsg: string,
  ) {
    super(errmsg);
  }
}

const randomId = (prefix: string, n: number) => `${prefix}${randomBytes(n).toString('base64url')}`;
const alnum = (n: number) =>
  [...randomBytes(n)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[b % 62]).join('');

export function createWecomSandbox(ctx: SandboxContext): SandboxPart<WecomSandboxApi> {
  const { clock, faults, logger } = ctx;
  const corps = new Map<string, Corp>();
  /** OAuth codes from the WeCom client: single use, 5 minutes. */
  const issueOauthCode = (corp: Corp, userid: string) => {
    const code = alnum(32);
    corp.oauthCodes.set(code, { userid, expiresAt: clock.now() + 300_000 });
    return code;
  };
  const tokenOwners = new Map<string, Corp>();
  let budgetPerMinute = 10_000;
  let callbackTimeoutMs = 5000;

  const corpOf = (corpid: string): Corp => {
    const corp = corps.get(corpid);
    if (!corp) throw new Error(`no sandbox corp ${corpid}`);
    return corp;
  };

  function parse<T>(schema: z.ZodType<T>, input: unknown): T {
    const r = schema.safeParse(input ?? {});
    if (!r.success)
      throw new WecomError(40058, `invalid Request Parameter: ${r.error.issues[0]?.path.join('.') ?? ''}`);
    return r.data;
  }

  /** The corp a call's access_token belongs to; WeCom's token errors otherwise. */
  function authorise(c: Context): Corp {
    const token = typeof c.query.access_token === 'string' ? c.query.access_token : '';
    if (!token) throw new WecomError(41001, 'access_token missing');
    const corp = tokenOwners.get(token);
    const expiresAt = corp?.tokens.get(token);
    if (!corp || expiresAt === undefined) throw new WecomError(40014, 'invalid access_token');
    if (clock.now() >= expiresAt) throw new WecomError(42001, 'access_token expired');
    const minute = Math.floor(clock.now() / 60_000);
    if (corp.calls.minute !== minute) corp.calls = { minute, count: 0 };
    corp.calls.count += 1;
    if (corp.calls.count > budgetPerMinute) throw new WecomError(45009, 'api freq out of limit');
    return corp;
  }

  const router = new Router();
  router.use(
    platformFaults(faults, 'wecom', PREFIX, (c, rule) => {
      c.status = rule.httpStatus ?? 200;
      c.body = { errcode: typeof rule.errcode === 'number' ? rule.errcode : -1, errmsg: rule.errmsg ?? 'system busy' };
    }),
  );
  router.use(async (c: Context, next: Next) => {
    try {
      await next();
      if (c.body && typeof c.body === 'object' && !('errcode' in c.body))
        c.body = { errcode: 0, errmsg: 'ok', ...c.body };
    } catch (err) {
      const status = (err as { status?: unknown } | undefined)?.status;
      if (err instanceof WecomError) {
        c.status = 200;
        c.body = { errcode: err.errcode, errmsg: err.errmsg };
      } else if (typeof status === 'number' && status >= 400 && status < 500) {
        // The body parser refused the body: WeCom's "data format error".
        c.status = 200;
        c.body = { errcode: 47001, errmsg: 'data format error' };
      } else throw err;
    }
  });

  router.use(bodyParser({ enableTypes: ['json'], jsonLimit: '2mb' }));

  router.get('/cgi-bin/gettoken', (c) => {
    const corpid = typeof c.query.corpid === 'string' ? c.query.corpid : '';
    const secret = typeof c.query.corpsecret === 'string' ? c.query.corpsecret : '';
    if (!corpid) throw new WecomError(41002, 'corpid missing');
    if (!secret) throw new WecomError(41004, 'corpsecret missing');
    const corp = corps.get(corpid);
    if (!corp) throw new WecomError(40013, 'invalid corpid');
    if (secret !== corp.secret) throw new WecomError(40001, 'invalid credential');
    corp.gettokenCalls += 1;
    // Within validity WeCom answers the same token (unlike an official account's /cgi-bin/token).
    const current = corp.currentToken;
    if (current && corp.tokens.has(current.token) && current.expiresAt > clock.now()) {
      c.body = { access_token: current.token, expires_in: Math.floor((current.expiresAt - clock.now()) / 1000) };
      return;
    }
    const token = alnum(64);
    const expiresAt = clock.now() + TOKEN_TTL_SECONDS * 1000;
    corp.tokens.set(token, expiresAt);
    corp.currentToken = { token, expiresAt };
    tokenOwners.set(token, corp);
    c.body = { access_token: token, expires_in: TOKEN_TTL_SECONDS };
  });

  const presentContact = (corp: Corp, contact: SandboxExternalContact) => ({
    external_contact: {
      external_userid: contact.externalUserId,
      name: contact.name,
      avatar: contact.avatar,
      type: 1,
      gender: contact.gender,
      ...(contact.unionid ? { unionid: contact.unionid } : {}),
    },
    follow_user: [...contact.follow.values()].map((f) => ({
      userid: f.userid,
      remark: f.remark,
      description: f.description,
      createtime: f.createtime,
      tags: [...f.tagIds].flatMap((id) => {
        const tag = corp.tags.get(id);
        const group = tag ? corp.groups.get(tag.groupId) : undefined;
        return tag && group ? [{ group_name: group.name, tag_name: tag.name, type: 1, tag_id: tag.id }] : [];
      }),
      remark_mobiles: [],
      oper_userid: f.operUserid,
      add_way: f.addWay,
      ...(f.state ? { state: f.state } : {}),
    })),
  });

  router.get('/cgi-bin/externalcontact/get', (c) => {
    const corp = authorise(c);
    const id = typeof c.query.external_userid === 'string' ? c.query.external_userid : '';
    if (!id) throw new WecomError(41035, 'missing external userid');
    const contact = corp.contacts.get(id);
    if (!contact) throw new WecomError(84061, 'not external contact');
    c.body = presentContact(corp, contact);
  });

  router.get('/cgi-bin/externalcontact/list', (c) => {
    const corp = authorise(c);
    const userid = typeof c.query.userid === 'string' ? c.query.userid : '';
    if (!corp.members.has(userid)) throw new WecomError(60111, 'userid not found');
    c.body = {
      external_userid: [...corp.contacts.values()].filter((x) => x.follow.has(userid)).map((x) => x.externalUserId),
    };
  });

  router.get('/cgi-bin/externalcontact/get_follow_user_list', (c) => {
    const corp = authorise(c);
    c.body = { follow_user: [...corp.members] };
  });

  // Cursor = base64url of the index of the next item in the member's (stable, insertion-ordered) list.
  router.post('/cgi-bin/externalcontact/batch/get_by_user', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        userid_list: z.array(z.string()).min(1).max(100),
        cursor: z.string().optional(),
        limit: z.number().int().min(1).max(100).default(50),
      }),
      c.request.body,
    );
    for (const u of b.userid_list) if (!corp.members.has(u)) throw new WecomError(60111, `userid not found: ${u}`);
    let start = 0;
    if (b.cursor) {
      start = Number(Buffer.from(b.cursor, 'base64url').toString('utf8'));
      if (!Number.isInteger(start) || start < 0) throw new WecomError(40058, 'invalid Request Parameter: cursor');
    }
    const items = [...corp.contacts.values()].flatMap((contact) =>
      b.userid_list.flatMap((u) => {
        const f = contact.follow.get(u);
        return f ? [{ contact, f }] : [];
      }),
    );
    const page = items.slice(start, start + b.limit);
    const next = start + b.limit < items.length ? Buffer.from(String(start + b.limit)).toString('base64url') : '';
    c.body = {
      external_contact_list: page.map(({ contact, f }) => {
        const full = presentContact(corp, contact);
        const follow = full.follow_user.find((x) => x.userid === f.userid)!;
        return {
          external_contact: full.external_contact,
          follow_info: {
            userid: follow.userid,
            remark: follow.remark,
            description: follow.description,
            createtime: follow.createtime,
            tag_id: [...f.tagIds],
            remark_mobiles: [],
            oper_userid: follow.oper_userid,
            add_way: follow.add_way,
            ...(follow.state ? { state: follow.state } : {}),
          },
        };
      }),
      next_cursor: next,
    };
  });

  const transfer = (c: Context) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        handover_userid: z.string().min(1),
        takeover_userid: z.string().min(1),
        external_userid: z.array(z.string()).min(1).max(100),
        transfer_success_msg: z.string().max(200).optional(),
      }),
      c.request.body,
    );
    if (!corp.members.has(b.handover_userid) || !corp.members.has(b.takeover_userid))
      throw new WecomError(60111, 'userid not found');
    if (b.handover_userid === b.takeover_userid) throw new WecomError(40097, 'invalid handover userid');
    c.body = {
      customer: b.external_userid.map((id) => {
        const contact = corp.contacts.get(id);
        const follow = contact?.follow.get(b.handover_userid);
        if (!contact || !follow) return { external_userid: id, errcode: 84061 };
        // 40129: the customer already follows the takeover member.
        if (contact.follow.has(b.takeover_userid)) return { external_userid: id, errcode: 40129 };
        contact.follow.delete(b.handover_userid);
        contact.follow.set(b.takeover_userid, { ...follow, userid: b.takeover_userid, createtime: clock.nowSeconds() });
        return { external_userid: id, errcode: 0 };
      }),
    };
  };
  router.post('/cgi-bin/externalcontact/transfer_customer', transfer);
  router.post('/cgi-bin/externalcontact/resigned/transfer_customer', transfer);

  router.post('/cgi-bin/externalcontact/add_contact_way', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        type: z.union([z.literal(1), z.literal(2)]),
        scene: z.union([z.literal(1), z.literal(2)]),
        style: z.number().int().optional(),
        remark: z.string().max(30).optional(),
        skip_verify: z.boolean().optional(),
        state: z.string().max(30).optional(),
        user: z.array(z.string()).optional(),
        party: z.array(z.number().int()).optional(),
        is_temp: z.boolean().optional(),
        expires_in: z
          .number()
          .int()
          .positive()
          .max(14 * 86400)
          .optional(),
      }),
      c.request.body,
    );
    const users = b.user ?? [];
    if (users.length === 0 || (b.type === 1 && users.length !== 1))
      throw new WecomError(40058, 'invalid Request Parameter: user');
    for (const u of users) if (!corp.members.has(u)) throw new WecomError(60111, `userid not found: ${u}`);
    const configId = randomBytes(16).toString('hex');
    corp.ways.set(configId, {
      configId,
      type: b.type,
      scene: b.scene,
      state: b.state,
      users,
      remark: b.remark,
      skipVerify: b.skip_verify ?? true,
      next: 0,
    });
    c.body = { config_id: configId, ...(b.scene === 2 ? { qr_code: `${ctx.baseUrl()}${PREFIX}/qr/${configId}` } : {}) };
  });

  router.post('/cgi-bin/externalcontact/send_welcome_msg', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        welcome_code: z.string().min(1),
        text: z.object({ content: z.string().min(1).max(4000) }).optional(),
        attachments: z
          .array(z.object({ msgtype: z.string() }).loose())
          .max(9)
          .optional(),
      }),
      c.request.body,
    );
    if (!b.text && !b.attachments?.length) throw new WecomError(41063, 'welcome message is empty');
    const code = corp.welcomeCodes.get(b.welcome_code);
    if (!code) throw new WecomError(40058, 'invalid welcome_code');
    // Single use, and only within 20 s of the event.
    if (code.used || clock.now() > code.expiresAt) throw new WecomError(41051, 'externaluser has started chatting');
    code.used = true;
    corp.welcomes.push({
      externalUserId: code.externalUserId,
      userid: code.userid,
      text: b.text?.content,
      attachments: b.attachments ?? [],
      at: clock.now(),
    });
    c.body = {};
  });

  const presentGroups = (corp: Corp, filter: { tagIds?: string[]; groupIds?: string[] }) => {
    const tagFilter = filter.tagIds?.length ? new Set(filter.tagIds) : undefined;
    const groupFilter = !tagFilter && filter.groupIds?.length ? new Set(filter.groupIds) : undefined;
    return [...corp.groups.values()]
      .filter((g) => !groupFilter || groupFilter.has(g.groupId))
      .map((g) => ({
        group_id: g.groupId,
        group_name: g.name,
        create_time: g.createTime,
        order: g.order,
        tag: [...corp.tags.values()]
          .filter((t) => t.groupId === g.groupId && (!tagFilter || tagFilter.has(t.id)))
          .map((t) => ({ id: t.id, name: t.name, create_time: t.createTime, order: t.order })),
      }))
      .filter((g) => !tagFilter || g.tag.length > 0);
  };

  router.post('/cgi-bin/externalcontact/get_corp_tag_list', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({ tag_id: z.array(z.string()).optional(), group_id: z.array(z.string()).optional() }),
      c.request.body,
    );
    c.body = { tag_group: presentGroups(corp, { tagIds: b.tag_id, groupIds: b.group_id }) };
  });

  router.post('/cgi-bin/externalcontact/add_corp_tag', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        group_id: z.string().optional(),
        group_name: z.string().min(1).max(30).optional(),
        order: z.number().int().optional(),
        tag: z.array(z.object({ name: z.string().min(1).max(30), order: z.number().int().optional() })).min(1),
        agentid: z.number().int().optional(),
      }),
      c.request.body,
    );
    const now = clock.nowSeconds();
    let group = b.group_id
      ? corp.groups.get(b.group_id)
      : [...corp.groups.values()].find((g) => g.name === b.group_name);
    if (b.group_id && !group) throw new WecomError(40068, 'invalid tagid');
    if (!group) {
      if (!b.group_name) throw new WecomError(40058, 'invalid Request Parameter: group_name');
      group = { groupId: randomId('et', 12), name: b.group_name, order: b.order ?? 0, createTime: now };
      corp.groups.set(group.groupId, group);
    }
    const existing = new Set([...corp.tags.values()].filter((t) => t.groupId === group.groupId).map((t) => t.name));
    const names = b.tag.map((t) => t.name);
    if (names.some((n) => existing.has(n)) || new Set(names).size !== names.length)
      throw new WecomError(40071, 'UserTag Name Already Exist');
    if (corp.tags.size + names.length > 10_000) throw new WecomError(40070, 'tag count limit reached');
    const created = b.tag.map((t) => ({
      id: randomId('et', 12),
      name: t.name,
      order: t.order ?? 0,
      createTime: now,
      groupId: group.groupId,
    }));
    for (const t of created) corp.tags.set(t.id, t);
    c.body = {
      tag_group: {
        group_id: group.groupId,
        group_name: group.name,
        create_time: group.createTime,
        order: group.order,
        tag: created.map((t) => ({ id: t.id, name: t.name, create_time: t.createTime, order: t.order })),
      },
    };
  });

  router.post('/cgi-bin/externalcontact/edit_corp_tag', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        id: z.string().min(1),
        name: z.string().min(1).max(30).optional(),
        order: z.number().int().optional(),
      }),
      c.request.body,
    );
    const record = corp.tags.get(b.id) ?? corp.groups.get(b.id);
    if (!record) throw new WecomError(40068, 'invalid tagid');
    if (b.name !== undefined) {
      const siblings =
        'groupId' in record && corp.tags.has(b.id)
          ? [...corp.tags.values()].filter((t) => t.groupId === (record as TagRecord).groupId && t.id !== b.id)
          : [...corp.groups.values()].filter((g) => g.groupId !== b.id);
      if (siblings.some((s) => s.name === b.name)) throw new WecomError(40071, 'UserTag Name Already Exist');
      record.name = b.name;
    }
    if (b.order !== undefined) record.order = b.order;
    c.body = {};
  });

  router.post('/cgi-bin/externalcontact/del_corp_tag', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({ tag_id: z.array(z.string()).optional(), group_id: z.array(z.string()).optional() }),
      c.request.body,
    );
    const tagIds = b.tag_id ?? [];
    const groupIds = b.group_id ?? [];
    if (tagIds.length + groupIds.length === 0) throw new WecomError(40058, 'invalid Request Parameter: tag_id');
    for (const id of tagIds) if (!corp.tags.has(id)) throw new WecomError(40068, 'invalid tagid');
    for (const id of groupIds) if (!corp.groups.has(id)) throw new WecomError(40068, 'invalid tagid');
    const removed = new Set(tagIds);
    for (const g of groupIds) {
      corp.groups.delete(g);
      for (const t of corp.tags.values()) if (t.groupId === g) removed.add(t.id);
    }
    for (const id of removed) corp.tags.delete(id);
    // A group whose last tag is deleted is deleted too.
    for (const g of [...corp.groups.keys()])
      if (![...corp.tags.values()].some((t) => t.groupId === g) && !groupIds.includes(g)) corp.groups.delete(g);
    for (const contact of corp.contacts.values())
      for (const f of contact.follow.values()) for (const id of removed) f.tagIds.delete(id);
    c.body = {};
  });

  router.post('/cgi-bin/externalcontact/mark_tag', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        userid: z.string().min(1),
        external_userid: z.string().min(1),
        add_tag: z.array(z.string()).optional(),
        remove_tag: z.array(z.string()).optional(),
      }),
      c.request.body,
    );
    if (!corp.members.has(b.userid)) throw new WecomError(60111, 'userid not found');
    const follow = corp.contacts.get(b.external_userid)?.follow.get(b.userid);
    if (!follow) throw new WecomError(84061, 'not external contact');
    const add = b.add_tag ?? [];
    const remove = b.remove_tag ?? [];
    if (add.length + remove.length === 0) throw new WecomError(40058, 'invalid Request Parameter: add_tag');
    for (const id of [...add, ...remove]) if (!corp.tags.has(id)) throw new WecomError(40068, 'invalid tagid');
    for (const id of add) follow.tagIds.add(id);
    for (const id of remove) follow.tagIds.delete(id);
    c.body = {};
  });

  router.post('/cgi-bin/externalcontact/add_msg_template', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        chat_type: z.enum(['single', 'group']).default('single'),
        external_userid: z.array(z.string()).max(10_000).optional(),
        chat_id_list: z.array(z.string()).max(2000).optional(),
        sender: z.string().optional(),
        allow_select: z.boolean().optional(),
        text: z.object({ content: z.string().min(1).max(4000) }).optional(),
        attachments: z
          .array(z.object({ msgtype: z.string() }).loose())
          .max(9)
          .optional(),
      }),
      c.request.body,
    );
    if (!b.text && !b.attachments?.length) throw new WecomError(41063, 'message is empty');
    if (b.sender !== undefined && !corp.members.has(b.sender)) throw new WecomError(60111, 'userid not found');
    if (b.chat_type === 'group' && !b.sender) throw new WecomError(40058, 'invalid Request Parameter: sender');
    const targets = b.external_userid ?? [];
    const failList = targets.filter((id) => {
      const contact = corp.contacts.get(id);
      return !contact || (b.sender !== undefined && !contact.follow.has(b.sender));
    });
    const msgid = `msg${alnum(24)}`;
    const accepted = targets.filter((id) => !failList.includes(id));
    corp.templates.push({
      msgid,
      status: new Map(accepted.map((id) => [id, 0 as const])),
      chatType: b.chat_type,
      externalUserIds: accepted,
      sender: b.sender,
      text: b.text?.content,
      attachments: b.attachments ?? [],
      at: clock.now(),
    });
    c.body = { fail_list: failList, msgid };
  });

  router.post('/cgi-bin/externalcontact/groupchat/list', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        status_filter: z.number().int().min(0).max(3).optional(),
        owner_filter: z.object({ userid_list: z.array(z.string()).optional() }).optional(),
        cursor: z.string().optional(),
        limit: z.number().int().min(1).max(1000),
      }),
      c.request.body,
    );
    const all = [...corp.groupChats.values()];
    const start = b.cursor ? Number(Buffer.from(b.cursor, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new WecomError(40058, 'invalid Request Parameter: cursor');
    c.body = {
      group_chat_list: all.slice(start, start + b.limit).map((g) => ({ chat_id: g.chatId, status: 0 })),
      next_cursor: start + b.limit < all.length ? Buffer.from(String(start + b.limit)).toString('base64url') : '',
    };
  });

  router.post('/cgi-bin/externalcontact/groupchat/get', (c) => {
    const corp = authorise(c);
    const b = parse(z.object({ chat_id: z.string().min(1), need_name: z.number().int().optional() }), c.request.body);
    const chat = corp.groupChats.get(b.chat_id);
    if (!chat) throw new WecomError(40050, 'chatid not found');
    c.body = {
      group_chat: {
        chat_id: chat.chatId,
        name: chat.name,
        owner: chat.owner,
        create_time: chat.createTime,
        member_list: chat.members.map((m) => {
          const contact = corp.contacts.get(m);
          return {
            userid: m,
            type: corp.members.has(m) ? 1 : 2,
            join_time: chat.createTime,
            ...(contact?.unionid ? { unionid: contact.unionid } : {}),
          };
        }),
      },
    };
  });

  /**
   * The stand-in for WeCom's OAuth page inside the WeCom client: `userid` says which member is browsing;
   * answers the redirect with a single-use code, as the client does for a member of the corp.
   */
  router.get('/connect/oauth2/authorize', (c) => {
    const corpid = typeof c.query.appid === 'string' ? c.query.appid : '';
    const redirect = typeof c.query.redirect_uri === 'string' ? c.query.redirect_uri : '';
    const userid = typeof c.query.userid === 'string' ? c.query.userid : '';
    const corp = corps.get(corpid);
    if (!corp || !redirect || !corp.members.has(userid)) {
      c.status = 400;
      c.body = 'appid (a sandbox corp), redirect_uri and userid (a member of it) are required';
      return;
    }
    const target = new URL(redirect);
    const code = issueOauthCode(corp, userid);
    target.searchParams.set('code', code);
    target.searchParams.set('state', typeof c.query.state === 'string' ? c.query.state : '');
    c.redirect(target.toString());
  });

  router.get('/cgi-bin/auth/getuserinfo', (c) => {
    const corp = authorise(c);
    const code = typeof c.query.code === 'string' ? c.query.code : '';
    if (!code) throw new WecomError(41008, 'missing code');
    const entry = corp.oauthCodes.get(code);
    corp.oauthCodes.delete(code);
    if (!entry || clock.now() > entry.expiresAt) throw new WecomError(40029, 'invalid code');
    c.body = { userid: entry.userid };
  });

  // Tasks created through the API are the corp's (create_type 0); the sandbox names their sender as creator.
  router.post('/cgi-bin/externalcontact/get_groupmsg_list_v2', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        chat_type: z.enum(['single', 'group']).default('single'),
        start_time: z.number().int().nonnegative(),
        end_time: z.number().int().nonnegative(),
        creator: z.string().optional(),
        filter_type: z.number().int().min(0).max(2).default(2),
        limit: z.number().int().min(1).max(100).default(50),
        cursor: z.string().optional(),
      }),
      c.request.body,
    );
    if (b.end_time < b.start_time || b.end_time - b.start_time > 31 * 86_400)
      throw new WecomError(40058, 'invalid Request Parameter: end_time');
    const all = corp.templates.filter((t) => {
      const at = Math.floor(t.at / 1000);
      return (
        t.chatType === b.chat_type &&
        at >= b.start_time &&
        at <= b.end_time &&
        b.filter_type !== 1 &&
        (b.creator === undefined || t.sender === b.creator)
      );
    });
    const start = b.cursor ? Number(Buffer.from(b.cursor, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new WecomError(40058, 'invalid Request Parameter: cursor');
    c.body = {
      group_msg_list: all.slice(start, start + b.limit).map((t) => ({
        msgid: t.msgid,
        ...(t.sender ? { creator: t.sender } : {}),
        create_type: 0,
        ...(t.text ? { text: { content: t.text } } : {}),
        attachments: t.attachments,
        create_time: String(Math.floor(t.at / 1000)),
      })),
      next_cursor: start + b.limit < all.length ? Buffer.from(String(start + b.limit)).toString('base64url') : '',
    };
  });

  router.post('/cgi-bin/externalcontact/get_groupmsg_send_result', (c) => {
    const corp = authorise(c);
    const b = parse(
      z.object({
        msgid: z.string().min(1),
        userid: z.string().min(1),
        limit: z.number().int().min(1).max(1000).default(500),
        cursor: z.string().optional(),
      }),
      c.request.body,
    );
    const template = corp.templates.find((t) => t.msgid === b.msgid);
    if (!template) throw new WecomError(41058, 'invalid msgid');
    if (template.sender !== undefined && template.sender !== b.userid) throw new WecomError(60111, 'userid not found');
    const all = [...template.status.entries()];
    const start = b.cursor ? Number(Buffer.from(b.cursor, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new WecomError(40058, 'invalid Request Parameter: cursor');
    const page = all.slice(start, start + b.limit);
    c.body = {
      send_list: page.map(([id, status]) => ({
        external_userid: id,
        userid: b.userid,
        status,
        ...(status === 1 ? { send_time: Math.floor(template.at / 1000) } : {}),
      })),
      next_cursor: start + b.limit < all.length ? Buffer.from(String(start + b.limit)).toString('base64url') : '',
    };
  });

  /** Pushes an event to the corp's callback URL; re-sends (3 deliveries in all) when no answer within the timeout. */
  async function push(corp: Corp, xml: string): Promise<CallbackDelivery[]> {
    const deliveries: CallbackDelivery[] = [];
    if (!corp.callbackUrl) return deliveries;
    const sealed = corp.crypto.sealMessage(xml, { timestamp: String(clock.nowSeconds()) });
    const url = new URL(corp.callbackUrl);
    url.searchParams.set('msg_signature', sealed.msgSignature);
    url.searchParams.set('timestamp', sealed.timestamp);
    url.searchParams.set('nonce', sealed.nonce);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const started = Date.now();
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'text/xml' },
          body: sealed.body,
          signal: AbortSignal.timeout(callbackTimeoutMs),
        });
        const body = await res.text();
        deliveries.push({ attempt, status: res.status, body, ms: Date.now() - started });
        if (res.status === 200) break;
      } catch (err) {
        logger.debug({ err, corpid: corp.corpid }, 'sandbox wecom callback failed');
        deliveries.push({ attempt, status: 0, body: '', ms: Date.now() - started });
      }
    }
    return deliveries;
  }

  const cdata = (v: string) => `<![CDATA[${v}]]>`;

  const api: WecomSandboxApi = {
    addCorp(input = {}) {
      const corpid = input.corpid ?? `ww${randomBytes(8).toString('hex')}`;
      const secret = input.secret ?? alnum(43);
      const token = input.token ?? alnum(16);
      const encodingAESKey = input.encodingAESKey ?? alnum(43);
      corps.set(corpid, {
        corpid,
        secret,
        callbackUrl: input.callbackUrl,
        token,
        encodingAESKey,
        crypto: createWecomCallbackCrypto({ token, encodingAESKey, corpid, now: () => clock.now() }),
        members: new Set(input.members ?? ['zhangsan', 'lisi']),
        tokens: new Map(),
        contacts: new Map(),
        ways: new Map(),
        groups: new Map(),
        tags: new Map(),
        welcomeCodes: new Map(),
        welcomes: [],
        templates: [],
        calls: { minute: 0, count: 0 },
        gettokenCalls: 0,
        oauthCodes: new Map(),
        groupChats: new Map(),
      });
      return { corpid, secret, token, encodingAESKey, apiBase: `${ctx.baseUrl()}${PREFIX}` };
    },
    setCallbackUrl(corpid, url) {
      corpOf(corpid).callbackUrl = url;
    },
    async verifyCallbackUrl(corpid) {
      const corp = corpOf(corpid);
      if (!corp.callbackUrl) return false;
      const plaintext = String(randomBytes(8).readBigUInt64BE(0));
      const q = corp.crypto.sealEcho(plaintext, { timestamp: String(clock.nowSeconds()) });
      const url = new URL(corp.callbackUrl);
      for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
      try {
        // WeCom wants the answer within 1 s, exactly the plaintext: no quotes, BOM or newline.
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        return res.status === 200 && (await res.text()) === plaintext;
      } catch {
        return false;
      }
    },
    async addCustomer(input) {
      const corp = corpOf(input.corpid);
      const way = input.configId ? corp.ways.get(input.configId) : undefined;
      if (input.configId && !way) throw new Error(`no contact way ${input.configId}`);
      let rotated: string | undefined;
      if (way && !input.userid) {
        rotated = way.users[way.next % way.users.length];
        way.next += 1;
      }
      const userid = input.userid ?? rotated ?? [...corp.members][0];
      if (!userid || !corp.members.has(userid)) throw new Error(`no member ${String(userid)}`);
      const externalUserId = input.externalUserId ?? randomId('wm', 21);
      const existing = corp.contacts.get(externalUserId);
      const follow: FollowInfo = {
        userid,
        remark: '',
        description: '',
        createtime: clock.nowSeconds(),
        tagIds: new Set(),
        state: way?.state,
        addWay: way ? 1 : 0,
        operUserid: externalUserId,
      };
      if (existing) existing.follow.set(userid, follow);
      else
        corp.contacts.set(externalUserId, {
          externalUserId,
          name: input.name ?? 'Sandbox customer',
          unionid: input.unionid,
          gender: 0,
          avatar: `${ctx.baseUrl()}${PREFIX}/avatar/${externalUserId}`,
          follow: new Map([[userid, follow]]),
        });
      const welcomeCode = alnum(43);
      corp.welcomeCodes.set(welcomeCode, {
        code: welcomeCode,
        userid,
        externalUserId,
        expiresAt: clock.now() + WELCOME_CODE_TTL_MS,
        used: false,
      });
      const xml =
        `<xml><ToUserName>${cdata(corp.corpid)}</ToUserName><FromUserName>${cdata('sys')}</FromUserName>` +
        `<CreateTime>${clock.nowSeconds()}</CreateTime><MsgType>${cdata('event')}</MsgType>` +
        `<Event>${cdata('change_external_contact')}</Event><ChangeType>${cdata('add_external_contact')}</ChangeType>` +
        `<UserID>${cdata(userid)}</UserID><ExternalUserID>${cdata(externalUserId)}</ExternalUserID>` +
        (way?.state ? `<State>${cdata(way.state)}</State>` : '') +
        `<WelcomeCode>${cdata(welcomeCode)}</WelcomeCode></xml>`;
      const deliveries = input.silent ? [] : await push(corp, xml);
      return { externalUserId, userid, welcomeCode, deliveries };
    },
    async memberTagsCustomer(input) {
      const corp = corpOf(input.corpid);
      const follow = corp.contacts.get(input.externalUserId)?.follow.get(input.userid);
      if (!follow) throw new Error(`${input.externalUserId} does not follow ${input.userid}`);
      let group = [...corp.groups.values()].find((g) => g.name === input.groupName);
      if (!group) {
        group = { groupId: randomId('et', 12), name: input.groupName, order: 0, createTime: clock.nowSeconds() };
        corp.groups.set(group.groupId, group);
      }
      const groupId = group.groupId;
      let tag = [...corp.tags.values()].find((t) => t.groupId === groupId && t.name === input.tagName);
      if (!tag) {
        tag = { id: randomId('et', 12), name: input.tagName, order: 0, createTime: clock.nowSeconds(), groupId };
        corp.tags.set(tag.id, tag);
      }
      follow.tagIds.add(tag.id);
      const xml =
        `<xml><ToUserName>${cdata(corp.corpid)}</ToUserName><FromUserName>${cdata('sys')}</FromUserName>` +
        `<CreateTime>${clock.nowSeconds()}</CreateTime><MsgType>${cdata('event')}</MsgType>` +
        `<Event>${cdata('change_external_contact')}</Event><ChangeType>${cdata('edit_external_contact')}</ChangeType>` +
        `<UserID>${cdata(input.userid)}</UserID><ExternalUserID>${cdata(input.externalUserId)}</ExternalUserID></xml>`;
      return { tagId: tag.id, deliveries: await push(corp, xml) };
    },
    corpTagId(corpid, groupName, tagName) {
      const corp = corpOf(corpid);
      const group = [...corp.groups.values()].find((g) => g.name === groupName);
      return [...corp.tags.values()].find((t) => t.groupId === group?.groupId && t.name === tagName)?.id;
    },
    followersOf(corpid, externalUserId) {
      return [...(corpOf(corpid).contacts.get(externalUserId)?.follow.keys() ?? [])];
    },
    async customerDeletesMember({ corpid, externalUserId, userid }) {
      const corp = corpOf(corpid);
      const contact = corp.contacts.get(externalUserId);
      if (!contact?.follow.delete(userid)) throw new Error(`${externalUserId} does not follow ${userid}`);
      if (contact.follow.size === 0) corp.contacts.delete(externalUserId);
      const xml =
        `<xml><ToUserName>${cdata(corp.corpid)}</ToUserName><FromUserName>${cdata('sys')}</FromUserName>` +
        `<CreateTime>${clock.nowSeconds()}</CreateTime><MsgType>${cdata('event')}</MsgType>` +
        `<Event>${cdata('change_external_contact')}</Event><ChangeType>${cdata('del_follow_user')}</ChangeType>` +
        `<UserID>${cdata(userid)}</UserID><ExternalUserID>${cdata(externalUserId)}</ExternalUserID></xml>`;
      return push(corp, xml);
    },
    welcomeMessages: (corpid, externalUserId) =>
      corpOf(corpid).welcomes.filter((w) => !externalUserId || w.externalUserId === externalUserId),
    msgTemplates: (corpid) => corpOf(corpid).templates.slice(),
    addGroupChat(corpid, input) {
      const corp = corpOf(corpid);
      if (!corp.members.has(input.owner)) throw new Error(`no member ${input.owner}`);
      const chatId = randomId('wr', 16);
      corp.groupChats.set(chatId, {
        chatId,
        name: input.name,
        owner: input.owner,
        createTime: clock.nowSeconds(),
        members: [input.owner, ...input.members],
      });
      return chatId;
    },
    leaveGroupChat(corpid, chatId, member) {
      const chat = corpOf(corpid).groupChats.get(chatId);
      if (!chat) throw new Error(`no group chat ${chatId}`);
      chat.members = chat.members.filter((m) => m !== member);
    },
    oauthCode(corpid, userid) {
      const corp = corpOf(corpid);
      if (!corp.members.has(userid)) throw new Error(`no member ${userid}`);
      return issueOauthCode(corp, userid);
    },
    memberSendsTemplate(corpid, msgid, input = {}) {
      const template = corpOf(corpid).templates.find((t) => t.msgid === msgid);
      if (!template) throw new Error(`no template ${msgid}`);
      for (const id of template.status.keys())
        template.status.set(id, input.notFriends?.includes(id) ? 2 : input.alreadyToday?.includes(id) ? 3 : 1);
    },
    tagsOf(corpid, externalUserId, userid) {
      return [...(corpOf(corpid).contacts.get(externalUserId)?.follow.get(userid)?.tagIds ?? [])];
    },
    gettokenCalls: (corpid) => corpOf(corpid).gettokenCalls,
    revokeTokens(corpid) {
      const corp = corpOf(corpid);
      for (const token of corp.tokens.keys()) tokenOwners.delete(token);
      corp.tokens.clear();
      corp.currentToken = undefined;
    },
    setCallBudget(perMinute) {
      budgetPerMinute = perMinute;
    },
    setCallbackTimeoutMs(ms) {
      callbackTimeoutMs = ms;
    },
  };

  // ---- control side (not part of WeCom): staff rehearsals and the demo script customers through it ----
  router.post('/_sandbox/corps', (c) => {
    const b = parse(
      z
        .object({
          corpid: z.string().min(4).optional(),
          secret: z.string().min(8).optional(),
          callback_url: z.string().url().optional(),
          token: z
            .string()
            .regex(/^[A-Za-z0-9]{3,32}$/)
            .optional(),
          encoding_aes_key: z
            .string()
            .regex(/^[A-Za-z0-9]{43}$/)
            .optional(),
          members: z.array(z.string().min(1)).optional(),
        })
        .strict(),
      c.request.body,
    );
    c.body = api.addCorp({
      corpid: b.corpid,
      secret: b.secret,
      callbackUrl: b.callback_url,
      token: b.token,
      encodingAESKey: b.encoding_aes_key,
      members: b.members,
    });
  });
  router.post('/_sandbox/customers', async (c) => {
    const b = parse(
      z
        .object({
          corpid: z.string(),
          config_id: z.string().optional(),
          userid: z.string().optional(),
          name: z.string().max(64).optional(),
          unionid: z.string().optional(),
        })
        .strict(),
      c.request.body,
    );
    if (!corps.has(b.corpid)) throw new WecomError(40013, 'invalid corpid');
    const r = await api
      .addCustomer({ corpid: b.corpid, configId: b.config_id, userid: b.userid, name: b.name, unionid: b.unionid })
      .catch((err: unknown) => {
        throw new WecomError(40058, err instanceof Error ? err.message : 'invalid request');
      });
    c.body = { external_userid: r.externalUserId, welcome_code: r.welcomeCode, deliveries: r.deliveries };
  });
  router.get('/_sandbox/corps/:corpid/welcome-messages', (c) => {
    if (!corps.has(c.params.corpid ?? '')) throw new WecomError(40013, 'invalid corpid');
    c.body = { welcome_messages: api.welcomeMessages(c.params.corpid ?? '') };
  });

  return { prefix: PREFIX, router, api };
}
