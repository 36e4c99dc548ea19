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
  }): Promise<{ externalUserId: string; welcomeCode: string; deliveries: CallbackDelivery[] }>;
  /** The customer deletes the member (del_follow_user event); the contact goes when no member follows it. */
  customerDeletesMember(input: { corpid: string; externalUserId: string; userid: string }): Promise<CallbackDelivery[]>;
  welcomeMessages(corpid: string, externalUserId?: string): WelcomeMessage[];
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
    corp.templates.push({
      msgid,
      chatType: b.chat_type,
      externalUserIds: targets.filter((id) => !failList.includes(id)),
      sender: b.sender,
      text: b.text?.content,
      attachments: b.attachments ?? [],
      at: clock.now(),
    });
    c.body = { fail_list: failList, msgid };
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
      const userid = input.userid ?? way?.users[0] ?? [...corp.members][0];
      if (!userid || !corp.members.has(userid)) throw new Error(`no member ${String(userid)}`);
      const externalUserId = randomId('wm', 21);
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
      const deliveries = await push(corp, xml);
      return { externalUserId, welcomeCode, deliveries };
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
