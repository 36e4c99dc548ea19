/**
 * The official-account client against the local sandbox: calls/s and latency of a typical read
 * (user/info) with the token cached in Redis, 20 in flight; and the cost of one token refresh seen by 20
 * concurrent callers after a revocation (one stable_token call expected). Client and sandbox share one
 * process, so a figure is the round trip through both, not WeChat's speed.
 * Run: npx tsx bench/wechat-client.ts   (or `npm run bench -- wechat-client`)
 */
import { randomBytes } from 'node:crypto';
import { createRedis, deleteByPrefix } from '../src/infra/redis.js';
import { createWechatClient } from '../src/platform/wechat/index.js';
import { startSandbox } from '../src/sandbox/server.js';

export async function benchWechatClient(): Promise<string> {
  const sandbox = await startSandbox();
  const prefix = `bench:${randomBytes(3).toString('hex')}:`;
  const redis = createRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix });
  try {
    const appid = `wx${randomBytes(8).toString('hex')}`;
    sandbox.wechat.addAccount({ key: 'bench', appid, secret: 'bench-secret', token: 'benchtoken' });
    const follower = sandbox.wechat.follower('bench');
    await follower.subscribe();
    const client = createWechatClient(
      { key: 'bench', appid, secret: 'bench-secret', apiBase: sandbox.wechatBase },
      { redis },
    );
    const run = async (total: number, concurrency: number) => {
      const latencies: number[] = [];
      let next = 0;
      const started = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < total) {
            next += 1;
            const t0 = process.hrtime.bigint();
            await client.getUser(follower.openid);
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      latencies.sort((a, b) => a - b);
      const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
      return { perSecond: total / seconds, p50: pct(0.5), p99: pct(0.99) };
    };
    await run(500, 20); // warm-up (JIT, connection pool)
    const rounds = [await run(3000, 20), await run(3000, 20), await run(3000, 20)];
    const median = rounds.map((r) => r.perSecond).sort((a, b) => a - b)[1]!;
    const mid = rounds.find((r) => r.perSecond === median)!;

    sandbox.wechat.revokeTokens('bench');
    const before = sandbox.wechat.calls('bench')['/cgi-bin/stable_token'] ?? 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: 20 }, () => client.getUser(follower.openid)));
    const refreshMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const refreshes = (sandbox.wechat.calls('bench')['/cgi-bin/stable_token'] ?? 0) - before;

    return [
      `| measure | value |`,
      `|---|---|`,
      `| user/info calls/s, token cached, 20 in flight (median of 3 × 3000) | ${median.toFixed(0)} |`,
      `| p50 / p99 ms | ${mid.p50.toFixed(2)} / ${mid.p99.toFixed(2)} |`,
      `| 20 concurrent calls after a token revocation: wall ms, stable_token calls | ${refreshMs.toFixed(1)} ms, ${refreshes} |`,
      '',
      'Client and sandbox in one Node process (unpinned), Redis at 127.0.0.1:6379.',
    ].join('\n');
  } finally {
    await deleteByPrefix(redis, prefix);
    await redis.quit();
    await sandbox.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchWechatClient());
}
