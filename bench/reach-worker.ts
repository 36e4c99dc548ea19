/**
 * One worker process of the reach soak (bench/reach.ts): replays its share of the deterministic workload — the
 * followers whose index ≡ WORKER (mod WORKERS), in order — against the real ledger (Redis + MongoDB history),
 * timing every ledger call, and reports the timings to the parent over IPC.
 */
import mongoose from 'mongoose';
import { createLogger } from '../src/infra/logger.js';
import { createRedis } from '../src/infra/redis.js';
import {
  createReachHistory,
  createReachLedger,
  DEFAULT_HOLDOUT_POLICY,
  DEFAULT_REACH_POLICY,
  type ReachDecision,
  type ReachRequest,
} from '../src/reach/index.js';
import { REACH_ACCOUNT, workload } from './reach-workload.js';

const worker = Number(process.env.REACH_WORKER);
const workers = Number(process.env.REACH_WORKERS);
const redis = createRedis({ url: process.env.REDIS_URL!, prefix: process.env.REDIS_PREFIX! });
await mongoose.connect(process.env.MONGO_URL!, { dbName: process.env.MONGO_DATABASE!, maxPoolSize: 10 });
const logger = createLogger({ level: 'warn' });
const history = createReachHistory(logger);
const ledger = createReachLedger({
  redis,
  logger,
  policy: DEFAULT_REACH_POLICY,
  history,
  holdout: DEFAULT_HOLDOUT_POLICY,
});

const timings = { check: [] as number[], reserve: [] as number[], feed: [] as number[] };
const subscribed = new Map<number, boolean>();
const lastAllowed = new Map<number, { req: ReachRequest; decision: ReachDecision }>();
const lastReserve = new Map<number, ReachRequest>();
let ops = 0;

async function timed<T>(bucket: number[], call: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const result = await call();
  bucket.push(Number(process.hrtime.bigint() - start) / 1e6);
  return result;
}

// REACH_RATE (operations per second across all workers): an open-loop pace, each worker starting its n-th
// operation at n / (rate / workers) s. Unset, the workers replay as fast as they can (a saturation run).
const rate = Number(process.env.REACH_RATE ?? 0) / workers;
let maxLagMs = 0;
const started = Date.now();
for (const op of workload()) {
  if (op.follower % workers !== worker) continue;
  if (rate > 0) {
    const due = started + (ops * 1000) / rate;
    const wait = due - Date.now();
    if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
    else maxLagMs = Math.max(maxLagMs, -wait);
  }
  ops += 1;
  const openid = `o${op.follower}`;
  const base = { account: REACH_ACCOUNT, openid, at: op.at };
  switch (op.kind) {
    case 'message':
    case 'click':
      await timed(timings.feed, () =>
        ledger.openWindow({ ...base, kind: op.kind === 'message' ? 'message' : 'event', key: `in${op.i}` }),
      );
      break;
    case 'toggle': {
      const next = !(subscribed.get(op.follower) ?? true);
      subscribed.set(op.follower, next);
      await timed(timings.feed, () => ledger.setSubscribed({ ...base, subscribed: next, key: `sub${op.i}` }));
      break;
    }
    case 'accept':
    case 'reject':
      await timed(timings.feed, () =>
        ledger.subscriptionConsent({ ...base, templateId: 'T1', accepted: op.kind === 'accept', key: `c${op.i}` }),
      );
      break;
    case 'check':
      await timed(timings.check, () =>
        ledger.check({ ...base, channel: 'customer_service', class: 'reply', profileId: op.profileId }),
      );
      break;
    case 'release': {
      const last = lastAllowed.get(op.follower);
      if (last) {
        lastAllowed.delete(op.follower);
        await timed(timings.reserve, () => ledger.release({ ...last.req, at: op.at }, last.decision));
      }
      break;
    }
    case 'retry': {
      const req = lastReserve.get(op.follower);
      if (req) await timed(timings.reserve, () => ledger.reserve({ ...req, at: op.at }));
      break;
    }
    default: {
      const req: ReachRequest = {
        ...base,
        profileId: op.profileId,
        tier: op.tier,
        channel: op.kind,
        class: op.class,
        ...(op.kind === 'subscription' ? { templateId: 'T1' } : {}),
        key: `r${op.i}`,
      };
      const decision = await timed(timings.reserve, () => ledger.reserve(req));
      lastReserve.set(op.follower, req);
      if (decision.verdict === 'allow') lastAllowed.set(op.follower, { req, decision });
    }
  }
}
const seconds = (Date.now() - started) / 1000;
await history.flush();
// Wait until the report has left: exiting earlier drops a large IPC message.
await new Promise<void>((resolve, reject) =>
  process.send!({ worker, ops, seconds, maxLagMs, timings }, undefined, {}, (err) => (err ? reject(err) : resolve())),
);
await history.close();
await redis.quit();
await mongoose.disconnect();
process.exit(0);
