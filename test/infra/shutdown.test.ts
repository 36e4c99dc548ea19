import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanFileScope, testSettings } from '../support/app.js';
import { eventually } from '../support/wait.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('graceful shutdown', () => {
  afterAll(() => cleanFileScope());

  it('lets a slow request finish after SIGTERM, refuses new ones, and exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/slow-server.ts'], {
      env: { ...process.env, ...testSettings({ PROCESS_ROLE: 'all', SHUTDOWN_TIMEOUT_MS: '8000' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await eventually(() => Number(/ready (\d+)/.exec(out)?.[1]) || undefined, {
      timeoutMs: 50_000,
      message: 'the server did not start',
    });

    const slow = get(port, '/slow?ms=1500');
    await new Promise((r) => setTimeout(r, 300)); // the request is in flight
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    await expect(get(port, '/healthz')).rejects.toThrow(/ECONNREFUSED|ECONNRESET|socket hang up/);

    const answer = await slow;
    expect(answer).toEqual({ status: 200, body: JSON.stringify({ finished: true }) });
    expect(await exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(8000);
  }, 60_000); // starting a TypeScript child alone can take most of 30 s on a loaded 2-core machine
});
