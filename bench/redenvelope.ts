/**
 * Red-envelope claims through the full chat path: followers send a running campaign's keyword to
 * POST /wechat/callback in safe mode (distinct MsgIds, valid signatures), and each message runs the gateway,
 * the keyword lookup, eligibility, the risk engine, the Redis slot and the claim's unique insert before the
 * encrypted "you won" reply. One service process (role web, pinned to CPU 1; the load generator on CPU 0).
 * Claims are counted from the store afterwards, not from the replies.
 * Run: npx tsx bench/redenvelope.ts   (or `npm run bench -- redenvelope`)
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { createCrm } from '../src/crm/index.js';
import { approveCampaign, createCampaign, startCampaign } from '../src/campaigns/redenvelope/index.js';
import { RedEnvelopeClaim } from '../src/campaigns/redenvelope/model.js';
import { loadConfig } from '../src/infra/config.js';
import { createInfra, ensureIndexes } from '../src/infra/runtime.js';
import { BENCH_ACCOUNT_ENV, cpuSeconds, loadPushes, textPush, type LoadRun } from './lib/pushes.js';
import { canPin, rssMb, startBenchService } from './lib/service.js';

const FOLLOWERS = Number(process.env.BENCH_FOLLOWERS ?? 4000);
const KEYWORD = '抢红包';

export async function benchRedEnvelopes(): Promise<string> {
  if (canPin()) spawnSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });
  const service = await startBenchService({ env: { PROCESS_ROLE: 'web', ...BENCH_ACCOUNT_ENV } });
  const config = loadConfig({ ...service.env, PROCESS_ROLE: 'web', LOG_LEVEL: 'silent' });
  const infra = await createInfra(config);
  try {
    await ensureIndexes();
    // Followers known to the CRM (the claim needs a profile), as the gateway's subscribe events leave them.
    const crm = createCrm({ config, logger: infra.logger, redis: infra.redis });
    const openids = Array.from({ length: FOLLOWERS }, (_, i) => `obench_re_${process.pid}_${i}`);
    for (let i = 0; i < openids.length; i += 10)
      await Promise.all(
        openids.slice(i, i + 10).map((openid) =>
          crm.identities.resolve({
            identities: [crm.identities.of.openid('default', openid)],
            source: 'wechat:default',
            seed: { stage: 'follower' },
          }),
        ),
      );
    // Enough envelopes for every message the runs can send, so every claim goes the winning path; the
    // per-customer limits and the risk engine's velocity rule (20 a minute) are above what the load asks of
    // one follower, and the spike breaker is set out of reach.
    const envelopes = 200_000;
    const campaign = await createCampaign(
      {
        name: 'bench',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 3_600_000),
        budgetFen: envelopes * 30,
        prize: { kind: 'fixed', amountFen: 30, count: envelopes },
        drawChance: 1,
        perCustomerTotal: 1000,
        perCustomerPerDay: 1000,
        entries: ['keyword'],
        keyword: KEYWORD,
        breakerClaimsPerMinute: 10_000_000,
      },
      'bench-marketer',
    );
    await approveCampaign(campaign._id, 'bench-manager');
    await startCampaign(infra.redis, campaign._id);
    await new Promise((r) => setTimeout(r, 2500)); // the service's campaign snapshot reloads every second

    let seq = 0;
    const next = () => textPush(openids[seq++ % openids.length]!, KEYWORD);
    const claimsNow = () => RedEnvelopeClaim.countDocuments({ campaignId: campaign._id });
    await loadPushes({ url: service.url, seconds: 3, connections: 10, next }); // warm-up
    const runs: { name: string; run: LoadRun; claims: number; cpuUs: number }[] = [];
    for (const [name, options] of [
      ['max (50 connections)', { seconds: 10, connections: 50 }],
      ['paced 1,000 msg/s (50 connections)', { seconds: 10, connections: 50, overallRate: 1000 }],
      ['paced 500 msg/s (20 connections)', { seconds: 10, connections: 20, overallRate: 500 }],
    ] as const) {
      const before = await claimsNow();
      const cpuBefore = cpuSeconds(service.pid);
      const run = await loadPushes({ url: service.url, next, ...options });
      await new Promise((r) => setTimeout(r, 500));
      const claims = (await claimsNow()) - before;
      runs.push({ name, run, claims, cpuUs: ((cpuSeconds(service.pid) - cpuBefore) / Math.max(1, claims)) * 1e6 });
    }
    const won = await RedEnvelopeClaim.countDocuments({ campaignId: campaign._id, outcome: 'won' });
    const all = await claimsNow();
    const rss = rssMb(service.pid);
    return [
      '| load | msg/s | claims stored | claims/s | p50 ms | p99 ms | non-2xx | errors | CPU µs/claim |',
      '|---|---|---|---|---|---|---|---|---|',
      ...runs.map(
        ({ name, run, claims, cpuUs }) =>
          `| ${name} | ${run.rps.toFixed(0)} | ${claims} | ${(claims / 10).toFixed(0)} | ${run.p50.toFixed(1)} | ${run.p99.toFixed(1)} | ${run.non2xx} | ${run.errors} | ${cpuUs.toFixed(0)} |`,
      ),
      '',
      `${all} claims stored in all (warm-up included), ${won} of them won; ${FOLLOWERS} followers. ` +
        `Service RSS ${rss} MB after the runs; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ` +
        `load average at start ${os.loadavg()[0]!.toFixed(1)}.`,
    ].join('\n');
  } finally {
    await infra.close();
    await service.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchRedEnvelopes());
}
