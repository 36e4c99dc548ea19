/**
 * Service queries through the sandbox follower: a signed request to a configured provider, answered within
 * the gateway's deadline or else a fallback now and the answer later as a customer-service message; and
 * answers cached per follower and query for the provider's `cacheSeconds`, never longer, never on failure.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { bearer, givenStaff } from '../staff/support.js';
import { givenFollower, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

// A short gateway deadline keeps the slow-provider case quick; the sandbox still waits its 5 seconds.
const live = useLive({ WECHAT_CALLBACK_DEADLINE_MS: '1500' });

let seq = 0;
const openid = (tag: string) => `oSq${tag}${String(++seq).padStart(4, '0')}${Date.now() % 100000}`;
const secret = 'provider-secret-0123456789';

interface Seen {
  ok: boolean;
  query: string;
  openid: string;
}

/** A business system on a local port: checks the signature, answers `answer(query)` after `delayMs`. */
async function givenProvider(
  answer: (query: string, n: number) => { status?: number; text: string; delayMs?: number },
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const expected = createHmac('sha256', secret)
        .update(`${String(req.headers['x-scrm-timestamp'])}\n${String(req.headers['x-scrm-nonce'])}\n${body}`)
        .digest('hex');
      const parsed = JSON.parse(body) as { query: string; openid: string };
      seen.push({ ok: expected === req.headers['x-scrm-signature'], query: parsed.query, openid: parsed.openid });
      const reply = answer(parsed.query, seen.length);
      setTimeout(() => {
        res.statusCode = reply.status ?? 200;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ text: reply.text }));
      }, reply.delayMs ?? 0);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/query`, seen };
}

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

async function staff() {
  return bearer((await givenStaff(live().app, ['marketing'])).accessToken);
}

async function putProvider(body: Record<string, unknown>) {
  const res = await live()
    .app.http.put('/admin/api/conversation/providers')
    .set(await staff())
    .send({ secret, timeoutMs: 5000, fallbackText: '正在查询，结果稍后发给您', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.secret).toBeUndefined();
}

async function putRule(pattern: string, provider: string) {
  const res = await live()
    .app.http.post('/admin/api/conversation/rules')
    .set(await staff())
    .send({ name: pattern, match: 'exact', pattern, answer: { action: 'service_query', params: { provider } } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

describe('service queries', () => {
  it('falls back within the deadline when a provider is slow, then sends the answer as a customer-service message', async () => {
    const { url, seen } = await givenProvider((query) =>
      query === 'nav' ? { text: '今日净值 1.0234（慢）', delayMs: 2500 } : { text: '总资产 12,345.67 元' },
    );
    for (const key of ['nav', 'assets']) await putProvider({ key, url });

    const { follower } = await givenFollower(live(), openid('Slow'));
    expect((await follower.click('ASSET_QUERY')).inbox?.text).toBe('总资产 12,345.67 元');
    const started = Date.now();
    const slow = await follower.click('NAV_QUERY');
    expect(Date.now() - started).toBeLessThan(2400);
    expect(slow.inbox?.text).toBe('正在查询，结果稍后发给您');
    const late = await eventually(
      () => follower.inbox().find((e) => e.channel === 'custom' && e.text.includes('今日净值 1.0234')),
      { timeoutMs: 8000 },
    );
    expect(late.text).toContain('（慢）');
    expect(seen.every((s) => s.ok)).toBe(true);
  });

  it("reuses an answer within the provider's cacheSeconds for the same follower and query, and only then", async () => {
    const { url, seen } = await givenProvider((query, n) => ({ text: `${query} 的答案 #${n}` }));
    await putProvider({ key: 'cached', url, cacheSeconds: 5 });
    await putProvider({ key: 'uncached', url, cacheSeconds: 0 });
    await putRule('持仓', 'cached');
    await putRule('行情', 'uncached');

    const { follower } = await givenFollower(live(), openid('Ca'));
    const first = (await follower.send('持仓')).inbox?.text;
    expect(first).toBe('持仓 的答案 #1');
    // Within the TTL the provider is not asked again: same answer, still one request.
    expect((await follower.send('持仓')).inbox?.text).toBe(first);
    expect(seen.filter((s) => s.query === '持仓')).toHaveLength(1);

    // Another follower's identical query is theirs to ask.
    const other = await givenFollower(live(), openid('Cb'));
    expect((await other.follower.send('持仓')).inbox?.text).toMatch(/^持仓 的答案 #\d+$/);
    expect((await other.follower.send('持仓')).inbox?.text).not.toBe(first);
    expect(seen.filter((s) => s.query === '持仓')).toHaveLength(2);

    // A provider with cacheSeconds 0 is asked every time.
    await follower.send('行情');
    await follower.send('行情');
    expect(seen.filter((s) => s.query === '行情')).toHaveLength(2);

    // Past the TTL the provider is asked again.
    const fresh = await eventually(
      async () => {
        const text = (await follower.send('持仓')).inbox?.text;
        return text !== first ? text : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    expect(fresh).toMatch(/^持仓 的答案 #\d+$/);
    expect(seen.filter((s) => s.query === '持仓' && s.openid === follower.openid)).toHaveLength(2);
    expect(seen.every((s) => s.ok)).toBe(true);
  });

  it('does not cache a failed answer', async () => {
    const { url, seen } = await givenProvider((_, n) =>
      n === 1 ? { status: 503, text: 'busy' } : { text: '余额 88.00 元' },
    );
    await putProvider({ key: 'flaky', url, cacheSeconds: 600 });
    await putRule('余额', 'flaky');
    const { follower } = await givenFollower(live(), openid('Fl'));
    expect((await follower.send('余额')).inbox?.text).toBe('查询服务暂时不可用，请稍后再试。');
    expect((await follower.send('余额')).inbox?.text).toBe('余额 88.00 元');
    expect((await follower.send('余额')).inbox?.text).toBe('余额 88.00 元');
    expect(seen).toHaveLength(2);
  });
});
