/**
 * Fuzz: random and mutated callback requests (bodies and query strings). 10,000 go straight into the
 * pipeline (the route's only own steps, account look-up and the size limit, are applied the same way)
 * and 2,000 more through a real HTTP server, where paths, escapes and oversized bodies are thrown in.
 * Every one must end in a 2xx or a 4xx (a DomainError other than `unavailable`), with no unhandled
 * rejection, and the server must stay up. Seeded for reproducibility (FUZZ_SEED overrides).
 */
import { createServer, Agent, request as httpRequest, type Server } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findAccount } from '../../src/infra/config.js';
import { HTTP_STATUS_BY_KIND, isDomainError } from '../../src/infra/errors.js';
import { useTestApp } from '../support/app.js';
import {
  ACCOUNT_SETTINGS,
  COMPAT_ACCOUNT,
  DEFAULT_ACCOUNT,
  PLAIN_ACCOUNT,
  ROTATED_ACCOUNT,
  compatibleRequest,
  eventXml,
  plainRequest,
  safeRequest,
  textXml,
  type BuiltRequest,
} from '../support/wechat-callback.js';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const PIPELINE_CASES = 10_000;
const HTTP_CASES = 2_000;
const CONCURRENCY = 16;

const app = useTestApp({ ...ACCOUNT_SETTINGS, LOG_LEVEL: 'silent' });
let server: Server;
let port = 0;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  server = createServer(app().app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  agent.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

/** mulberry32: a small seeded PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const rnd = prng(SEED);
const ALPHABET = 'abcXYZ019<>/![]&;="\' \n\t%+?#\u0000\u00e9\u4e2d\ud83d\ude00CDATA';
const randomText = (n: number) => Array.from({ length: n }, () => rnd.pick([...ALPHABET])).join('');
const SNIPPETS = [
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '<![CDATA[',
  ']]>',
  '&amp;',
  '&#0;',
  '&#xFFFF;',
  '<xml>',
  '</xml>',
  '<Encrypt>',
  '</Encrypt>',
  '<?xml version="1.0"?>',
  '<a:b xmlns:a="x">',
  '<!-- c -->',
  '\uFEFF',
  '<'.repeat(50),
  '<x>'.repeat(200),
];

function mutateString(s: string): string {
  if (s.length === 0) return randomText(rnd.int(20));
  const at = rnd.int(s.length);
  switch (rnd.int(8)) {
    case 0: // flip a character
      return s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ (1 << rnd.int(7))) + s.slice(at + 1);
    case 1: // truncate
      return s.slice(0, at);
    case 2: // insert noise
      return s.slice(0, at) + randomText(1 + rnd.int(30)) + s.slice(at);
    case 3: // insert a hostile snippet
      return s.slice(0, at) + rnd.pick(SNIPPETS) + s.slice(at);
    case 4: // delete a span
      return s.slice(0, at) + s.slice(at + rnd.int(40));
    case 5: // duplicate a span
      return s.slice(0, at) + s.slice(at, at + rnd.int(200)) + s.slice(at);
    case 6: // swap halves
      return s.slice(at) + s.slice(0, at);
    default:
      return randomText(rnd.int(200));
  }
}

function seedRequest(): BuiltRequest {
  const xml =
    rnd.next() < 0.7
      ? textXml({ content: randomText(rnd.int(100)) })
      : eventXml(rnd.pick(['CLICK', 'subscribe', 'SCAN', 'nope']), { EventKey: randomText(5) });
  switch (rnd.int(4)) {
    case 0:
      return plainRequest(PLAIN_ACCOUNT, xml);
    case 1:
      return compatibleRequest(COMPAT_ACCOUNT, xml);
    case 2:
      return safeRequest(ROTATED_ACCOUNT, xml);
    default:
      return safeRequest(DEFAULT_ACCOUNT, xml, { alias: rnd.next() < 0.5 });
  }
}

function mutateQuery(path: string): string {
  const [base, qs = ''] = path.split('?') as [string, string?];
  const params = new URLSearchParams(qs);
  const keys = [...params.keys()];
  switch (rnd.int(6)) {
    case 0: {
      const k = rnd.pick(keys);
      params.set(k, mutateString(params.get(k) ?? ''));
      break;
    }
    case 1:
      params.delete(rnd.pick(keys));
      break;
    case 2:
      params.append(rnd.pick([...keys, 'encrypt_type', 'echostr']), randomText(rnd.int(20)));
      break;
    case 3:
      params.set(
        rnd.pick(['encrypt_type', 'timestamp']),
        rnd.pick(['aes', 'raw', 'AES', '', '-1', '9'.repeat(30), randomText(4)]),
      );
      break;
    case 4:
      return `${base}?${mutateString(qs)}`;
    default:
      break;
  }
  return `${base}?${params.toString()}`;
}

interface Case {
  method: 'GET' | 'POST';
  path: string;
  body: string;
}

function nextCase(): Case {
  const seedReq = seedRequest();
  const r = rnd.int(10);
  if (r === 0) return { method: 'GET', path: mutateQuery(seedReq.path), body: '' };
  if (r === 1)
    return {
      method: 'POST',
      path: `/wechat/${rnd.pick(['callback', 'x/callback', '%E4/callback', '../callback'])}`,
      body: randomText(rnd.int(500)),
    };
  let { path, body } = seedReq;
  const rounds = 1 + rnd.int(3);
  for (let i = 0; i < rounds; i++) {
    if (rnd.next() < 0.6) body = mutateString(body);
    else path = mutateQuery(path);
  }
  if (rnd.next() < 0.1) body = body.repeat(1 + rnd.int(400)); // sometimes over the size limit
  return { method: 'POST', path, body };
}

/** Escapes what Node's client refuses to put on the wire; stray `%` stay, so bad escapes reach the server. */
function wirePath(path: string): string {
  return path.replace(/[^\x21-\x7e]/gu, (ch) =>
    [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  );
}

function send(c: Case): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: c.method,
        path: wirePath(c.path),
        agent,
        headers: { 'content-type': 'text/xml' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A body refused at the size limit may see its socket closed while we still write: not a 5xx.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve(413);
      else reject(err);
    });
    req.end(c.method === 'POST' ? c.body : undefined);
  });
}

it(
  `answers ${HTTP_CASES} random and mutated HTTP requests without a 5xx and stays up (seed ${SEED})`,
  { timeout: 60_000 },
  async () => {
    const statuses = new Map<number, number>();
    const fiveXx: Case[] = [];
    let issued = 0;
    async function worker() {
      while (issued < HTTP_CASES) {
        issued += 1;
        const c = nextCase();
        let status: number;
        try {
          status = await send(c);
        } catch (err) {
          throw new Error(`request failed (seed ${SEED}): ${String(err)} for ${c.method} ${c.path}`);
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500) fiveXx.push(c);
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(HTTP_CASES);
    expect(fiveXx.slice(0, 3)).toEqual([]);
    expect(unhandled).toEqual([]);
    // Some inputs survive mutation as valid pushes; most are refused with a 4xx.
    expect([...statuses.keys()].every((s) => s === 200 || (s >= 400 && s < 500))).toBe(true);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    // Still up.
    expect(await send({ method: 'GET', path: '/healthz', body: '' })).toBe(200);
  },
);

/** What the route would answer for a case, computed by calling the pipeline directly. */
async function statusThroughPipeline(c: Case): Promise<number> {
  const { config, deps } = app();
  const [pathname, qs = ''] = c.path.split('?') as [string, string?];
  const named = /^\/wechat\/([^/]+)\/callback$/.exec(pathname);
  if (!named && pathname !== '/wechat/callback') return 404;
  const account = findAccount(config, named ? named[1]! : config.wechat.defaultAccount);
  if (!account) return 404;
  if (Buffer.byteLength(c.body) > config.callback.bodyLimitBytes) return 413;
  let query: Record<string, string | string[] | undefined>;
  try {
    query = parseQuery(qs);
  } catch {
    return 400;
  }
  const request = { account, query, requestId: 'fuzz', log: deps.logger, receivedAt: Date.now() };
  try {
    if (c.method === 'GET') deps.gateway.verifyUrl(request);
    else await deps.gateway.receive(request, c.body);
    return 200;
  } catch (err) {
    if (isDomainError(err)) return HTTP_STATUS_BY_KIND[err.kind];
    throw err;
  }
}

it(
  `answers ${PIPELINE_CASES} random and mutated pushes with a 2xx or a 4xx (seed ${SEED})`,
  { timeout: 60_000 },
  async () => {
    const statuses = new Map<number, number>();
    let issued = 0;
    async function worker() {
      while (issued < PIPELINE_CASES) {
        issued += 1;
        const c = nextCase();
        let status: number;
        try {
          status = await statusThroughPipeline(c);
        } catch (err) {
          throw new Error(`unexpected error (seed ${SEED}) for ${c.method} ${c.path}: ${String(err)}`);
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(PIPELINE_CASES);
    expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(unhandled).toEqual([]);
  },
);
