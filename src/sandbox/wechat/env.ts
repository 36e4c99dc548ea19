/** What the official-account sandbox's route modules share: state, clock, the callback driver, errors. */
import type { Context } from 'koa';
import type { Logger } from '../../infra/logger.js';
import type { SandboxClock } from '../clock.js';
import type { CallbackDriver, PushResult } from './callback.js';
import type { AccountState, SandboxFollower, SandboxWechatState } from './state.js';

/** A WeChat API error answered as HTTP 200 `{errcode, errmsg}`, like the real platform. */
export class WxError extends Error {
  constructor(
    readonly errcode: number,
    readonly errmsg: string,
  ) {
    super(`${errcode} ${errmsg}`);
    this.name = 'WxError';
  }
}

export interface WechatSandboxSettings {
  /** WeChat's 5-second rule and its retries (tests shorten the wait). */
  callbackTimeoutMs: number;
  callbackRetries: number;
  /** Delay before a template send's TEMPLATESENDJOBFINISH event is pushed. */
  templateFinishDelayMs: number;
  /** Delay before a broadcast's MASSSENDJOBFINISH event is pushed; negative = never. */
  massFinishDelayMs: number;
  /** Page size of user/get and user/tag/get (10 000 on WeChat; tests make it small). */
  followerPageSize: number;
}

export const DEFAULT_WECHAT_SANDBOX_SETTINGS: WechatSandboxSettings = {
  callbackTimeoutMs: 5000,
  callbackRetries: 3,
  templateFinishDelayMs: 50,
  massFinishDelayMs: 100,
  followerPageSize: 10_000,
};

export interface WechatEnv {
  state: SandboxWechatState;
  clock: SandboxClock;
  logger: Logger;
  driver: CallbackDriver;
  settings: WechatSandboxSettings;
  /** Pushes made by the platform itself (job-finish events), newest last, for tests and the demo. */
  platformPushes: Array<{ account: string; openid: string; event: string; result: PushResult }>;
  /** Runs a platform push later without blocking the API answer; tracked so close() can wait. */
  later(ms: number, job: () => Promise<void>): void;
}

/** The account the call's access token belongs to (set by the token check). */
export function accountOf(ctx: Context): AccountState {
  const state = (ctx.state as { wxAccount?: AccountState }).wxAccount;
  if (!state) throw new WxError(41001, 'access_token missing');
  return state;
}

/** The request's JSON body (set by the body reader), as an untyped record. */
export function bodyOf(ctx: Context): Record<string, unknown> {
  const body = (ctx.state as { wxBody?: unknown }).wxBody;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new WxError(44002, 'empty post data');
  return body as Record<string, unknown>;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

export function obj(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A follower of this account by openid, or 40003 for an openid the account never saw. */
export function knownFollower(state: AccountState, openid: unknown): SandboxFollower {
  const id = str(openid);
  const f = id ? state.followers.get(id) : undefined;
  if (!f) throw new WxError(40003, 'invalid openid');
  return f;
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
