/**
 * Platform errors: every errcode becomes a typed error that says what to do about it.
 *   retry          transient (system busy, rate limited, 5xx, timeouts): back off with jitter and try again
 *   refresh_token  the access token is invalid or expired: refresh once and retry once
 *   give_up        final for this request (not subscribed, outside the window, bad openid, bad template…)
 * Services translate these into DomainErrors or retries; they never reach a customer raw.
 */
export type Platform = 'wechat' | 'wechatpay' | 'wecom';
export type Disposition = 'retry' | 'refresh_token' | 'give_up';

export class PlatformError extends Error {
  constructor(
    readonly platform: Platform,
    readonly endpoint: string,
    readonly errcode: number | string,
    readonly errmsg: string,
    readonly disposition: Disposition,
    /** HTTP status when the error came from HTTP itself (0 for network errors and timeouts). */
    readonly httpStatus?: number,
  ) {
    super(`${platform} ${endpoint} failed: ${errcode} ${errmsg}`);
    this.name = 'PlatformError';
  }

  get retryable(): boolean {
    return this.disposition === 'retry';
  }
}

export function isPlatformError(err: unknown, errcode?: number | string): err is PlatformError {
  return err instanceof PlatformError && (errcode === undefined || err.errcode === errcode);
}

/** Token errors: 40001 invalid credential / not latest, 40014 invalid access_token, 42001 expired. */
const TOKEN_ERRORS = new Set([40001, 40014, 42001]);
/** Transient: -1 system busy, 45009 API quota (retry later), 45011 API minute limit, 45033 WeCom concurrency. */
const TRANSIENT_ERRORS = new Set([-1, 45009, 45011, 45033, 45066]);

/** Classifies an official-account or WeCom errcode. */
export function dispositionOf(errcode: number): Disposition {
  if (TOKEN_ERRORS.has(errcode)) return 'refresh_token';
  if (TRANSIENT_ERRORS.has(errcode)) return 'retry';
  return 'give_up';
}

/** Classifies a WeChat Pay v3 error (HTTP status + code string). */
export function payDispositionOf(httpStatus: number, code: string): Disposition {
  if (httpStatus >= 500 || httpStatus === 429) return 'retry';
  if (['SYSTEM_ERROR', 'SYSTEMERROR', 'FREQUENCY_LIMITED', 'FREQUENCY_LIMIT_EXCEED', 'RATELIMIT_EXCEED'].includes(code))
    return 'retry';
  return 'give_up';
}

/** Exponential backoff with full jitter: a random delay in [0, min(cap, base·2^attempt)). */
export function backoffMs(attempt: number, baseMs = 200, capMs = 10_000): number {
  return Math.floor(Math.random() * Math.min(capMs, baseMs * 2 ** attempt));
}
