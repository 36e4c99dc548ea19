/**
 * Audience size estimates on N profiles (default 200,000; AUDIENCE_BENCH_PROFILES to change), seeded with
 * insertMany: profiles in four tiers, half of them following the account, a tenth tagged, a fifth with a
 * purchase in the last week. Each condition is estimated three times; the table shows the median.
 * Run: MONGO_URL=mongodb://127.0.0.1:27018/ npx tsx bench/audience-estimate.ts   (or `npm run bench -- audience-estimate`)
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import mongoose, { Types } from 'mongoose';
import { estimate } from '../src/audiences/service.js';
import { loadConfig } from '../src/infra/config.js';
import { createInfra, ensureIndexes } from '../src/infra/runtime.js';
import { provisionBenchServices } from './lib/service.js';

const TIERS = ['standard', 'silver', 'gold', 'vip'];

async function seed(n: number): Promise<void> {
  const db = mongoose.connection.db!;
  const now = new Date();
  const tagId = new Types.ObjectId();
  await db.collection('crm_tags').insertOne({ _id: tagId, name: 'churn-risk', createdAt: now });
  for (let i = 0; i < n; i += 5000) {
    const profiles = [];
    const followers = [];
    const tags = [];
    const events = [];
    for (let j = i; j < Math.min(n, i + 5000); j += 1) {
      const _id = new Types.ObjectId();
      profiles.push({
        _id,
        tier: TIERS[j % 4],
        region: j % 3 === 0 ? 'sh' : 'bj',
        createdAt: now,
        lastInteractionAt: now,
      });
      if (j % 2 === 0)
        followers.push({
          account: 'default',
          openid: `oEst${j}`,
          profileId: _id,
          subscribed: true,
          firstSubscribedAt: now,
        });
      if (j % 10 === 0) tags.push({ profileId: _id, tagId, at: now });
      if (j % 5 === 0)
        events.push({
          profileId: _id,
          type: 'purchase',
          at: new Date(now.getTime() - (j % 7) * 86_400_000),
          source: 'bench',
          payload: { amountFen: 1000 * (j % 50) },
          dedupKey: `bench-${j}`,
          createdAt: now,
        });
    }
    await db.collection('crm_profiles').insertMany(profiles, { ordered: false });
    if (followers.length) await db.collection('crm_followers').insertMany(followers, { ordered: false });
    if (tags.length) await db.collection('crm_profile_tags').insertMany(tags, { ordered: false });
    if (events.length) await db.collection('crm_timeline').insertMany(events, { ordered: false });
  }
}

const CONDITIONS: [string, unknown][] = [
  ['tier in (gold, vip)', { field: 'tier', op: 'in', value: ['gold', 'vip'] }],
  ['follows the account', { follows: 'default', subscribed: true }],
  [
    'VIP/gold followers, not churn-risk',
    {
      all: [
        { field: 'tier', op: 'in', value: ['gold', 'vip'] },
        { follows: 'default', subscribed: true },
        { not: { tag: 'churn-risk' } },
      ],
    },
  ],
  ['bought ≥ 20 yuan in the last 7 days', { event: 'purchase', from: 'T-7', sumFen: { op: 'gte', value: 2000 } }],
];

export async function benchAudienceEstimate(
  n = Number(process.env.AUDIENCE_BENCH_PROFILES ?? 200_000),
): Promise<string> {
  const services = await provisionBenchServices();
  const tag = randomBytes(3).toString('hex');
  const infra = await createInfra(
    loadConfig({
      APP_ENV: 'development',
      LOG_LEVEL: 'warn',
      SANDBOX: 'false',
      MONGO_URL: services.mongoUrl,
      MONGO_DATABASE: `bench_audience_${tag}`,
      REDIS_URL: services.redisUrl,
      REDIS_PREFIX: `bench:${tag}:`,
    }),
  );
  try {
    await ensureIndexes();
    const seedStarted = performance.now();
    await seed(n);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const lines: string[] = [];
    for (const [name, condition] of CONDITIONS) {
      const runs = [];
      for (let k = 0; k < 3; k += 1) runs.push(await estimate({}, condition));
      const ms = runs.map((r) => r.tookMs).sort((a, b) => a - b);
      lines.push(`| ${name} | ${runs[0]!.size} | ${ms[1]} | ${ms[0]} | ${ms[2]} |`);
    }
    return [
      `| condition | size | median ms | min ms | max ms |`,
      `|---|---|---|---|---|`,
      ...lines,
      '',
      `${n} profiles (seeded in ${seedSeconds.toFixed(0)} s with insertMany, 5,000 per batch); estimates stream ids with cursors ` +
        `and combine sets in memory. ${infra.mongo.flavor} ${infra.mongo.version}; load average ${os.loadavg()[0]!.toFixed(1)}; ` +
        `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}.`,
    ].join('\n');
  } finally {
    await mongoose.connection.db?.dropDatabase().catch(() => undefined);
    await infra.agenda.stop().catch(() => undefined);
    await infra.close();
    await services.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchAudienceEstimate());
}
