/**
 * Safe-mode text messages against POST /wechat/callback on one service process (pinned to CPU 1; the
 * load generator, autocannon in this process, on CPU 0). Every request is a fresh message: distinct
 * MsgId, encrypted and signed like WeChat does, so each one runs the whole pipeline (verify, decrypt,
 * parse, Redis dedup claim, dispatch, audit buffer, reply render + encrypt, dedup answer).
 * Two runs: as fast as it goes (max throughput), then a fixed 500 msg/s (latency at the target load).
 * Run: npx tsx bench/callback.ts   (or `npm run bench -- callback`)
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { BENCH_ACCOUNT_ENV, BENCH_KEYWORD, cpuSeconds, loadPushes, textPush, type LoadRun } from './lib/pushes.js';
import { canPin, rssMb, startBenchService } from './lib/service.js';

let seq = 0;
/** One safe-mode push of a new text message from one of 1,000 followers. */
const nextPush = () => {
  seq += 1;
  return textPush(`obench${process.pid}_${seq % 1000}`, `benchmark message ${seq}`);
};
/** The same, with the text of the bench service's keyword rule (answered by the conversation engine). */
const nextKeyword = () => {
  seq += 1;
  return textPush(`obench${process.pid}_${seq % 1000}`, BENCH_KEYWORD);
};

export async function benchCallback(): Promise<string> {
  // The load generator takes CPU 0; the service is pinned to CPU 1 by startBenchService.
  if (canPin()) spawnSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });
  const service = await startBenchService({
    entry: 'bench/lib/callback-server.ts',
    env: {
      PROCESS_ROLE: 'web',
      ...BENCH_ACCOUNT_ENV,
    },
  });
  try {
    await loadPushes({ url: service.url, seconds: 3, connections: 20, next: nextPush }); // warm-up (JIT, connection pools)
    const cpuBefore = cpuSeconds(service.pid);
    const max = await loadPushes({ url: service.url, seconds: 10, connections: 50, next: nextPush });
    const cpuPerMessageUs = ((cpuSeconds(service.pid) - cpuBefore) / Math.max(1, max.total)) * 1e6;
    const keyword = await loadPushes({ url: service.url, seconds: 10, connections: 50, next: nextKeyword });
    const paced = await loadPushes({
      url: service.url,
      seconds: 10,
      connections: 20,
      next: nextPush,
      overallRate: 500,
    });
    const rss = rssMb(service.pid);
    const row = (name: string, r: LoadRun) =>
      `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.non2xx} | ${r.errors} | ${r.total} |`;
    return [
      '| load | msg/s (mean) | p50 ms | p99 ms | non-2xx | errors | messages |',
      '|---|---|---|---|---|---|---|',
      row('max (50 connections)', max),
      row('max, keyword reply (50 connections)', keyword),
      row('paced 500 msg/s (20 connections)', paced),
      '',
      `Service CPU per message at max load: ${cpuPerMessageUs.toFixed(0)} µs (user + system, from /proc), i.e. a ceiling of ` +
        `about ${(1e6 / Math.max(1, cpuPerMessageUs)).toFixed(0)} msg/s for one process on one uncontended core.`,
      '',
      `Safe-mode text messages, distinct MsgIds, valid msg_signature, each answered with an encrypted text reply. ` +
        `autocannon in the bench process (CPU 0), service pinned to CPU ${canPin() ? '1' : '(not pinned)'}, RSS ${rss} MB after the runs; ` +
        `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average at start ${os.loadavg()[0]!.toFixed(1)}.`,
    ].join('\n');
  } finally {
    await service.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchCallback());
}
