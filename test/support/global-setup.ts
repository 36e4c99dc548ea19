/**
 * Once per test run: find or start MongoDB-compatible storage and Redis (the project's own provisioning),
 * hand their URLs to the test files, and stop what was started at the end. Each test file then works in
 * its own database and Redis prefix (test/support/app.ts).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import type { TestProject } from 'vitest/node';
import { defaultCacheDir } from '../../src/infra/provision/ferretdb.js';
import { provisionServices, type Provisioned } from '../../src/infra/provision/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUrl: string;
    redisUrl: string;
    runId: string;
  }
}

let services: Provisioned | undefined;
let runId = '';

export async function setup(project: TestProject): Promise<void> {
  runId = randomBytes(3).toString('hex');
  const root = join(import.meta.dirname, '..', '..');
  services = await provisionServices({
    workDir: join(root, '.cache', 'test-run'),
    mongoUrl: process.env.MONGO_URL,
    redisUrl: process.env.REDIS_URL,
    ferretdbDatabase: 'scrm_ferretdb_test',
    cacheDir: defaultCacheDir(),
    log: (line) => process.stderr.write(`[test services] ${line}\n`),
  });
  process.stderr.write(
    `[test services] MongoDB: ${services.mongoSource}; Redis: ${services.redisSource}; run ${runId}\n`,
  );
  project.provide('mongoUrl', services.mongoUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('runId', runId);
}

export async function teardown(): Promise<void> {
  if (!services) return;
  // Files drop their own databases; this sweeps up after a file that crashed.
  const client = await MongoClient.connect(services.mongoUrl, { serverSelectionTimeoutMS: 5000 }).catch(
    () => undefined,
  );
  if (client) {
    const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
    for (const db of databases.filter((d) => d.name.startsWith(`t${runId}_`))) await client.db(db.name).dropDatabase();
    await client.close();
  }
  await services.stop();
}
