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

const CODES = Number(process.env.BENCH_CODES ?? 6000);

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
        quota: CODES,
        issueFrom: new Date(Date.now() - hour),
        issueUntil: new Date(Date.now() + hour),
        redeemFrom: new Date(Date.now() - hour),
        redeemUntil: new Date(Date.now() + 24 * hour),
        issueMode: 'push',
      },
      'bench',
    );
    const issued: { code: string; profileId: string }[] = [];
    const profiles = Array.from({ length: CODES }, () => new Types.ObjectId().toHexString());
    for (let i = 0; i < profiles.length; i += 20) {
      const batch = await Promise.all(
        profiles
          .slice(i, i + 20)
          .map((profileId) => claimCode(deps, { programId: program._id, profileId, via: 'push' })),
      );
      for (const c of batch) issued.push({ code: c.code, profileId: c.profileId });
    }

    let next = 0;
    const result = await autocannon({
      url: `${service.url}/api/reservations/redeem`,
      connections: 20,
      amount: issued.length,
      requests: [
        {
          method: 'POST',
          setupRequest: (req) => {
            const item = issued[next++ % issued.length]!;
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
    const redeemed = await mongoose.connection.db!.collection('reservation_outcomes').countDocuments({
      programId: program._id,
      outcome: 'redeemed',
    });
    return [
      '| requests | redemptions/s (mean) | p50 ms | p99 ms | non-2xx | redeemed in storage |',
      '|---|---|---|---|---|---|',
      `| ${result.requests.total} | ${result.requests.average.toFixed(0)} | ${result.latency.p50} | ${result.latency.p99} | ${result.non2xx} | ${redeemed} |`,
      '',
      `${CODES} distinct codes, one redemption each, 20 connections; API key verified per request (cached 30 s), ` +
        `code lookup by HMAC, outcome insert under the unique index. Service RSS ${rssMb(service.pid)} MB; ` +
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
