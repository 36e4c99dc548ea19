/**
 * Reservation-code redemptions through the business-system API (POST /api/reservations/redeem with a
 * source API key), each request a different issued code of a different customer, against one service
 * process (role web, pinned to CPU 1; autocannon here on CPU 0). Codes are issued beforehand by the
 * service's own functions in this process, on the same database.
 * Run: npx tsx bench/reservations.ts   (or `npm run bench -- reservations`)
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import autocannon from 'autocannon';
import mongoose, { Types } from 'mongoose';
import { createCrm } from '../src/crm/index.js';
import { loadConfig } from '../src/infra/config.js';
import { createInfra, ensureIndexes } from '../src/infra/runtime.js';
import { claimCode, createProgram, createReservationDeps } from '../src/reservations/index.js';
import { canPin, rssMb, startBenchService } from './lib/service.js';

const CODES = Number(process.env.BENCH_CODES ?? 8000);
// Redeemed first and not counted: JIT, the driver's connection pool and the API-key cache warm up on them.
const WARMUP = Number(process.env.BENCH_WARMUP_CODES ?? 1500);

export async function benchReservations(): Promise<string> {
  if (canPin()) spawnSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });
  const service = await startBenchService({ env: { PROCESS_ROLE: 'web' } });
  const config = loadConfig({ ...service.env, PROCESS_ROLE: 'web', LOG_LEVEL: 'silent' });
  const infra = await createInfra(config);
  try {
    await ensureIndexes();
    const crm = createCrm({ config, logger: infra.logger, redis: infra.redis });
    const { apiKey } = await crm.ingestion.createSource({ name: 'bench-counter', createdBy: 'bench' });
    const deps = createReservationDeps(infra, {
      eligibility: { check: () => Promise.resolve({ eligible: true }) },
      notifier: { notify: () => Promise.resolve() },
    });
    const hour = 3_600_000;
    const program = await createProgram(
      deps,
      {
        name: 'bench',
        quota: CODES + WARMUP,
        issueFrom: new Date(Date.now() - hour),
        issueUntil: new Date(Date.now() + hour),
        redeemFrom: new Date(Date.now() - hour),
        redeemUntil: new Date(Date.now() + 24 * hour),
        issueMode: 'push',
      },
      'bench',
    );
    const issued: { code: string; profileId: string }[] = [];
    const profiles = Array.from({ length: CODES + WARMUP }, () => new Types.ObjectId().toHexString());
    for (let i = 0; i < profiles.length; i += 20) {
      const batch = await Promise.all(
        profiles
          .slice(i, i + 20)
          .map((profileId) => claimCode(deps, { programId: program._id, profileId, via: 'push' })),
      );
      for (const c of batch) issued.push({ code: c.code, profileId: c.profileId });
    }

    let next = 0;
    const redeem = (items: typeof issued) =>
      autocannon({
        url: `${service.url}/api/reservations/redeem`,
        connections: 20,
        amount: items.length,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              const item = items[next++ % items.length]!;
              return {
                ...req,
                headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
                body: JSON.stringify({
                  code: item.code,
                  customer: { kind: 'profile', value: item.profileId },
                  orderRef: `B${next}`,
                }),
              };
            },
          },
        ],
      });
    await redeem(issued.slice(0, WARMUP));
    next = 0;
    const result = await redeem(issued.slice(WARMUP));
    const redeemed = await mongoose.connection.db!.collection('reservation_outcomes').countDocuments({
      programId: program._id,
      outcome: 'redeemed',
    });
    // No worker runs here: each "redeemed" message waits in the outbox, as a pending record and a queue entry.
    const queued = await mongoose.connection.db!.collection('reservation_notices').countDocuments({
      kind: 'redeemed',
      state: 'pending',
    });
    // Then a worker process drains the outbox: how fast the messages follow the answers. (The bench's customers
    // follow no account, so each notice ends at the follower lookup, "not a follower", without a WeChat call.)
    const pendingNow = () =>
      mongoose.connection.db!.collection('reservation_notices').countDocuments({ kind: 'redeemed', state: 'pending' });
    const worker = await startBenchService({
      env: {
        PROCESS_ROLE: 'worker',
        MONGO_DATABASE: service.env.MONGO_DATABASE!,
        REDIS_PREFIX: service.env.REDIS_PREFIX!,
      },
      keepData: true,
    });
    const drainStart = Date.now();
    let left = queued;
    while (left > 0 && Date.now() - drainStart < 180_000) {
      await new Promise((r) => setTimeout(r, 500));
      left = await pendingNow();
    }
    const drainSeconds = (Date.now() - drainStart) / 1000;
    await worker.stop();
    return [
      '| requests | redemptions/s (mean) | p50 ms | p99 ms | non-2xx | redeemed in storage |',
      '|---|---|---|---|---|---|',
      `| ${result.requests.total} | ${result.requests.average.toFixed(0)} | ${result.latency.p50} | ${result.latency.p99} | ${result.non2xx} | ${redeemed} |`,
      '',
      `${CODES} distinct codes, one redemption each (after ${WARMUP} warm-up redemptions, counted in storage), 20 connections; API key verified per request (cached 30 s), ` +
        `code lookup by HMAC, outcome insert under the unique index; ${queued} "redeemed" notices left pending in the outbox, then sent by one worker process in ${drainSeconds.toFixed(1)} s (${((queued - left) / drainSeconds).toFixed(0)} notices/s, ${left} left). Service RSS ${rssMb(service.pid)} MB; ` +
        `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average at start ${os.loadavg()[0]!.toFixed(1)}.`,
    ].join('\n');
  } finally {
    await infra.close();
    await service.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchReservations());
}
