/**
 * Domain errors carry a kind (no HTTP status) and a stable snake_case code; the edge maps kinds to
 * HTTP statuses or chat replies. Anything that is not a DomainError is unexpected and answered as
 * `internal_error` without detail.
 */
export type ErrorKind =
  'invalid' | 'unauthenticated' | 'forbidden' | 'not_found' | 'conflict' | 'rate_limited' | 'unavailable' | 'too_large';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const HTTP_STATUS_BY_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
};

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}

/** MongoDB's duplicate-key error (E11000), raised by unique indexes on MongoDB and FerretDB alike. */
export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 11000;
}
