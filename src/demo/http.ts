/** A small client of the admin API and the business-system APIs, as staff tools and partners call them. */
import { z } from 'zod';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what} answered HTTP ${status}: ${JSON.stringify(body).slice(0, 300)}`);
    this.name = 'HttpError';
  }
}

export interface AdminClient {
  readonly username: string;
  /** Every write this staff member made (method and path), for the audit-log promise. */
  readonly writes: string[];
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

async function request(url: string, init: RequestInit, what: string): Promise<unknown> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  if (!res.ok) throw new HttpError(res.status, body, what);
  return body;
}

const Login = z.object({ tokens: z.object({ accessToken: z.string() }).passthrough() }).passthrough();

/** Signs a staff member in and calls /admin/api with their token. */
export async function signIn(baseUrl: string, username: string, password: string): Promise<AdminClient> {
  const login = Login.parse(
    await request(
      `${baseUrl}/admin/api/auth/login`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) },
      'login',
    ),
  );
  const token = login.tokens.accessToken;
  const writes: string[] = [];
  return {
    username,
    writes,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      if (method !== 'GET') writes.push(`${method} ${path}`);
      return (await request(
        `${baseUrl}/admin/api${path}`,
        {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        },
        `${method} ${path}`,
      )) as T;
    },
  };
}

/** Reports events to the CRM's ingestion API with a source's API key. */
export async function postEvents(baseUrl: string, apiKey: string, events: unknown[]): Promise<unknown> {
  return request(
    `${baseUrl}/api/events`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      body: JSON.stringify({ events }),
    },
    'POST /api/events',
  );
}

/** The admin API's paths, from its OpenAPI document: which domains this build has. */
export async function adminPaths(baseUrl: string): Promise<string[]> {
  const doc = z
    .object({ paths: z.record(z.string(), z.unknown()) })
    .passthrough()
    .parse(await request(`${baseUrl}/admin/api/openapi.json`, {}, 'openapi'));
  return Object.keys(doc.paths);
}

/** Runs `work` over `items` with at most `limit` at a time. */
export async function inParallel<T, R>(
  items: T[],
  limit: number,
  work: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(runners);
  return results;
}
