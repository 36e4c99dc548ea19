/**
 * `npm run demo`: the whole service doing its job without a WeChat account. Finds or starts MongoDB and
 * Redis, starts the sandbox and separate web and worker processes, seeds a fund company (one service
 * account and three subscription accounts sharing customers by unionid, tiers, a red-envelope draw for
 * today's buyers, a reservation program, a referral campaign, a tiered push with an A/B variant), plays a
 * day through the sandbox and prints a summary read back
 * from the stores. `--fast` (CI) uses a few hundred followers, then stops and cleans up; otherwise the
 * service keeps running with its URL and the demo logins printed until Ctrl-C.
 */
import { join } from 'node:path';
import mongoose from 'mongoose';
import { Redis } from 'ioredis';
import { provisionServices, ProvisionError, type Provisioned } from '../src/infra/provision/index.js';
import { defaultCacheDir } from '../src/infra/provision/ferretdb.js';
import { canConnect } from '../src/infra/provision/net.js';
import { runDemoDay } from '../src/demo/day.js';
import { DEMO_LOGINS, formatSummary, ledgerAgrees } from '../src/demo/scenario.js';
import { demoSettings } from '../src/demo/settings.js';
import { startStack } from '../src/demo/stack.js';

const root = join(import.meta.dirname, '..');
const fast = process.argv.includes('--fast');
const peopleArg = process.argv.find((a) => a.startsWith('--people='));
const people = peopleArg ? Number(peopleArg.slice('--people='.length)) : fast ? 120 : 2000;
const say = (line: string) => process.stderr.write(`[demo] ${line}\n`);
const started = Date.now();

let services: Provisioned;
try {
  services = await provisionServices({
    workDir: join(root, '.cache', 'run'),
    mongoUrl: process.env.MONGO_URL,
    redisUrl: process.env.REDIS_URL,
    ferretdbDatabase: 'scrm_ferretdb',
    cacheDir: defaultCacheDir(),
    log: say,
  });
} catch (err) {
  say(err instanceof ProvisionError ? err.message : `could not provision services: ${String(err)}`);
  process.exit(1);
}
say(`MongoDB: ${services.mongoSource}; Redis: ${services.redisSource}`);

const runId = Date.now().toString(36);
const database = `scrm_demo_${runId}`;
const redisPrefix = `demo:${runId}:`;
const adminPassword = 'admin-password-dev';
const stack = await startStack({
  mongoUrl: services.mongoUrl,
  database,
  redisUrl: services.redisUrl,
  redisPrefix,
  logDir: join(root, '.cache', 'demo', runId),
  webPort: !fast && (await canConnect('127.0.0.1', 3000)) === false ? 3000 : 0,
  sandboxPort: !fast && (await canConnect('127.0.0.1', 3900)) === false ? 3900 : 0,
  settings: demoSettings({ username: 'admin', password: adminPassword }),
  say,
}).catch(async (err: unknown) => {
  say(`start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  await services.stop();
  process.exit(1);
});
const db = await mongoose.createConnection(services.mongoUrl, { dbName: database, maxPoolSize: 4 }).asPromise();

let code = 0;
async function cleanUp(): Promise<void> {
  await stack.stop();
  if (fast && code === 0) {
    // A CI run leaves nothing behind: its database and its Redis keys (only ours, by prefix).
    await db.dropDatabase().catch(() => undefined);
    const redis = new Redis(services.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect().catch(() => undefined);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
  await db.close();
  await services.stop();
}

try {
  const { summary, skipped } = await runDemoDay({
    stack,
    db,
    say,
    fast,
    people,
    runId,
    admin: { username: 'admin', password: adminPassword },
  });
  process.stdout.write(`\n${formatSummary(summary, skipped)}\n`);
  if (summary.ledger && !ledgerAgrees(summary.ledger)) code = 1;
  say(`day played in ${Math.round((Date.now() - started) / 1000)} s`);
} catch (err) {
  say(`the demo day failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = 1;
}

if (fast || code !== 0) {
  if (code !== 0) say(`kept database ${database} and Redis prefix ${redisPrefix} for inspection`);
  await cleanUp();
  process.exit(code);
}

process.stdout.write(
  [
    '',
    `The service is running: ${stack.webUrl}  (admin API ${stack.webUrl}/admin/api/docs)`,
    `Sandbox (WeChat, WeChat Pay, WeCom): ${stack.sandbox.url}/_control`,
    `Logins: admin / ${adminPassword}, ${DEMO_LOGINS.map((l) => `${l.username} / ${l.password}`).join(', ')}`,
    `Database ${database}, Redis prefix ${redisPrefix}. Ctrl-C stops everything.`,
    '',
  ].join('\n'),
);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void cleanUp().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
