/**
 * What staff authentication costs per request: GET /admin/api/me (JWT verify + one Redis MGET + one
 * MongoDB read of the staff record) against GET /healthz on the same process, and the latency of a
 * sign-in (argon2id verify + session writes). The load comes from this process (keep-alive fetch, fixed
 * concurrency); the server runs pinned to CPU 1 when taskset exists.
 * Run: npx tsx bench/admin-auth.ts   (or `npm run bench -- admin-auth`)
 */
import { rssMb, startBenchService } from './lib/service.js';

interface Load {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

async function load(url: string, headers: Record<string, string>, seconds: number, concurrency: number): Promise<Load> {
  const latencies: number[] = [];
  let non2xx = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const start = performance.now();
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        latencies.push(performance.now() - start);
        if (res.status >= 300) non2xx += 1;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { requestsPerSec: latencies.length / seconds, p50Ms: at(0.5), p99Ms: at(0.99), non2xx };
}

export async function benchAdminAuth(): Promise<string> {
  // The development settings seed the first admin (ADMIN_USERNAME/ADMIN_PASSWORD in config/development.ts).
  const service = await startBenchService({ env: { LOGIN_MAX_ATTEMPTS_PER_IP: '1000' } });
  try {
    const login = async () => {
      const res = await fetch(`${service.url}/admin/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'admin-password-dev' }),
      });
      if (res.status !== 200) throw new Error(`login answered ${res.status}`);
      return ((await res.json()) as { tokens: { accessToken: string } }).tokens.accessToken;
    };
    const loginMs: number[] = [];
    let token = '';
    for (let i = 0; i < 10; i += 1) {
      const start = performance.now();
      token = await login();
      loginMs.push(performance.now() - start);
    }
    loginMs.sort((a, b) => a - b);
    const auth = { authorization: `Bearer ${token}` };
    await load(`${service.url}/admin/api/me`, auth, 2, 20); // warm-up (JIT)
    const health = await load(`${service.url}/healthz`, {}, 5, 20);
    const me = await load(`${service.url}/admin/api/me`, auth, 5, 20);
    const row = (name: string, r: Load) =>
      `| ${name} | ${r.requestsPerSec.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.non2xx} |`;
    return [
      '| endpoint | req/s (5 s, 20 concurrent) | p50 ms | p99 ms | non-2xx |',
      '|---|---|---|---|---|',
      row('GET /healthz', health),
      row('GET /admin/api/me (JWT + Redis + staff read)', me),
      '',
      `POST /admin/api/auth/login (argon2id): median ${loginMs[5]!.toFixed(0)} ms, max ${loginMs[9]!.toFixed(0)} ms over 10 sequential sign-ins. Server RSS ${rssMb(service.pid)} MB.`,
    ].join('\n');
  } finally {
    await service.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchAdminAuth());
}
