/**
 * Requests/s of GET /healthz on one service process (pinned to CPU 1, wrk on CPU 0): the ceiling of
 * the HTTP stack with our middleware (request id, metrics, error handler), before any domain work.
 * Run: npx tsx bench/healthz.ts   (or `npm run bench -- healthz`)
 */
import os from 'node:os';
import { rssMb, startBenchService } from './lib/service.js';
import { hasWrk, runWrk } from './lib/wrk.js';

export async function benchHealthz(): Promise<string> {
  if (!hasWrk()) throw new Error('wrk is not installed (apt-get install wrk)');
  const service = await startBenchService();
  try {
    runWrk({ url: `${service.url}/healthz`, seconds: 3, connections: 50 }); // warm-up (JIT)
    const rounds = [1, 2, 3].map(() => runWrk({ url: `${service.url}/healthz`, seconds: 8, connections: 50 }));
    const median = <T>(xs: T[], f: (x: T) => number) => xs.map(f).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const rss = rssMb(service.pid);
    return [
      `| endpoint | req/s (median of 3 × 8 s) | p50 ms | p99 ms | non-2xx | RSS MB |`,
      `|---|---|---|---|---|---|`,
      `| GET /healthz | ${median(rounds, (r) => r.requestsPerSec).toFixed(0)} | ${median(rounds, (r) => r.p50Ms).toFixed(2)} | ${median(rounds, (r) => r.p99Ms).toFixed(2)} | ${rounds.reduce((s, r) => s + r.non2xx, 0)} | ${rss} |`,
      '',
      `wrk -t1 -c50, server pinned to CPU 1 and wrk to CPU 0; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}.`,
    ].join('\n');
  } finally {
    await service.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchHealthz());
}
