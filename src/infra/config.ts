/**
 * Configuration: one vocabulary (the environment variable names), three layers.
 *   config/default.ts  <  config/<APP_ENV>.ts  <  process.env
 * Everything is validated here, once, at start-up; a bad setting stops the process with one line
 * per setting that names it and never prints its value. This is the only module that reads process.env.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import defaults from '../../config/default.js';
import development from '../../config/development.js';
import production from '../../config/production.js';
import testing from '../../config/test.js';

export const APP_ENVS = ['development', 'test', 'production'] as const;
export type AppEnv = (typeof APP_ENVS)[number];
export const PROCESS_ROLES = ['web', 'worker', 'all'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

/** Raw settings as they appear in the environment and in config/*.ts. */
export type RawSettings = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const AES_KEY = /^[A-Za-z0-9]{43}$/;

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = z.string().url();

export type MessageMode = 'plain' | 'compatible' | 'safe';

export interface WechatAccountConfig {
  /** Our key for the account, used in routes (`/wechat/:account/callback`) and records. */
  key: string;
  appid: string;
  secret: string;
  token: string;
  encodingAESKey?: string;
  encodingAESKeyPrevious?: string;
  /** The account's original id (gh_…), the ToUserName of its callbacks. */
  originalId?: string;
  /** Security mode configured on the platform: decides whether callbacks must be encrypted. */
  mode: MessageMode;
  apiBase: string;
  /** Service account (服务号) or subscription account (订阅号). */
  type: 'service' | 'subscription';
}

export interface WechatPayConfig {
  mchid: string;
  serialNo: string;
  privateKeyPem: string;
  apiV3Key: string;
  /** WeChat Pay public key (public-key mode) and its id (PUB_KEY_ID_…), or a platform certificate. */
  publicKeyPem?: string;
  publicKeyId?: string;
  platformCertPem?: string;
  apiBase: string;
  notifyUrl: string;
  appid: string;
}

export interface WecomConfig {
  key: string;
  corpid: string;
  secret: string;
  token: string;
  encodingAESKey: string;
  agentId?: string;
  apiBase: string;
}

export interface AppConfig {
  env: AppEnv;
  role: ProcessRole;
  host: string;
  port: number;
  publicBaseUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  shutdownTimeoutMs: number;
  mongo: { url: string; poolSize: number; database?: string; commandStats: boolean };
  redis: { url: string; prefix: string };
  agenda: { processEveryMs: number; collection: string; lockLifetimeMs: number; maxConcurrency: number };
  http: { jsonBodyLimitBytes: number; trustProxy: boolean };
  callback: {
    deadlineMs: number;
    maxSkewSeconds: number;
    bodyLimitBytes: number;
    dedupTtlSeconds: number;
    /** Days inbound pushes stay in the audit collection (pruned by a job; FerretDB has no TTL index). */
    auditRetentionDays: number;
  };
  wechat: {
    defaultAccount: string;
    accounts: WechatAccountConfig[];
    /** Outbound API calls: timeout, retries of transient errors, circuit breaker per account. */
    api: {
      timeoutMs: number;
      retry: { attempts: number; baseMs: number; capMs: number };
      breaker: { threshold: number; cooldownMs: number };
    };
  };
  pay?: WechatPayConfig;
  wecom: {
    defaultCorp: string;
    corps: WecomConfig[];
    /** A customer who re-adds a member within this many seconds is not welcomed again (src/wecom). */
    welcomeQuietSeconds: number;
    /** WeCom API calls per second the contact sync job may make (src/wecom). */
    syncCallsPerSecond: number;
  };
  auth: {
    jwtSecret: string;
    jwtSecretPrevious?: string;
    jwtIssuer: string;
    jwtAudience: string;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
    adminUsername?: string;
    adminPassword?: string;
    /** The `kid` of JWT_SECRET (signs new tokens) and of JWT_SECRET_PREVIOUS (still verifies during rotation). */
    jwtKeyId: string;
    jwtKeyIdPrevious: string;
    /** Login throttling: attempts per username and per IP within the window, then a lockout. */
    loginMaxAttemptsPerUser: number;
    loginMaxAttemptsPerIp: number;
    loginWindowSeconds: number;
    loginLockoutSeconds: number;
  };
  /** Four-eyes approvals: actions above these sizes need a second staff member's approval. */
  approvals: { pushAudienceThreshold: number; campaignBudgetFenThreshold: number; ttlSeconds: number };
  /** Campaigns with a budget above this (fen) need a passing rehearsal before approval (src/rehearsal). */
  rehearsal: { requiredAboveFen: number };
  sandbox: { enabled: boolean; port: number };
  reservations: {
    codeSecret: string;
    maxFailures: number;
    failureWindowSeconds: number;
    lockSeconds: number;
    burstAlertPerMinute: number;
  };
  /** Referral codes: temporary lifetime and renewal lead, and the permanent codes this service may make. */
  referral: {
    qrExpireSeconds: number;
    qrRenewBeforeSeconds: number;
    permanentQrLimit: number;
    /** How often the settlement job decides referrals whose qualifying window has closed. */
    settleEverySeconds: number;
  };
  crm: CrmConfig;
  push: PushConfig;
}

/** Tiered pushes: anti-harassment defaults, the shared rate limit, tracking links and attribution. */
export interface PushConfig {
  capPerDay: number;
  capPerWeek: number;
  /** Quiet hours in Asia/Shanghai, [start, end) across midnight. */
  quietStartHour: number;
  quietEndHour: number;
  unfollowCooldownHours: number;
  /** An unfollow within this many hours of a push counts against that push. */
  unfollowWindowHours: number;
  /** A conversion counts for the last push clicked within this many hours before it. */
  attributionWindowHours: number;
  ratePerSecond: number;
  /** HMAC key of the tracking links (/r/:code). */
  linkSecret: string;
}

export interface CrmConfig {
  /** 32-byte key (base64) for phone encryption (AES-256-GCM) and lookup hashes (HMAC), via HKDF. */
  phoneKey: Buffer;
  /** Customer tiers, lowest first. */
  tiers: string[];
  /** Inbound texts that opt the sender out of marketing at once (compared trimmed, case-insensitive). */
  optOutKeywords: string[];
  /** Rows between two checkpoints of a CSV import (a resumed import restarts from the last one). */
  importCheckpointRows: number;
  /** Where uploaded import files are kept until their import completes. */
  importDir: string;
  /** Follower info enrichment: openids per batchget call (WeChat allows 100) and calls per job run. */
  enrichBatchSize: number;
  enrichBatchesPerRun: number;
}

/** Reads a PEM given inline or as a path; never echoes the content in errors. */
function readPem(value: string, name: string, problems: string[]): string | undefined {
  if (value.includes('-----BEGIN')) return value.replace(/\\n/g, '\n');
  try {
    return readFileSync(value, 'utf8');
  } catch {
    problems.push(`${name}: not a PEM and not a readable file path`);
    return undefined;
  }
}

function layered(appEnv: AppEnv, env: RawSettings): RawSettings {
  const perEnv = appEnv === 'production' ? production : appEnv === 'test' ? testing : development;
  const merged: RawSettings = { ...defaults, ...perEnv };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  return merged;
}

/** Parses one setting with a schema; records a problem naming the setting (and never its value). */
function take<T>(
  raw: RawSettings,
  name: string,
  schema: z.ZodType<T>,
  problems: string[],
  hint?: string,
): T | undefined {
  const result = schema.safeParse(raw[name]);
  if (result.success) return result.data;
  const missing = raw[name] === undefined;
  problems.push(
    missing
      ? `${name} is required${hint ? ` (${hint})` : ''}`
      : `${name} is invalid: ${hint ?? result.error.issues[0]?.message ?? 'bad value'}`,
  );
  return undefined;
}

function optional(raw: RawSettings, name: string): string | undefined {
  const v = raw[name];
  return v === undefined || v === '' ? undefined : v;
}

const MODES = ['plain', 'compatible', 'safe'] as const;

function readAccount(
  raw: RawSettings,
  key: string,
  prefix: string,
  problems: string[],
): WechatAccountConfig | undefined {
  const p = (s: string) => `${prefix}${s}`;
  const appid = take(
    raw,
    p('APPID'),
    z.string().regex(/^wx[0-9a-zA-Z]{8,30}$/),
    problems,
    'an AppID such as wx1234567890abcdef',
  );
  const secret = take(raw, p('APPSECRET'), z.string().min(8), problems, 'the AppSecret of the account');
  const token = take(raw, p('TOKEN'), z.string().regex(/^[A-Za-z0-9]{3,32}$/), problems, '3-32 letters or digits');
  const aes = optional(raw, p('AES_KEY'));
  const aesPrev = optional(raw, p('AES_KEY_PREVIOUS'));
  if (aes !== undefined && !AES_KEY.test(aes))
    problems.push(`${p('AES_KEY')} is invalid: must be 43 characters of [A-Za-z0-9] (got ${aes.length} characters)`);
  if (aesPrev !== undefined && !AES_KEY.test(aesPrev))
    problems.push(
      `${p('AES_KEY_PREVIOUS')} is invalid: must be 43 characters of [A-Za-z0-9] (got ${aesPrev.length} characters)`,
    );
  const mode = take(
    raw,
    p('MODE'),
    z.enum(MODES).default(aes ? 'safe' : 'plain'),
    problems,
    'plain, compatible or safe',
  );
  if (mode && mode !== 'plain' && !aes) problems.push(`${p('AES_KEY')} is required when ${p('MODE')} is ${mode}`);
  const apiBase = take(raw, p('API_BASE'), url.default('https://api.weixin.qq.com'), problems, 'an http(s) URL');
  const type = take(
    raw,
    p('TYPE'),
    z.enum(['service', 'subscription']).default('service'),
    problems,
    'service or subscription',
  );
  const originalId = optional(raw, p('ORIGINAL_ID'));
  if (!appid || !secret || !token || !mode || !apiBase || !type) return undefined;
  return {
    key,
    appid,
    secret,
    token,
    encodingAESKey: aes,
    encodingAESKeyPrevious: aesPrev,
    originalId,
    mode,
    apiBase: apiBase.replace(/\/$/, ''),
    type,
  };
}

function readWecom(raw: RawSettings, key: string, prefix: string, problems: string[]): WecomConfig | undefined {
  const p = (s: string) => `${prefix}${s}`;
  const corpid = take(raw, p('CORPID'), z.string().min(4), problems, 'the CorpID');
  const secret = take(raw, p('SECRET'), z.string().min(8), problems, 'the customer-contact secret');
  const token = take(raw, p('TOKEN'), z.string().regex(/^[A-Za-z0-9]{3,32}$/), problems, '3-32 letters or digits');
  const aes = optional(raw, p('AES_KEY'));
  if (aes === undefined) problems.push(`${p('AES_KEY')} is required`);
  else if (!AES_KEY.test(aes))
    problems.push(`${p('AES_KEY')} is invalid: must be 43 characters of [A-Za-z0-9] (got ${aes.length} characters)`);
  const apiBase = take(raw, p('API_BASE'), url.default('https://qyapi.weixin.qq.com'), problems, 'an http(s) URL');
  if (!corpid || !secret || !token || !aes || !AES_KEY.test(aes) || !apiBase) return undefined;
  return {
    key,
    corpid,
    secret,
    token,
    encodingAESKey: aes,
    agentId: optional(raw, p('AGENT_ID')),
    apiBase: apiBase.replace(/\/$/, ''),
  };
}

function readPay(raw: RawSettings, defaultAppid: string | undefined, problems: string[]): WechatPayConfig | undefined {
  if (!optional(raw, 'WECHATPAY_MCHID')) return undefined;
  const mchid = take(raw, 'WECHATPAY_MCHID', z.string().regex(/^\d{6,20}$/), problems, 'digits only');
  const serialNo = take(
    raw,
    'WECHATPAY_SERIAL_NO',
    z.string().regex(/^[0-9A-Fa-f]{8,64}$/),
    problems,
    'the merchant certificate serial (hex)',
  );
  const keyRaw = take(
    raw,
    'WECHATPAY_PRIVATE_KEY',
    z.string().min(1),
    problems,
    'a PEM or a path to apiclient_key.pem',
  );
  const apiV3Key = take(raw, 'WECHATPAY_APIV3_KEY', z.string().length(32), problems, 'exactly 32 characters');
  const apiBase = take(
    raw,
    'WECHATPAY_API_BASE',
    url.default('https://api.mch.weixin.qq.com'),
    problems,
    'an http(s) URL',
  );
  const notifyUrl = take(raw, 'WECHATPAY_NOTIFY_URL', url, problems, 'the https URL WeChat Pay calls back');
  const pubRaw = optional(raw, 'WECHATPAY_PUBLIC_KEY');
  const certRaw = optional(raw, 'WECHATPAY_PLATFORM_CERT');
  if (!pubRaw && !certRaw)
    problems.push('WECHATPAY_PUBLIC_KEY or WECHATPAY_PLATFORM_CERT is required to verify WeChat Pay signatures');
  const publicKeyId = optional(raw, 'WECHATPAY_PUBLIC_KEY_ID');
  if (pubRaw && !publicKeyId)
    problems.push('WECHATPAY_PUBLIC_KEY_ID is required with WECHATPAY_PUBLIC_KEY (the PUB_KEY_ID_… shown beside it)');
  else if (publicKeyId !== undefined && !/^PUB_KEY_ID_[0-9A-Za-z]+$/.test(publicKeyId))
    problems.push('WECHATPAY_PUBLIC_KEY_ID is invalid: PUB_KEY_ID_ followed by letters and digits');
  const privateKeyPem = keyRaw ? readPem(keyRaw, 'WECHATPAY_PRIVATE_KEY', problems) : undefined;
  const publicKeyPem = pubRaw ? readPem(pubRaw, 'WECHATPAY_PUBLIC_KEY', problems) : undefined;
  const platformCertPem = certRaw ? readPem(certRaw, 'WECHATPAY_PLATFORM_CERT', problems) : undefined;
  const appid = optional(raw, 'WECHATPAY_APPID') ?? defaultAppid;
  if (!appid) problems.push('WECHATPAY_APPID is required (or a default WeChat account)');
  if (!mchid || !serialNo || !privateKeyPem || !apiV3Key || !apiBase || !notifyUrl || !appid) return undefined;
  return {
    mchid,
    serialNo,
    privateKeyPem,
    apiV3Key,
    publicKeyPem,
    publicKeyId,
    platformCertPem,
    apiBase: apiBase.replace(/\/$/, ''),
    notifyUrl,
    appid,
  };
}

const KEY_LIST = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}(,[a-z][a-z0-9_-]{0,31})*$/, 'comma-separated lowercase keys such as fund,news');

/**
 * Builds the typed configuration from the layered settings.
 * @throws ConfigError listing every bad setting, one line each, values never shown.
 */
export function loadConfig(env: RawSettings = process.env): AppConfig {
  const problems: string[] = [];
  const appEnv = take(
    { APP_ENV: env.APP_ENV ?? env.NODE_ENV ?? 'development' },
    'APP_ENV',
    z.enum(APP_ENVS),
    problems,
    'development, test or production',
  );
  if (!appEnv) throw new ConfigError(problems);
  const raw = layered(appEnv, env);

  const role = take(raw, 'PROCESS_ROLE', z.enum(PROCESS_ROLES), problems, 'web, worker or all');
  const host = take(raw, 'HOST', z.string().min(1), problems);
  const listenPort = take(raw, 'PORT', port, problems, 'a port number 0-65535');
  const logLevel = take(
    raw,
    'LOG_LEVEL',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    problems,
    'fatal, error, warn, info, debug, trace or silent',
  );
  const shutdownTimeoutMs = take(raw, 'SHUTDOWN_TIMEOUT_MS', positiveInt, problems, 'milliseconds');
  const mongoUrl = take(
    raw,
    'MONGO_URL',
    z.string().regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// URL'),
    problems,
    'a mongodb:// URL',
  );
  const mongoPool = take(raw, 'MONGO_POOL_SIZE', positiveInt.max(200), problems, 'a pool size (keep ≤ 10 on FerretDB)');
  const mongoCommandStats = take(raw, 'MONGO_COMMAND_STATS', bool, problems, 'true or false');
  const redisUrl = take(
    raw,
    'REDIS_URL',
    z.string().regex(/^rediss?:\/\//, 'a redis:// URL'),
    problems,
    'a redis:// URL',
  );
  const redisPrefix = take(
    raw,
    'REDIS_PREFIX',
    z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/),
    problems,
    'letters, digits, colon',
  );
  const processEveryMs = take(raw, 'AGENDA_PROCESS_EVERY_MS', positiveInt, problems, 'milliseconds');
  const lockLifetimeMs = take(raw, 'AGENDA_LOCK_LIFETIME_MS', positiveInt, problems, 'milliseconds');
  const maxConcurrency = take(raw, 'AGENDA_MAX_CONCURRENCY', positiveInt, problems);
  const jsonBodyLimitBytes = take(raw, 'JSON_BODY_LIMIT_BYTES', positiveInt, problems, 'bytes');
  const trustProxy = take(raw, 'TRUST_PROXY', bool, problems, 'true or false');
  const deadlineMs = take(
    raw,
    'WECHAT_CALLBACK_DEADLINE_MS',
    positiveInt.max(4900),
    problems,
    'milliseconds below 4900',
  );
  const maxSkewSeconds = take(raw, 'WECHAT_CALLBACK_MAX_SKEW_SECONDS', nonNegativeInt, problems, 'seconds, 0 = off');
  const bodyLimitBytes = take(raw, 'WECHAT_CALLBACK_BODY_LIMIT_BYTES', positiveInt, problems, 'bytes');
  const dedupTtlSeconds = take(raw, 'WECHAT_CALLBACK_DEDUP_TTL_SECONDS', positiveInt, problems, 'seconds');
  const auditRetentionDays = take(raw, 'WECHAT_CALLBACK_AUDIT_RETENTION_DAYS', positiveInt, problems, 'days');
  const publicBaseUrl = take(raw, 'PUBLIC_BASE_URL', url, problems, 'the external http(s) URL of this service');
  const wechatApiTimeoutMs = take(raw, 'WECHAT_API_TIMEOUT_MS', positiveInt.max(60_000), problems, 'milliseconds');
  const wechatRetryAttempts = take(raw, 'WECHAT_API_RETRY_ATTEMPTS', positiveInt.max(10), problems, '1-10 attempts');
  const wechatRetryBaseMs = take(raw, 'WECHAT_API_RETRY_BASE_MS', positiveInt, problems, 'milliseconds');
  const wechatRetryCapMs = take(raw, 'WECHAT_API_RETRY_CAP_MS', positiveInt, problems, 'milliseconds');
  const wechatBreakerThreshold = take(raw, 'WECHAT_API_BREAKER_THRESHOLD', positiveInt, problems, 'failures');
  const wechatBreakerCooldownMs = take(raw, 'WECHAT_API_BREAKER_COOLDOWN_MS', positiveInt, problems, 'milliseconds');

  // WeChat accounts: the default one from WECHAT_*, more from WECHAT_ACCOUNTS=key1,key2 and WECHAT_<KEY>_*.
  const accounts: WechatAccountConfig[] = [];
  const defaultKey =
    take(raw, 'WECHAT_ACCOUNT_KEY', z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/), problems, 'a lowercase key') ??
    'default';
  if (optional(raw, 'WECHAT_APPID')) {
    const a = readAccount(raw, defaultKey, 'WECHAT_', problems);
    if (a) accounts.push(a);
  }
  const extra = optional(raw, 'WECHAT_ACCOUNTS');
  if (extra) {
    const keys = take(raw, 'WECHAT_ACCOUNTS', KEY_LIST, problems);
    for (const key of keys?.split(',') ?? []) {
      const a = readAccount(raw, key, `WECHAT_${key.toUpperCase().replace(/-/g, '_')}_`, problems);
      if (a) accounts.push(a);
    }
  }
  const seen = new Set<string>();
  for (const a of accounts) {
    if (seen.has(a.key)) problems.push(`WECHAT_ACCOUNTS: account key "${a.key}" is defined twice`);
    seen.add(a.key);
  }

  const corps: WecomConfig[] = [];
  const defaultCorp =
    take(raw, 'WECOM_KEY', z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/), problems, 'a lowercase key') ?? 'default';
  if (optional(raw, 'WECOM_CORPID')) {
    const c = readWecom(raw, defaultCorp, 'WECOM_', problems);
    if (c) corps.push(c);
  }
  const welcomeQuietSeconds = take(raw, 'WECOM_WELCOME_QUIET_SECONDS', nonNegativeInt, problems, 'seconds');
  const syncCallsPerSecond = take(raw, 'WECOM_SYNC_CALLS_PER_SECOND', positiveInt, problems, 'calls per second');

  const pay = readPay(raw, accounts[0]?.appid, problems);

  const jwtSecret = take(raw, 'JWT_SECRET', z.string().min(32), problems, 'at least 32 characters');
  const jwtSecretPrevious = optional(raw, 'JWT_SECRET_PREVIOUS');
  if (jwtSecretPrevious !== undefined && jwtSecretPrevious.length < 32)
    problems.push('JWT_SECRET_PREVIOUS is invalid: at least 32 characters');
  const jwtIssuer = take(raw, 'JWT_ISSUER', z.string().min(1), problems);
  const jwtAudience = take(raw, 'JWT_AUDIENCE', z.string().min(1), problems);
  const accessTtlSeconds = take(raw, 'JWT_ACCESS_TTL_SECONDS', positiveInt, problems, 'seconds');
  const refreshTtlSeconds = take(raw, 'JWT_REFRESH_TTL_SECONDS', positiveInt, problems, 'seconds');
  const adminUsername = optional(raw, 'ADMIN_USERNAME');
  const adminPassword = optional(raw, 'ADMIN_PASSWORD');
  if (adminUsername && !/^[a-z0-9_.-]{3,32}$/.test(adminUsername))
    problems.push('ADMIN_USERNAME is invalid: 3-32 of a-z 0-9 _ . -');
  if (adminPassword !== undefined && adminPassword.length < 10)
    problems.push('ADMIN_PASSWORD is invalid: at least 10 characters');

  const codeSecret = take(raw, 'RESERVATION_CODE_SECRET', z.string().min(32), problems, 'at least 32 characters');
  const maxFailures = take(raw, 'RESERVATION_MAX_FAILURES', positiveInt, problems);
  const failureWindowSeconds = take(raw, 'RESERVATION_FAILURE_WINDOW_SECONDS', positiveInt, problems, 'seconds');
  const lockSeconds = take(raw, 'RESERVATION_LOCK_SECONDS', positiveInt, problems, 'seconds');
  const burstAlertPerMinute = take(raw, 'RESERVATION_BURST_ALERT_PER_MINUTE', positiveInt, problems);
  const qrExpireSeconds = take(raw, 'REFERRAL_QR_EXPIRE_SECONDS', positiveInt.max(2_592_000), problems, 'seconds');
  const qrRenewBeforeSeconds = take(raw, 'REFERRAL_QR_RENEW_BEFORE_SECONDS', positiveInt, problems, 'seconds');
  const permanentQrLimit = take(raw, 'REFERRAL_PERMANENT_QR_LIMIT', positiveInt.max(100_000), problems);
  const settleEverySeconds = take(raw, 'REFERRAL_SETTLE_EVERY_SECONDS', positiveInt.max(86_400), problems, 'seconds');
  const KID = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
  const jwtKeyId = take(raw, 'JWT_KEY_ID', KID, problems, '1-32 of A-Z a-z 0-9 _ -');
  const jwtKeyIdPrevious = take(raw, 'JWT_KEY_ID_PREVIOUS', KID, problems, '1-32 of A-Z a-z 0-9 _ -');
  if (jwtKeyId && jwtKeyId === jwtKeyIdPrevious)
    problems.push('JWT_KEY_ID_PREVIOUS is invalid: must differ from JWT_KEY_ID');
  const loginMaxAttemptsPerUser = take(raw, 'LOGIN_MAX_ATTEMPTS_PER_USER', positiveInt, problems);
  const loginMaxAttemptsPerIp = take(raw, 'LOGIN_MAX_ATTEMPTS_PER_IP', positiveInt, problems);
  const loginWindowSeconds = take(raw, 'LOGIN_WINDOW_SECONDS', positiveInt, problems, 'seconds');
  const loginLockoutSeconds = take(raw, 'LOGIN_LOCKOUT_SECONDS', positiveInt, problems, 'seconds');
  const pushAudienceThreshold = take(raw, 'APPROVAL_PUSH_AUDIENCE_THRESHOLD', nonNegativeInt, problems, 'recipients');
  const rehearsalRequiredAboveFen = take(raw, 'REHEARSAL_REQUIRED_ABOVE_FEN', nonNegativeInt, problems, 'fen');
  const campaignBudgetFenThreshold = take(
    raw,
    'APPROVAL_CAMPAIGN_BUDGET_FEN_THRESHOLD',
    nonNegativeInt,
    problems,
    'an amount in fen',
  );
  const approvalTtlSeconds = take(raw, 'APPROVAL_TTL_SECONDS', positiveInt, problems, 'seconds');

  const sandboxEnabled = take(raw, 'SANDBOX', bool, problems, 'true or false');
  const sandboxPort = take(raw, 'SANDBOX_PORT', port, problems, 'a port number');

  const crm = readCrm(raw, problems);
  const push = readPush(raw, problems);

  if (appEnv === 'production') {
    if (sandboxEnabled) problems.push('SANDBOX must be false in production');
    // Placeholders from docker/.env.example and the embedded development secrets never run in production.
    for (const [name, value] of Object.entries(raw)) {
      if (value && /change_?me|insecure|development-/i.test(value))
        problems.push(`${name} still holds a placeholder or development value`);
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  // All `take` calls above succeeded when no problem was recorded; the assertions below only narrow types.
  return {
    env: appEnv,
    role: role!,
    host: host!,
    port: listenPort!,
    publicBaseUrl: publicBaseUrl!.replace(/\/$/, ''),
    logLevel: logLevel!,
    shutdownTimeoutMs: shutdownTimeoutMs!,
    mongo: {
      url: mongoUrl!,
      poolSize: mongoPool!,
      database: optional(raw, 'MONGO_DATABASE'),
      commandStats: mongoCommandStats!,
    },
    redis: { url: redisUrl!, prefix: redisPrefix! },
    agenda: {
      processEveryMs: processEveryMs!,
      collection: 'agendaJobs',
      lockLifetimeMs: lockLifetimeMs!,
      maxConcurrency: maxConcurrency!,
    },
    http: { jsonBodyLimitBytes: jsonBodyLimitBytes!, trustProxy: trustProxy! },
    callback: {
      deadlineMs: deadlineMs!,
      maxSkewSeconds: maxSkewSeconds!,
      bodyLimitBytes: bodyLimitBytes!,
      dedupTtlSeconds: dedupTtlSeconds!,
      auditRetentionDays: auditRetentionDays!,
    },
    wechat: {
      defaultAccount: accounts[0]?.key ?? defaultKey,
      accounts,
      api: {
        timeoutMs: wechatApiTimeoutMs!,
        retry: { attempts: wechatRetryAttempts!, baseMs: wechatRetryBaseMs!, capMs: wechatRetryCapMs! },
        breaker: { threshold: wechatBreakerThreshold!, cooldownMs: wechatBreakerCooldownMs! },
      },
    },
    pay,
    wecom: {
      defaultCorp: corps[0]?.key ?? defaultCorp,
      corps,
      welcomeQuietSeconds: welcomeQuietSeconds!,
      syncCallsPerSecond: syncCallsPerSecond!,
    },
    auth: {
      jwtSecret: jwtSecret!,
      jwtSecretPrevious,
      jwtIssuer: jwtIssuer!,
      jwtAudience: jwtAudience!,
      accessTtlSeconds: accessTtlSeconds!,
      refreshTtlSeconds: refreshTtlSeconds!,
      adminUsername,
      adminPassword,
      jwtKeyId: jwtKeyId!,
      jwtKeyIdPrevious: jwtKeyIdPrevious!,
      loginMaxAttemptsPerUser: loginMaxAttemptsPerUser!,
      loginMaxAttemptsPerIp: loginMaxAttemptsPerIp!,
      loginWindowSeconds: loginWindowSeconds!,
      loginLockoutSeconds: loginLockoutSeconds!,
    },
    approvals: {
      pushAudienceThreshold: pushAudienceThreshold!,
      campaignBudgetFenThreshold: campaignBudgetFenThreshold!,
      ttlSeconds: approvalTtlSeconds!,
    },
    rehearsal: { requiredAboveFen: rehearsalRequiredAboveFen! },
    sandbox: { enabled: sandboxEnabled!, port: sandboxPort! },
    reservations: {
      codeSecret: codeSecret!,
      maxFailures: maxFailures!,
      failureWindowSeconds: failureWindowSeconds!,
      lockSeconds: lockSeconds!,
      burstAlertPerMinute: burstAlertPerMinute!,
    },
    referral: {
      qrExpireSeconds: qrExpireSeconds!,
      qrRenewBeforeSeconds: qrRenewBeforeSeconds!,
      permanentQrLimit: permanentQrLimit!,
      settleEverySeconds: settleEverySeconds!,
    },
    crm: crm!,
    push: push!,
  };
}

function readPush(raw: RawSettings, problems: string[]): PushConfig | undefined {
  const hour = z.coerce.number().int().min(0).max(23);
  const values = {
    capPerDay: take(raw, 'PUSH_CAP_PER_DAY', positiveInt, problems, 'marketing pushes per customer per day'),
    capPerWeek: take(raw, 'PUSH_CAP_PER_WEEK', positiveInt, problems, 'marketing pushes per customer per week'),
    quietStartHour: take(raw, 'PUSH_QUIET_START_HOUR', hour, problems, 'an hour 0-23 (Asia/Shanghai)'),
    quietEndHour: take(raw, 'PUSH_QUIET_END_HOUR', hour, problems, 'an hour 0-23 (Asia/Shanghai)'),
    unfollowCooldownHours: take(raw, 'PUSH_UNFOLLOW_COOLDOWN_HOURS', nonNegativeInt, problems, 'hours'),
    unfollowWindowHours: take(raw, 'PUSH_UNFOLLOW_WINDOW_HOURS', positiveInt, problems, 'hours'),
    attributionWindowHours: take(raw, 'PUSH_ATTRIBUTION_WINDOW_HOURS', positiveInt, problems, 'hours'),
    ratePerSecond: take(raw, 'PUSH_RATE_PER_SECOND', positiveInt, problems, 'template messages per second'),
    linkSecret: take(raw, 'PUSH_LINK_SECRET', z.string().min(32), problems, 'at least 32 characters'),
  };
  if (Object.values(values).some((v) => v === undefined)) return undefined;
  return values as PushConfig;
}

function readCrm(raw: RawSettings, problems: string[]): CrmConfig | undefined {
  const keyText = take(
    raw,
    'CRM_PHONE_KEY',
    z.string().refine((v) => Buffer.from(v, 'base64').length === 32),
    problems,
    '32 random bytes in base64 (openssl rand -base64 32)',
  );
  const list = z
    .string()
    .transform((v) => v.split(',').map((x) => x.trim()))
    .refine((xs) => xs.length > 0 && xs.every((x) => x.length > 0 && x.length <= 32));
  const tiers = take(raw, 'CRM_TIERS', list, problems, 'comma-separated tier names, lowest first');
  const optOutKeywords = take(raw, 'CRM_OPT_OUT_KEYWORDS', list, problems, 'comma-separated keywords such as TD,退订');
  const importCheckpointRows = take(raw, 'CRM_IMPORT_CHECKPOINT_ROWS', positiveInt, problems, 'rows');
  const importDir = take(raw, 'CRM_IMPORT_DIR', z.string().min(1), problems, 'a directory path');
  const enrichBatchSize = take(raw, 'CRM_ENRICH_BATCH_SIZE', positiveInt.max(100), problems, '1-100 openids');
  const enrichBatchesPerRun = take(raw, 'CRM_ENRICH_BATCHES_PER_RUN', positiveInt, problems, 'batchget calls');
  if (
    !keyText ||
    !tiers ||
    !optOutKeywords ||
    !importCheckpointRows ||
    !importDir ||
    !enrichBatchSize ||
    !enrichBatchesPerRun
  )
    return undefined;
  return {
    phoneKey: Buffer.from(keyText, 'base64'),
    tiers,
    optOutKeywords,
    importCheckpointRows,
    importDir,
    enrichBatchSize,
    enrichBatchesPerRun,
  };
}

/** Looks up a configured official account by key. */
export function findAccount(config: AppConfig, key: string): WechatAccountConfig | undefined {
  return config.wechat.accounts.find((a) => a.key === key);
}
