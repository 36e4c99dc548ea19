import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { buildTestApp, cleanFileScope, useTestApp } from '../support/app.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { eventually } from '../support/wait.js';

describe('operations endpoints', () => {
  const t = useTestApp();

  it('answers liveness', async () => {
    const res = await t().http.get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('is ready when MongoDB and Redis answer', async () => {
    const res = await t().http.get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ready', failing: [] });
  });

  it('exports HTTP latency by route and status, and process metrics', async () => {
    await t().http.get('/healthz');
    const res = await t().http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toMatch(
      /http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/healthz",status="200"\}/,
    );
    expect(res.text).toContain('process_cpu_user_seconds_total');
  });

  it('puts a request id on every response, keeping a well-formed one offered by the caller', async () => {
    const generated = await t().http.get('/healthz');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const offered = await t().http.get('/healthz').set('X-Request-Id', 'lb-trace-0001');
    expect(offered.headers['x-request-id']).toBe('lb-trace-0001');
    const hostile = await t().http.get('/healthz').set('X-Request-Id', 'bad id\nwith newline'.replace('\n', ' '));
    expect(hostile.headers['x-request-id']).not.toContain(' ');
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const res = await t().http.get('/no/such/route');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error: { code: 'not_found', message: 'No such route.', requestId: res.headers['x-request-id'] },
    });
  });
});

describe('readiness when MongoDB goes away', () => {
  it('turns 503 and names mongodb, then recovers', async () => {
    const mongoPort = Number(new URL(inject('mongoUrl')).port);
    const proxy = await startTcpProxy(mongoPort);
    const app = await buildTestApp({ MONGO_URL: `mongodb://127.0.0.1:${proxy.port}/` });
    try {
      expect((await app.http.get('/readyz')).status).toBe(200);
      proxy.cut();
      const down = await app.http.get('/readyz');
      expect(down.status).toBe(503);
      expect(down.body.failing).toEqual(['mongodb']);
      expect(down.body.checks.redis).toBe('ok');
      proxy.resume();
      await eventually(async () => (await app.http.get('/readyz')).status === 200, {
        timeoutMs: 20_000,
        message: 'readiness did not recover after MongoDB came back',
      });
    } finally {
      await app.close();
      await proxy.close();
      await cleanFileScope();
    }
  });
});
