/**
 * Official-account platform simulator: the api.weixin.qq.com paths (tokens checked on every call, a daily
 * budget per API, WeChat's validation and errcodes), WeChat's side of the callback (followers who follow,
 * write, tap and scan; the 5-second rule; replies verified into an inbox), and fault injection.
 * Mounted under /wechat; its control API under /_control/wechat.
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { WechatAccountConfig } from '../../infra/config.js';
import type { Context, Next } from 'koa';
import { sha1Signature } from '../../platform/wechat/crypto.js';
import type { SandboxContext, SandboxPart } from '../context.js';
import { registerBaseRoutes, issueOAuthCode } from './api-base.js';
import { registerMediaRoutes } from './api-media.js';
import { registerMessageRoutes } from './api-messages.js';
import { registerUserRoutes } from './api-users.js';
import { createCallbackDriver, type PushResult } from './callback.js';
import { wechatControlRoutes } from './control.js';
import { DEFAULT_WECHAT_SANDBOX_SETTINGS, WxError, type WechatEnv, type WechatSandboxSettings } from './env.js';
import { followerDriver, snapshotOf, type FollowerDriver, type FollowerSnapshot } from './followers.js';
import {
  SandboxWechatState,
  type AccountState,
  type InboxEntry,
  type SandboxMessageMode,
  type SandboxTemplate,
  type SandboxWechatAccount,
  type PushLogEntry,
} from './state.js';

export interface SandboxWechatAccountInput {
  key: string;
  appid: string;
  secret: string;
  token: string;
  encodingAESKey?: string;
  originalId?: string;
  /** Default: safe when an AES key is given, else plain. */
  mode?: SandboxMessageMode;
  callbackUrl?: string;
}

export interface WechatSandboxApi {
  /** Live settings (tests shorten the 5-second rule here). */
  readonly settings: WechatSandboxSettings;
  addAccount(input: SandboxWechatAccountInput): SandboxWechatAccount;
  account(key: string): SandboxWechatAccount;
  accounts(): SandboxWechatAccount[];
  setCallbackUrl(key: string, url: string | undefined): void;
  /** A follower's phone, to drive pushes: `follower('default', openid).subscribe()`. */
  follower(key: string, openid?: string): FollowerDriver;
  /**
   * Gives the person behind these openids (of accounts bound to one open-platform account) one unionid, as
   * WeChat does; call before their first action.
   */
  setUnionid(openids: string[], unionid: string): void;
  /** WeChat's record of every push to a callback: type, time to the first answer, reply kind. */
  pushLog(): PushLogEntry[];
  followers(key: string): FollowerSnapshot[];
  inbox(key: string, openid: string): InboxEntry[];
  /** Registers a template the account may send (25 at most, like WeChat). */
  addTemplate(key: string, template: { templateId?: string; title: string; keywords: string[] }): SandboxTemplate;
  /** Makes every access token of the account invalid now (40001 on the next call). */
  revokeTokens(key: string): number;
  /** Sets the daily budget of one API path (or `*` for every other path); over it → 45009. */
  setQuota(key: string, path: string, limit: number): void;
  /** Calls answered per API path, for assertions ("one refresh, not two"). */
  calls(key: string): Record<string, number>;
  /** Errors answered to the account's API calls, oldest first (e.g. to assert that no 45047 happened). */
  errors(key: string): Array<{ path: string; errcode: number; at: number }>;
  /** Pushes the platform made on its own (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH). */
  platformPushes(key?: string): Array<{ account: string; openid: string; event: string; result: PushResult }>;
  /** A one-time OAuth code for a user, as the consent page would give our redirect URI. */
  oauthCode(key: string, openid: string, scope?: 'snsapi_base' | 'snsapi_userinfo'): string;
  /** WeChat's URL check: GET with signature and echostr; true when the echo comes back verbatim. */
  verifyCallbackUrl(key: string): Promise<{ ok: boolean; status: number; body: string }>;
  /** Resolves once every scheduled platform push has been made. */
  idle(): Promise<void>;
}

/**
 * The sandbox accounts that mirror the service's configured ones (same appid, secret, Token, AES key and
 * mode), pushing to the gateway's `POST /wechat/:account/callback` on `serviceBaseUrl`. For the demo, the
 * dev launcher and end-to-end tests.
 */
export function sandboxAccountsFrom(
  accounts: WechatAccountConfig[],
  serviceBaseUrl: string,
): SandboxWechatAccountInput[] {
  return accounts.map((a) => ({
    key: a.key,
    appid: a.appid,
    secret: a.secret,
    token: a.token,
    encodingAESKey: a.encodingAESKey,
    originalId: a.originalId,
    mode: a.mode,
    callbackUrl: `${serviceBaseUrl.replace(/\/$/, '')}/wechat/${a.key}/callback`,
  }));
}

const TOKENLESS = new Set(['/cgi-bin/stable_token', '/cgi-bin/token', '/cgi-bin/showqrcode']);

export function createWechatSandbox(
  ctx: SandboxContext,
  overrides: Partial<WechatSandboxSettings> & { accounts?: SandboxWechatAccountInput[] } = {},
): SandboxPart<WechatSandboxApi> {
  const prefix = '/wechat';
  const { accounts: initialAccounts, ...settingOverrides } = overrides;
  const settings: WechatSandboxSettings = { ...DEFAULT_WECHAT_SANDBOX_SETTINGS, ...settingOverrides };
  const state = new SandboxWechatState(ctx.clock);
  const pending = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  const env: WechatEnv = {
    state,
    clock: ctx.clock,
    logger: ctx.logger,
    settings,
    platformPushes: [],
    driver: createCallbackDriver({
      state,
      clock: ctx.clock,
      logger: ctx.logger,
      rules: () => ({ timeoutMs: settings.callbackTimeoutMs, retries: settings.callbackRetries }),
    }),
    later(ms, job) {
      let release: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (release = resolve));
      pending.add(done);
      const timer = setTimeout(() => {
        timers.delete(timer);
        job()
          .catch((err: unknown) => ctx.logger.warn({ err }, 'sandbox platform push failed'))
          .finally(() => {
            pending.delete(done);
            release();
          });
      }, ms);
      timers.add(timer);
    },
  };

  const router = new Router();
  router.use(answerErrors(prefix), applyFaults(ctx, prefix), readJsonBody, checkToken(env, prefix));
  registerBaseRoutes(router, env);
  registerMessageRoutes(router, env);
  registerMediaRoutes(router, env);
  registerUserRoutes(router, env);

  const accountState = (key: string): AccountState => {
    const s = state.byKey(key);
    if (!s) throw new Error(`the sandbox plays no official account "${key}"`);
    return s;
  };

  const api: WechatSandboxApi = {
    settings,
    addAccount(input) {
      const account: SandboxWechatAccount = {
        key: input.key,
        appid: input.appid,
        secret: input.secret,
        token: input.token,
        encodingAESKey: input.encodingAESKey,
        originalId: input.originalId ?? `gh_${randomBytes(6).toString('hex')}`,
        mode: input.mode ?? (input.encodingAESKey ? 'safe' : 'plain'),
        callbackUrl: input.callbackUrl,
      };
      if (account.mode !== 'plain' && !account.encodingAESKey)
        throw new Error(`account ${account.key}: ${account.mode} mode needs an EncodingAESKey`);
      const existing = state.byAppid(account.appid);
      if (existing) existing.account = account;
      else state.addAccount(account);
      return account;
    },
    account: (key) => accountState(key).account,
    accounts: () => [...state.accounts.values()].map((s) => s.account),
    setCallbackUrl(key, url) {
      accountState(key).account.callbackUrl = url;
    },
    follower: (key, openid) =>
      followerDriver(env, accountState(key), openid ?? `o${randomBytes(21).toString('base64url').slice(0, 27)}`),
    setUnionid(openids, unionid) {
      for (const openid of openids) state.unionids.set(openid, unionid);
    },
    pushLog: () => [...state.pushLog],
    followers: (key) => [...accountState(key).followers.values()].map((f) => snapshotOf(env, f)),
    inbox: (key, openid) => [...(accountState(key).followers.get(openid)?.inbox ?? [])],
    addTemplate(key, input) {
      const s = accountState(key);
      if (s.templates.size >= 25) throw new Error('an account holds at most 25 templates');
      const template: SandboxTemplate = {
        templateId: input.templateId ?? randomBytes(22).toString('base64url'),
        title: input.title,
        keywords: input.keywords,
      };
      s.templates.set(template.templateId, template);
      return template;
    },
    revokeTokens: (key) => state.revokeTokens(accountState(key).account.appid),
    setQuota(key, path, limit) {
      accountState(key).quotas.set(path, limit);
    },
    calls: (key) => Object.fromEntries(accountState(key).callsTotal),
    errors: (key) => [...accountState(key).errorsAnswered],
    platformPushes: (key) => env.platformPushes.filter((p) => key === undefined || p.account === key),
    oauthCode: (key, openid, scope = 'snsapi_base') => issueOAuthCode(env, accountState(key), openid, scope),
    async verifyCallbackUrl(key) {
      const account = accountState(key).account;
      if (!account.callbackUrl) throw new Error(`account ${key} has no callback URL`);
      const timestamp = String(ctx.clock.nowSeconds());
      const nonce = String(randomBytes(4).readUInt32BE(0));
      const echostr = String(randomBytes(8).readBigUInt64BE(0));
      const url = new URL(account.callbackUrl);
      url.searchParams.set('signature', sha1Signature(account.token, timestamp, nonce));
      url.searchParams.set('timestamp', timestamp);
      url.searchParams.set('nonce', nonce);
      url.searchParams.set('echostr', echostr);
      const res = await fetch(url, { signal: AbortSignal.timeout(settings.callbackTimeoutMs) });
      const body = await res.text();
      return { ok: res.status === 200 && body === echostr, status: res.status, body };
    },
    async idle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };

  for (const input of initialAccounts ?? []) api.addAccount(input);

  return {
    prefix,
    router,
    api,
    control: wechatControlRoutes(api),
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

function answerErrors(prefix: string) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof WxError)) throw err;
      ctx.status = 200;
      ctx.body = { errcode: err.errcode, errmsg: err.errmsg };
      // Known once the token was checked: the account whose call this was.
      const account = (ctx.state as { wxAccount?: AccountState }).wxAccount;
      account?.errorsAnswered.push({ path: ctx.path.slice(prefix.length), errcode: err.errcode, at: Date.now() });
      if (account && account.errorsAnswered.length > 10_000) account.errorsAnswered.splice(0, 1000);
    }
  };
}

/** The shared fault rules, matched on the path below /wechat (e.g. /cgi-bin/message/custom/send). */
function applyFaults(ctx: SandboxContext, prefix: string) {
  return async (c: Context, next: Next): Promise<void> => {
    const path = c.path.slice(prefix.length);
    const { latencyMs, fail } = ctx.faults.decide('wechat', path);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    if (!fail) {
      await next();
      return;
    }
    if (fail.reset) {
      c.req.socket.destroy();
      c.respond = false;
      return;
    }
    if (fail.hang) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 60_000);
        c.req.socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      c.req.socket.destroy();
      c.respond = false;
      return;
    }
    const status = fail.httpStatus ?? 200;
    c.status = status;
    if (fail.errcode !== undefined) c.body = { errcode: Number(fail.errcode), errmsg: fail.errmsg ?? 'injected fault' };
    else c.body = status >= 500 ? 'Internal Server Error' : '';
  };
}

async function readJsonBody(ctx: Context, next: Next): Promise<void> {
  if (ctx.method === 'POST') {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    // Uploads (media/upload) are multipart: the route reads the form itself.
    if (ctx.is('multipart/form-data')) {
      (ctx.state as { wxRaw?: Buffer }).wxRaw = Buffer.concat(chunks);
      await next();
      return;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() !== '') {
      try {
        (ctx.state as { wxBody?: unknown }).wxBody = JSON.parse(text) as unknown;
      } catch {
        throw new WxError(47001, 'data format error');
      }
    }
  }
  await next();
}

/** Every /cgi-bin call but the token endpoints needs a live access token; then the daily budget applies. */
function checkToken(env: WechatEnv, prefix: string) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const path = ctx.path.slice(prefix.length);
    if (!path.startsWith('/cgi-bin/') || TOKENLESS.has(path)) {
      await next();
      return;
    }
    const token = typeof ctx.query.access_token === 'string' ? ctx.query.access_token : '';
    if (token === '') throw new WxError(41001, 'access_token missing');
    if (!token.startsWith('SBX_')) throw new WxError(40014, 'invalid access_token');
    const issued = env.state.tokens.get(token);
    if (!issued || issued.revoked)
      throw new WxError(40001, 'invalid credential, access_token is invalid or not latest');
    if (issued.expiresAt <= env.clock.now()) throw new WxError(42001, 'access_token expired');
    const account = env.state.byAppid(issued.appid);
    if (!account) throw new WxError(40001, 'invalid credential, access_token is invalid or not latest');
    const day = env.state.day();
    if (account.callsDay !== day) {
      account.callsDay = day;
      account.callsToday.clear();
    }
    const used = (account.callsToday.get(path) ?? 0) + 1;
    account.callsToday.set(path, used);
    account.callsTotal.set(path, (account.callsTotal.get(path) ?? 0) + 1);
    const limit = account.quotas.get(path) ?? account.quotas.get('*') ?? Infinity;
    if (used > limit) throw new WxError(45009, 'reach max api daily quota limit');
    (ctx.state as { wxAccount?: AccountState }).wxAccount = account;
    await next();
  };
}

export { sealPush, openReply, WECHAT_CALLBACK_RULES, type PushResult, type PushAttempt } from './callback.js';
export { SandboxUsageError, type FollowerDriver, type FollowerSnapshot } from './followers.js';
export type { InboxEntry, PushLogEntry, SandboxWechatAccount, SandboxTemplate } from './state.js';
export type { WechatSandboxSettings } from './env.js';
