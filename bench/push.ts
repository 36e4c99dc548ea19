/**
 * A tiered push to N followers (default 200,000; PUSH_BENCH_PROFILES to change) through the sandbox with
 * the rate limit lifted: profiles and followers are seeded with insertMany, the sandbox knows them as
 * followers (no callbacks), and a separate worker process (bench/lib/push-worker.ts) runs the plan while
 * its RSS is sampled. Reports messages/s and the worker's peak RSS.
 * Run: MONGO_URL=mongodb://127.0.0.1:27018/ npx tsx bench/push.ts   (or `npm run bench -- push`)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import mongoose, { Types } from 'mongoose';
import { createAudience } from '../src/audiences/service.js';
import { loadConfig, type RawSettings } from '../src/infra/config.js';
import { createInfra, ensureIndexes } from '../src/infra/runtime.js';
import { PushPlan, PushSend } from '../src/push/model.js';
import { loadMessageTemplates } from '../src/push/templates.js';
import { startSandbox } from '../src/sandbox/server.js';
import { sandboxAccountsFrom } from '../src/sandbox/wechat/index.js';
import { provisionBenchServices, ROOT } from './lib/service.js';

const TIERS = ['standard', 'silver', 'gold', 'vip'];

/** The worker's RSS in MB from /proc: no child process, so the sandbox sharing this event loop is not stalled. */
function rssOf(pid: number): number {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0; // it has just exited
  }
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

/** Seeds N profiles and their follower records (batches of 5,000); returns the openids. */
export async function seedFollowers(n: number, account = 'default'): Promise<string[]> {
  const db = mongoose.connection.db!;
  const openids: string[] = [];
  const createdAt = new Date();
  for (let i = 0; i < n; i += 5000) {
    const profiles = [];
    const followers = [];
    for (let j = i; j < Math.min(n, i + 5000); j += 1) {
      const _id = new Types.ObjectId();
      const openid = `oBench${String(j).padStart(22, '0')}`;
      openids.push(openid);
      profiles.push({
        _id,
        tier: TIERS[j % 4],
        stage: 'follower',
        source: 'bench',
        createdAt,
        lastInteractionAt: createdAt,
      });
      followers.push({ account, openid, profileId: _id, subscribed: true, firstSubscribedAt: createdAt });
    }
    await db.collection('crm_profiles').insertMany(profiles, { ordered: false });
    await db.collection('crm_followers').insertMany(followers, { ordered: false });
  }
  return openids;
}

export async function benchPush(n = Number(process.env.PUSH_BENCH_PROFILES ?? 200_000)): Promise<string> {
  const services = await provisionBenchServices();
  const sandbox = await startSandbox({});
  const tag = randomBytes(3).toString('hex');
  const settings: RawSettings = {
    APP_ENV: 'development',
    LOG_LEVEL: 'warn',
    SANDBOX: 'false',
    MONGO_URL: services.mongoUrl,
    MONGO_DATABASE: `bench_push_${tag}`,
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: `bench:${tag}:`,
    WECHAT_API_BASE: sandbox.wechatBase,
    PUSH_RATE_PER_SECOND: '1000000', // lifted: the bench measures our side
    PUSH_CAP_PER_DAY: '100',
    PUSH_CAP_PER_WEEK: '100',
    PUSH_QUIET_START_HOUR: '0',
    PUSH_QUIET_END_HOUR: '0',
  };
  const config = loadConfig(settings);
  const infra = await createInfra(config);
  try {
    await ensureIndexes();
    for (const account of sandboxAccountsFrom(config.wechat.accounts, 'http://127.0.0.1:9')) {
      sandbox.wechat.addAccount(account);
      sandbox.wechat.setCallbackUrl(account.key, undefined); // no callbacks: followers are seeded
      // WeChat's daily template quota (the sandbox's default, 100,000 a day) is lifted with the rate limit: a
      // 200,000-follower run otherwise stops at 45009 half-way, deferred to the next day as it should be.
      sandbox.wechat.setQuota(account.key, '/cgi-bin/message/template/send', 2 * n + 1000);
    }
    for (const template of loadMessageTemplates().values())
      sandbox.wechat.addTemplate('default', {
        templateId: template.templateIds.default!,
        title: template.title,
        keywords: Object.keys(template.fields),
      });
    const seedStarted = performance.now();
    const openids = await seedFollowers(n);
    process.stderr.write(`[bench] push: seeded ${n} profiles\n`);
    for (const openid of openids) await sandbox.wechat.follower('default', openid).subscribe();
    process.stderr.write('[bench] push: sandbox followers ready\n');
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    const audience = await createAudience(
      {},
      { name: 'bench followers', kind: 'condition', condition: { follows: 'default', subscribed: true } },
      'bench',
    );
    const plan = await PushPlan.create({
      name: 'bench',
      account: 'default',
      audienceId: audience._id.toString(),
      channel: 'template',
      contents: [
        { tiers: ['vip'], variant: 'A', kind: 'campaign_notice', vars: { title: 'VIP专享', body: '高端产品开放预约' } },
        { variant: 'A', kind: 'campaign_notice', vars: { title: '新品上线', body: '欢迎了解' } },
      ],
      landingUrl: 'https://example.com/bench',
      splitB: 0,
      status: 'running',
      createdBy: 'bench',
    });

    const child = spawn(
      process.execPath,
      [
        // PUSH_WORKER_HEAP_MB: the worker's V8 old-space cap, as a deployment sets one (docker/README).
        ...(process.env.PUSH_WORKER_HEAP_MB ? [`--max-old-space-size=${process.env.PUSH_WORKER_HEAP_MB}`] : []),
        // PUSH_WORKER_NODE_ARGS: more flags for the worker's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
        ...(process.env.PUSH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        '--import',
        'tsx',
        join(ROOT, 'bench', 'lib', 'push-worker.ts'),
        plan._id.toString(),
        'bench',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, PUSH_WORKER_SETTINGS: JSON.stringify(settings) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    let peak = 0;
    let readyAt = 0;
    const sampler = setInterval(() => {
      if (child.pid && child.exitCode === null) peak = Math.max(peak, rssOf(child.pid));
    }, 250);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!readyAt && out.includes('ready')) readyAt = performance.now();
      process.stderr.write(`[bench] push worker: ${chunk.toString()}`);
    });
    // Self-terminating: past the budget the worker is killed and the rate is what it managed so far.
    const budgetMs = Number(process.env.PUSH_BENCH_BUDGET_SECONDS ?? 900) * 1000;
    let timedOut = false;
    const budget = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, budgetMs);
    await new Promise<void>((r) => child.on('exit', () => r()));
    clearTimeout(budget);
    clearInterval(sampler);
    const seconds = readyAt ? (performance.now() - readyAt) / 1000 : 0;
    const sent = await PushSend.countDocuments({ planId: plan._id, state: { $in: ['sent', 'delivered'] } });
    const result = timedOut ? undefined : (JSON.parse(out.trim().split('\n').pop()!) as { seconds: number });
    const runSeconds = result?.seconds ?? seconds;
    const delivered = openids.filter(
      (o) => sandbox.wechat.inbox('default', o).filter((e) => e.channel === 'template').length === 1,
    ).length;
    const twice = openids.filter(
      (o) => sandbox.wechat.inbox('default', o).filter((e) => e.channel === 'template').length > 1,
    ).length;
    return [
      `| profiles | sent (records) | in sandbox inboxes (exactly 1) | more than 1 | seconds | messages/s | worker peak RSS MB |`,
      `|---|---|---|---|---|---|---|`,
      `| ${n} | ${sent}${timedOut ? ' (budget ran out)' : ''} | ${delivered} | ${twice} | ${runSeconds.toFixed(1)} | ${(sent / runSeconds).toFixed(0)} | ${peak} |`,
      '',
      `Target: ≥ 3,000 messages/s and < 400 MB. Load average when measured: ${os.loadavg()[0]!.toFixed(1)}. Seeding ${n} profiles + followers (insertMany, 5,000 per batch) ` +
        `and the sandbox's followers took ${seedSeconds.toFixed(0)} s. One worker process${process.env.PUSH_WORKER_HEAP_MB ? ` (--max-old-space-size=${process.env.PUSH_WORKER_HEAP_MB})` : ''}, ${process.env.PUSH_WORKER_CONCURRENCY ?? 32} recipients in flight per ` +
        `batch of 200; per batch one claim script, one intent page and the rules in two Redis round trips; per send the reach ledger, a token ` +
        `(taken in handfuls), the sandbox call and one record written once with its outcome (group-committed inserts, no update). ${infra.mongo.flavor} ${infra.mongo.version}; ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}.`,
    ].join('\n');
  } finally {
    await mongoose.connection.db?.dropDatabase().catch(() => undefined);
    await infra.agenda.stop().catch(() => undefined);
    await infra.close();
    await sandbox.close();
    await services.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchPush());
}
