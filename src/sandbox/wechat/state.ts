/**
 * What the official-account sandbox remembers, in memory: the accounts it plays, their tokens, followers
 * (subscription, tags, customer-service windows, an inbox of everything the service sent them), tags,
 * menus, QR tickets, templates, OAuth codes, call counters and quotas. Times come from the sandbox clock.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SandboxClock } from '../clock.js';

export type SandboxMessageMode = 'plain' | 'compatible' | 'safe';

export interface SandboxWechatAccount {
  /** Our key for the account (the demo and tests drive followers by it). */
  key: string;
  appid: string;
  secret: string;
  /** The callback Token, for signatures. */
  token: string;
  encodingAESKey?: string;
  /** gh_… original id (ToUserName of pushes). */
  originalId: string;
  /** How pushes are sent: safe (encrypted) by default when an AES key is set. */
  mode: SandboxMessageMode;
  /** Where WeChat pushes messages and events (our /wechat/:account/callback). */
  callbackUrl?: string;
}

export type InboxChannel = 'passive' | 'custom' | 'template' | 'mass';

/** One message the service sent a follower, as the follower's phone would show it. */
export interface InboxEntry {
  seq: number;
  /** ISO time (sandbox clock). */
  at: string;
  channel: InboxChannel;
  msgtype: string;
  content: Record<string, unknown>;
  /** WeChat's id for template and mass messages. */
  msgId?: string;
  /** For passive replies: which push it answered (MsgId, or the event name). */
  inReplyTo?: string;
  /** What the follower reads, in one line (text, a template's title and values, an article title…). */
  text: string;
}

interface SendWindow {
  until: number;
  left: number;
}

export interface SandboxFollower {
  openid: string;
  unionid: string;
  nickname: string;
  subscribed: boolean;
  /** Unix seconds of the last follow. */
  subscribeTime?: number;
  subscribeScene?: string;
  qrScene?: number;
  qrSceneStr?: string;
  remark: string;
  /** In the order applied (the last one drives conditional-menu matching). */
  tagIds: number[];
  /** Opened by the follower's own messages: 5 customer-service messages within 48 h. */
  messageWindow?: SendWindow;
  /** Opened by a follow, a menu click or a scan: 3 messages within a minute. */
  eventWindow?: SendWindow;
  typingUntil?: number;
  /** Broadcasts received per month ('2026-11' → n): at most 4. */
  massByMonth: Map<string, number>;
  /** The follower refused template messages from the account: TEMPLATESENDJOBFINISH says "failed:user block". */
  blocksTemplates: boolean;
  clientPlatform: '1' | '2' | '3';
  inbox: InboxEntry[];
}

export interface SandboxTemplate {
  templateId: string;
  title: string;
  /** The keyword names its `data` must fill (e.g. thing1, amount2). */
  keywords: string[];
}

export interface QrTicket {
  ticket: string;
  permanent: boolean;
  sceneId?: number;
  sceneStr?: string;
  /** ms since epoch (sandbox clock); undefined for permanent codes. */
  expiresAt?: number;
  url: string;
}

export interface MenuRecord {
  menuid: string;
  button: unknown[];
  matchrule?: { tag_id?: string; client_platform_type?: string };
}

export interface OAuthCode {
  openid: string;
  scope: 'snsapi_base' | 'snsapi_userinfo';
  expiresAt: number;
  used: boolean;
}

export interface UserGrant {
  openid: string;
  scope: string;
  expiresAt: number;
}

export interface AccountState {
  account: SandboxWechatAccount;
  stable?: { token: string; expiresAt: number };
  forceRefreshAt: number[];
  followers: Map<string, SandboxFollower>;
  tags: Map<number, { id: number; name: string }>;
  nextTagId: number;
  menu?: MenuRecord;
  conditionalMenus: MenuRecord[];
  nextMenuId: number;
  qrTickets: Map<string, QrTicket>;
  /** Temporary material by media_id (kept three days). */
  media: Map<string, { type: string; bytes: number; expiresAt: number }>;
  permanentQrCount: number;
  templates: Map<string, SandboxTemplate>;
  /** openid:client_msg_id → msgid and when (deduplicated for 10 minutes). */
  templateClientMsgIds: Map<string, { msgId: string; at: number }>;
  /** clientmsgid → msg_id and when (refused for 24 h). */
  massClientMsgIds: Map<string, { msgId: string; at: number }>;
  /** Broadcasts to all followers per month (console + API share 4 a month; then 45028). */
  massToAllByMonth: Map<string, number>;
  /** Every error the API answered, oldest first (tests prove we never cause 45015/45047/45028). */
  errorsAnswered: Array<{ path: string; errcode: number; at: number }>;
  jsapiTicket?: { ticket: string; expiresAt: number };
  oauthCodes: Map<string, OAuthCode>;
  userGrants: Map<string, UserGrant>;
  refreshGrants: Map<string, UserGrant>;
  /** Calls answered per API path since the sandbox day began (the budget), and in total (statistics). */
  callsToday: Map<string, number>;
  callsDay: string;
  callsTotal: Map<string, number>;
  /** Daily budget per API path; `*` for any path not listed. */
  quotas: Map<string, number>;
}

export interface IssuedToken {
  appid: string;
  expiresAt: number;
  kind: 'stable' | 'token';
  /** Replaced by a forced refresh or revoked by a test: refused with 40001. */
  revoked: boolean;
}

export const TOKEN_LIFETIME_MS = 7200 * 1000;
/** stable_token hands out a new token once the current one has less than this left. */
export const STABLE_RENEW_MS = 300 * 1000;
export const DEFAULT_DAILY_QUOTA = 100_000;

/** WeChat's own record of one push to the callback: how long the first answer took and what it was. */
export interface PushLogEntry {
  account: string;
  openid: string;
  /** MsgType for messages, Event for events. */
  type: string;
  /** Sandbox-clock ISO time of the push. */
  at: string;
  /** Wall-clock ms until the callback answered (first answered attempt), absent when it never did. */
  answeredMs?: number;
  attempts: number;
  reply: 'none' | 'message' | 'invalid' | 'unanswered';
}

export class SandboxWechatState {
  readonly accounts = new Map<string, AccountState>();
  readonly tokens = new Map<string, IssuedToken>();
  /** Every push made to a callback (for the demo's summary and the acceptance suite), oldest first. */
  readonly pushLog: PushLogEntry[] = [];
  /** unionids the platform assigned to people who use several accounts of one open-platform account. */
  readonly unionids = new Map<string, string>();
  private seq = 0;
  private msgIdCounter = 1_000_000_000;

  constructor(private readonly clock: SandboxClock) {}

  addAccount(account: SandboxWechatAccount): AccountState {
    const state: AccountState = {
      account,
      forceRefreshAt: [],
      followers: new Map(),
      tags: new Map(),
      nextTagId: 100,
      conditionalMenus: [],
      nextMenuId: 400_000_000,
      qrTickets: new Map(),
      media: new Map(),
      permanentQrCount: 0,
      templates: new Map(),
      templateClientMsgIds: new Map(),
      massClientMsgIds: new Map(),
      massToAllByMonth: new Map(),
      errorsAnswered: [],
      oauthCodes: new Map(),
      userGrants: new Map(),
      refreshGrants: new Map(),
      callsToday: new Map(),
      callsDay: this.day(),
      callsTotal: new Map(),
      quotas: new Map([['*', DEFAULT_DAILY_QUOTA]]),
    };
    this.accounts.set(account.appid, state);
    return state;
  }

  byKey(key: string): AccountState | undefined {
    for (const state of this.accounts.values()) if (state.account.key === key) return state;
    return undefined;
  }

  byAppid(appid: string): AccountState | undefined {
    return this.accounts.get(appid);
  }

  /** The sandbox day (UTC+8, like WeChat's quota day). */
  day(): string {
    return new Date(this.clock.now() + 8 * 3600_000).toISOString().slice(0, 10);
  }

  month(): string {
    return this.day().slice(0, 7);
  }

  issueToken(appid: string, kind: 'stable' | 'token'): { token: string; expiresAt: number } {
    const token = `SBX_${kind === 'stable' ? 'S' : 'T'}_${randomBytes(24).toString('base64url')}`;
    const expiresAt = this.clock.now() + TOKEN_LIFETIME_MS;
    this.tokens.set(token, { appid, expiresAt, kind, revoked: false });
    return { token, expiresAt };
  }

  /** Makes every token of the account invalid at once (40001 on the next call). */
  revokeTokens(appid: string): number {
    let n = 0;
    for (const issued of this.tokens.values())
      if (issued.appid === appid && !issued.revoked) {
        issued.revoked = true;
        n += 1;
      }
    const state = this.accounts.get(appid);
    if (state) state.stable = undefined;
    return n;
  }

  /** A follower record, created (never subscribed) on first sight, with a unionid stable across runs. */
  follower(state: AccountState, openid: string): SandboxFollower {
    let f = state.followers.get(openid);
    if (!f) {
      f = {
        openid,
        unionid:
          this.unionids.get(openid) ??
          `oU${createHash('sha1').update(`union:${openid}`).digest('base64url').slice(0, 26)}`,
        nickname: `用户${openid.slice(-4)}`,
        subscribed: false,
        remark: '',
        tagIds: [],
        massByMonth: new Map(),
        blocksTemplates: false,
        clientPlatform: '2',
        inbox: [],
      };
      state.followers.set(openid, f);
    }
    return f;
  }

  deliver(follower: SandboxFollower, entry: Omit<InboxEntry, 'seq' | 'at' | 'text'>): InboxEntry {
    const full: InboxEntry = {
      seq: ++this.seq,
      at: new Date(this.clock.now()).toISOString(),
      ...entry,
      text: summarize(entry.msgtype, entry.content),
    };
    follower.inbox.push(full);
    return full;
  }

  nextMsgId(): string {
    this.msgIdCounter += 1;
    return String(this.msgIdCounter);
  }

  /** A 64-bit-looking MsgId for messages the follower sends. */
  nextInboundMsgId(): string {
    return `${this.clock.nowSeconds()}${String(++this.seq).padStart(6, '0')}`;
  }
}

/** One readable line for an inbox entry, whatever the channel's field names. */
export function summarize(msgtype: string, content: Record<string, unknown>): string {
  const s = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const first = (v: unknown): Record<string, unknown> | undefined => {
    const one = Array.isArray(v) ? (v[0] as unknown) : v;
    return typeof one === 'object' && one !== null ? (one as Record<string, unknown>) : undefined;
  };
  switch (msgtype) {
    case 'text':
      return s(content.Content) ?? s(content.content) ?? '';
    case 'template': {
      const data = (content.data ?? {}) as Record<string, unknown>;
      return [s(content.title), ...Object.values(data).map(s)].filter(Boolean).join(' | ');
    }
    case 'news': {
      const articles =
        first((content.Articles as { item?: unknown } | undefined)?.item) ?? first(content.articles ?? undefined);
      return `[news] ${s(articles?.Title) ?? s(articles?.title) ?? ''}`.trim();
    }
    case 'msgmenu':
      return `[menu] ${s(content.head_content) ?? ''}`.trim();
    default:
      return `[${msgtype}]`;
  }
}

/** A fresh openid in the shape WeChat uses (28 characters starting with o). */
export function randomOpenid(): string {
  return `o${randomBytes(21).toString('base64url').slice(0, 27)}`;
}
