/**
 * The admin API client: bearer tokens kept in sessionStorage, one shared refresh when the access token
 * expires, and a session-expired signal when the refresh token is gone or revoked. Every screen goes
 * through `api()` — the console has no other way into the backend.
 */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  refreshExpiresAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface FieldProblem {
  path: string;
  message: string;
}

/** An answer other than 2xx: the API's `{ error: { code, message, details } }`, or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldProblem[] = [],
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

const KEY = 'scrm.console.session';
const BASE = '/admin/api';
type Listener = (reason: 'expired' | 'signed_out') => void;
const listeners = new Set<Listener>();

export function onSessionEnd(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function storedTokens(): TokenPair | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as TokenPair) : null;
  } catch {
    return null;
  }
}

export function storeTokens(tokens: TokenPair | null): void {
  if (tokens) sessionStorage.setItem(KEY, JSON.stringify(tokens));
  else sessionStorage.removeItem(KEY);
}

function endSession(reason: 'expired' | 'signed_out'): void {
  storeTokens(null);
  for (const l of listeners) l(reason);
}

async function errorOf(res: Response): Promise<ApiError> {
  let body: { error?: { code?: string; message?: string; details?: { fields?: FieldProblem[] } } } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  const retry = Number(res.headers.get('retry-after') ?? '');
  return new ApiError(
    res.status,
    body.error?.code ?? `http_${res.status}`,
    body.error?.message ?? res.statusText,
    body.error?.details?.fields ?? [],
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}

let refreshing: Promise<boolean> | null = null;

/** One refresh for every request that found the access token expired at the same moment. */
function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    const current = storedTokens();
    if (!current) return false;
    const res = await fetch(`${BASE}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: current.refreshToken }),
    }).catch(() => null);
    if (!res?.ok) return false;
    storeTokens((await res.json()) as TokenPair);
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {}))
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(method: string, path: string, body: unknown, accept: string): Promise<Response> {
  const tokens = storedTokens();
  const headers: Record<string, string> = { accept };
  if (tokens) headers.authorization = `Bearer ${tokens.accessToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(`${BASE}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'network', 'network');
  }
}

const SESSION_OVER = new Set([
  'session_revoked',
  'staff_disabled',
  'token_outdated',
  'invalid_token',
  'unauthenticated',
]);

async function call(method: string, path: string, body: unknown, accept: string): Promise<Response> {
  let res = await send(method, path, body, accept);
  if (res.status === 401) {
    const err = await errorOf(res.clone());
    if (err.code === 'token_expired' && (await refresh())) res = await send(method, path, body, accept);
    else if (SESSION_OVER.has(err.code) || err.code === 'token_expired') {
      endSession('expired');
      throw err;
    }
    if (res.status === 401) {
      endSession('expired');
      throw await errorOf(res);
    }
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function api<T>(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown } = {},
): Promise<T> {
  const res = await call(method, withQuery(path, options.query), options.body, 'application/json');
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A CSV (or other file) answer saved through the browser, still authenticated by the bearer token. */
export async function download(path: string, filename: string, query?: Query): Promise<void> {
  const res = await call('GET', withQuery(path, query), undefined, 'text/csv');
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function login(username: string, password: string): Promise<void> {
  const res = await fetch(`${BASE}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  }).catch(() => {
    throw new ApiError(0, 'network', 'network');
  });
  if (!res.ok) throw await errorOf(res);
  const body = (await res.json()) as { tokens: TokenPair };
  storeTokens(body.tokens);
}

export async function logout(): Promise<void> {
  await send('POST', '/auth/logout', undefined, 'application/json').catch(() => undefined);
  endSession('signed_out');
}
