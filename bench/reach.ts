/**
 * Reach ledger soak: two worker processes replay 100,000 interactions and sends across 10,000 followers against
 * the real ledger (Redis Lua for the hot state, MongoDB for the history), timing every call; then the parent
 * recounts every follower's state from the history alone and compares it with Redis, field by field.
 * Run: npx tsx bench/reach.ts   (or `npm run bench -- reach`)
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { ensureIndexes } from '../src/infra/runtime.js';
import { createRedis } from '../src/infra/redis.js';
import { DEFAULT_REACH_POLICY, readReachHistory, type ReachEventDoc } from '../src/reach/index.js';
import { provisionBenchServices, ROOT } from './lib/service.js';
import { FOLLOWERS, OPERATIONS, REACH_ACCOUNT } from './reach-workload.js';

const WORKERS = 2;

interface WorkerReport {
  worker: number;
  ops: number;
  seconds: number;
  maxLagMs: number;
  timings: { check: number[]; reserve: number[]; feed: number[] };
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

type State = Map<string, number>;

/** Rebuilds the follower hashes and cap counters from the history, with the ledger's rules (ledger.ts). */
function recount(events: ReachEventDoc[]) {
  const followers = new Map<string, State>();
  const caps = new Map<string, number>();
  const { windows } = DEFAULT_REACH_POLICY;
  const stateOf = (openid: string) => {
    let s = followers.get(openid);
    if (!s) followers.set(openid, (s = new Map<string, number>()));
    return s;
  };
  const month = '2026-11';
  const open = (s: State, prefix: string, until: number, left: number) => {
    if (until > (s.get(`${prefix}_until`) ?? 0)) {
      s.set(`${prefix}_until`, until);
      s.set(`${prefix}_left`, left);
    }
  };
  const bump = (s: State, field: string, by: number) => s.set(field, (s.get(field) ?? 0) + by);
  const capKeys = (e: ReachEventDoc) => [`d:${e.profileId}`, `w:${e.profileId}`];
  for (const e of events) {
    const s = stateOf(e.openid);
    const at = e.at.getTime();
    if (e.type === 'open' && e.reason === 'subscribe') {
      s.set('sub', 1);
      s.delete('msg_until');
      s.delete('msg_left');
      open(s, 'evt', at + windows.event.ms, windows.event.messages ?? 0);
    } else if (e.type === 'open') {
      const w = e.window === 'message' ? 'msg' : 'evt';
      const rule = e.window === 'message' ? windows.message : windows.event;
      open(s, w, at + rule.ms, rule.messages ?? 0);
    } else if (e.type === 'close') {
      s.set('sub', 0);
      for (const f of ['msg_until', 'msg_left', 'evt_until', 'evt_left', 'pay_until']) s.delete(f);
    } else if (e.type === 'consent') bump(s, `ot:${e.templateId}`, 1);
    else if (e.type === 'revoke') s.delete(`ot:${e.templateId}`);
    else if (e.type === 'reserve') {
      if (e.channel === 'customer_service') {
        if (e.window === 'message') bump(s, 'msg_left', -1);
        if (e.window === 'event') bump(s, 'evt_left', -1);
      } else if (e.channel === 'mass') bump(s, `mass:${month}`, 1);
      else if (e.channel === 'wecom_group') bump(s, `wecom:${month}`, 1);
      else if (e.channel === 'subscription' && (s.get(`ot:${e.templateId}`) ?? 0) > 0)
        bump(s, `ot:${e.templateId}`, -1);
      if (e.class === 'marketing') for (const k of capKeys(e)) caps.set(k, (caps.get(k) ?? 0) + 1);
    } else if (e.type === 'release') {
      if (e.channel === 'customer_service') {
        if (e.window === 'message' && (s.get('msg_until') ?? 0) > at && (s.get('msg_left') ?? 0) < 5)
          bump(s, 'msg_left', 1);
        if (e.window === 'event' && (s.get('evt_until') ?? 0) > at && (s.get('evt_left') ?? 0) < 3)
          bump(s, 'evt_left', 1);
      } else if (e.channel === 'mass' && (s.get(`mass:${month}`) ?? 0) > 0) bump(s, `mass:${month}`, -1);
      else if (e.channel === 'wecom_group' && (s.get(`wecom:${month}`) ?? 0) > 0) bump(s, `wecom:${month}`, -1);
      else if (e.channel === 'subscription') bump(s, `ot:${e.templateId}`, 1);
      if (e.class === 'marketing')
        for (const k of capKeys(e)) if ((caps.get(k) ?? 0) > 0) caps.set(k, caps.get(k)! - 1);
    }
  }
  return { followers, caps };
}

/** Both runs: as fast as the workers go (saturation), then open-loop at REACH_BENCH_RATE ops/s (default 2,000). */
export async function benchReach(): Promise<string> {
  const paced = Number(process.env.REACH_BENCH_RATE ?? 2000);
  return [
    '**Saturation** (each worker replays as fast as it can):',
    '',
    await soak(0),
    '',
    `**Paced** at ${paced.toLocaleString('en')} operations/s offered (open loop, split between the workers):`,
    '',
    await soak(paced),
  ].join('\n');
}

async function soak(rate: number): Promise<string> {
  const services = await provisionBenchServices();
  const tag = randomBytes(3).toString('hex');
  const env = {
    MONGO_URL: services.mongoUrl,
    MONGO_DATABASE: `bench_reach_${tag}`,
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: `bench:reach:${tag}:`,
    REACH_WORKERS: String(WORKERS),
  };
  await mongoose.connect(env.MONGO_URL, { dbName: env.MONGO_DATABASE, maxPoolSize: 10 });
  const redis = createRedis({ url: env.REDIS_URL, prefix: env.REDIS_PREFIX });
  try {
    // The history's indexes as in production (the service builds them at start-up).
    await ensureIndexes();
    const started = Date.now();
    const reports = await Promise.all(
      Array.from(
        { length: WORKERS },
        (_, worker) =>
          new Promise<WorkerReport>((resolve, reject) => {
            const child = fork(join(ROOT, 'bench', 'reach-worker.ts'), [], {
              execArgv: ['--import', 'tsx'],
              env: { ...process.env, ...env, REACH_WORKER: String(worker), REACH_RATE: String(rate) },
              stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            });
            let report: WorkerReport | undefined;
            child.on('message', (m) => (report = m as WorkerReport));
            child.on('error', reject);
            child.on('exit', (code) =>
              report ? resolve(report) : reject(new Error(`reach worker ${worker} exited with ${code}`)),
            );
          }),
      ),
    );
    const wall = (Date.now() - started) / 1000;

    const events: ReachEventDoc[] = [];
    for await (const e of readReachHistory({ account: REACH_ACCOUNT })) events.push(e);
    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    const expected = recount(events);
    let compared = 0;
    let mismatched = 0;
    const examples: string[] = [];
    for (let f = 0; f < FOLLOWERS; f += 200) {
      const batch = Array.from({ length: Math.min(200, FOLLOWERS - f) }, (_, i) => `o${f + i}`);
      const actual = await Promise.all(batch.map((o) => redis.hgetall(`reach:f:${REACH_ACCOUNT}:${o}`)));
      batch.forEach((openid, i) => {
        const want = expected.followers.get(openid) ?? new Map<string, number>();
        const got = actual[i]!;
        compared += 1;
        const keys = new Set([...want.keys(), ...Object.keys(got)]);
        const diff = [...keys].filter((k) => String(want.get(k) ?? '') !== (got[k] ?? ''));
        if (diff.length > 0) {
          mismatched += 1;
          if (examples.length < 3)
            examples.push(`${openid}: ${diff.map((k) => `${k} ledger=${got[k]} recount=${want.get(k)}`).join(', ')}`);
        }
      });
    }
    let capMismatch = 0;
    const week = Math.floor(((Date.UTC(2026, 10, 24, 4) + 8 * 3600_000) / 86_400_000 + 3) / 7);
    for (let f = 0; f < FOLLOWERS; f += 200) {
      const ids = Array.from({ length: Math.min(200, FOLLOWERS - f) }, (_, i) => `p${f + i}`);
      const days = await Promise.all(ids.map((p) => redis.get(`reach:cap:d:2026-11-24:${p}`)));
      const weeks = await Promise.all(ids.map((p) => redis.get(`reach:cap:w:${week}:${p}`)));
      ids.forEach((p, i) => {
        if (Number(days[i] ?? 0) !== (expected.caps.get(`d:${p}`) ?? 0)) capMismatch += 1;
        if (Number(weeks[i] ?? 0) !== (expected.caps.get(`w:${p}`) ?? 0)) capMismatch += 1;
      });
    }

    const all = (k: keyof WorkerReport['timings']) => reports.flatMap((r) => r.timings[k]);
    const row = (name: string, values: number[]) =>
      `| ${name} | ${values.length} | ${quantile(values, 0.5).toFixed(3)} | ${quantile(values, 0.99).toFixed(3)} | ${quantile(values, 0.999).toFixed(3)} |`;
    const ops = reports.reduce((s, r) => s + r.ops, 0);
    const check99 = quantile(all('check'), 0.99);
    return [
      `${ops.toLocaleString('en')} operations (${OPERATIONS.toLocaleString('en')} generated) across ${FOLLOWERS.toLocaleString('en')} followers, ` +
        `${WORKERS} worker processes, ${wall.toFixed(1)} s wall (${(ops / wall).toFixed(0)} ops/s); ` +
        (rate > 0 ? `furthest behind schedule ${Math.max(...reports.map((r) => r.maxLagMs)).toFixed(0)} ms; ` : '') +
        `${events.length.toLocaleString('en')} history events.`,
      '',
      '| ledger call | count | p50 ms | p99 ms | p99.9 ms |',
      '|---|---|---|---|---|',
      row('check (customer service)', all('check')),
      row('reserve / release (all channels)', all('reserve')),
      row('gateway feed (windows, follows, consents)', all('feed')),
      '',
      `Recount from the MongoDB history: ${compared.toLocaleString('en')} followers compared field by field with Redis, ` +
        `**${mismatched} mismatched**; marketing cap counters (day and week per profile): **${capMismatch} mismatched**.` +
        (examples.length ? `\n\nExamples: ${examples.join('; ')}` : ''),
      '',
      `p99 of a check: ${check99.toFixed(3)} ms (target < 2 ms: ${check99 < 2 ? 'met' : '**not met on this run**'}).`,
    ].join('\n');
  } finally {
    await mongoose.connection.db?.dropDatabase();
    await mongoose.disconnect();
    const keys = await redis.keys(`${env.REDIS_PREFIX}*`);
    for (let i = 0; i < keys.length; i += 500)
      await redis.del(...keys.slice(i, i + 500).map((k) => k.slice(env.REDIS_PREFIX.length)));
    await redis.quit();
    await services.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchReach());
  process.exit(0);
}
