/**
 * CSV import throughput and memory: a generated file of N rows (default 100,000; CRM_BENCH_ROWS to change)
 * with 2 % invalid phones and 1 % repeats of earlier rows, imported by the CRM's streaming importer in
 * this process — first as a dry run, then for real — while RSS is sampled every 50 ms.
 * Run: MONGO_URL=mongodb://127.0.0.1:27018/ npx tsx bench/crm-import.ts   (or `npm run bench -- crm-import`)
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { createCrm } from '../src/crm/index.js';
import { loadConfig } from '../src/infra/config.js';
import { createInfra, ensureIndexes } from '../src/infra/runtime.js';
import { provisionBenchServices } from './lib/service.js';

async function writeCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  const write = async (line: string) => {
    if (!out.write(line)) await once(out, 'drain');
  };
  await write('name,mobile,customer_no,gender,tier,risk\n');
  const tiers = ['standard', 'silver', 'gold', 'vip'];
  for (let i = 1; i <= rows; i += 1) {
    // 1 % repeat row i-7's phone; 2 % carry an invalid phone.
    const n = i % 100 === 0 && i > 7 ? i - 7 : i;
    const phone = i % 50 === 1 ? '12345' : `139${String(n).padStart(8, '0')}`;
    const customerNo = i % 2 === 0 ? `C${n}` : '';
    await write(
      `客户${i},${phone},${customerNo},${i % 3 === 0 ? '女' : '男'},${tiers[i % 4]},${i % 5 === 0 ? 'high' : 'low'}\n`,
    );
  }
  out.end();
  await once(out, 'finish');
}

export async function benchCrmImport(rows = Number(process.env.CRM_BENCH_ROWS ?? 100_000)): Promise<string> {
  const services = await provisionBenchServices();
  const tag = randomBytes(3).toString('hex');
  const config = loadConfig({
    APP_ENV: 'development',
    LOG_LEVEL: 'warn',
    SANDBOX: 'false',
    MONGO_URL: services.mongoUrl,
    MONGO_DATABASE: `bench_crm_${tag}`,
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: `bench:${tag}:`,
  });
  const infra = await createInfra(config);
  const dir = mkdtempSync(join(os.tmpdir(), 'crm-bench-'));
  try {
    const crm = createCrm({ config, logger: infra.logger, redis: infra.redis });
    await ensureIndexes();
    await crm.attributes.define({ key: 'risk', label: 'Risk', type: 'enum', allowedValues: ['low', 'high'] });
    const file = join(dir, 'leads.csv');
    await writeCsv(file, rows);
    const mapping = {
      name: 'name',
      mobile: 'phone',
      customer_no: 'customerNo',
      gender: 'gender',
      tier: 'tier',
      risk: 'attr:risk',
    };
    const lines: string[] = [];
    for (const dryRun of [true, false]) {
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 50);
      const job = await crm.imports.create({ filePath: file, mapping, kind: 'lead', dryRun, createdBy: 'bench' });
      const started = process.hrtime.bigint();
      const done = await crm.imports.run(job._id);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      const c = done.counts;
      lines.push(
        `| ${dryRun ? 'dry run' : 'import'} | ${c.rows} | ${c.created} | ${c.matched} | ${c.invalid} | ${seconds.toFixed(1)} | ${(c.rows / seconds).toFixed(0)} | ${(baseline / 2 ** 20).toFixed(0)} | ${(peak / 2 ** 20).toFixed(0)} |`,
      );
    }
    const mb = (statSync(file).size / 2 ** 20).toFixed(1);
    return [
      `| run | rows | created | matched | invalid | seconds | rows/s | RSS before MB | peak RSS MB |`,
      `|---|---|---|---|---|---|---|---|---|`,
      ...lines,
      '',
      `${rows} rows (${mb} MB CSV; 2 % invalid phones, 1 % repeats), batches of CRM_IMPORT_CHECKPOINT_ROWS=${config.crm.importCheckpointRows}; ` +
        `importer in the bench process, ${infra.mongo.flavor} ${infra.mongo.version}; ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}.`,
    ].join('\n');
  } finally {
    await mongoose.connection.db?.dropDatabase().catch(() => undefined);
    await infra.agenda.stop().catch(() => undefined);
    await infra.close();
    await services.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchCrmImport());
}
