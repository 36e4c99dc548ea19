/**
 * Test apps on real storage: each test file gets its own MongoDB database and Redis key prefix,
 * dropped when the file ends, so files never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import mongoose from 'mongoose';
import supertest from 'supertest';
import { afterAll, beforeAll, inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig, type AppConfig, type RawSettings } from '../../src/infra/config.js';
import { createInfra, ensureIndexes } from '../../src/infra/runtime.js';
import { createRedis, deleteByPrefix } from '../../src/infra/redis.js';
import { createServices, type AppDeps, type ServiceOverrides } from '../../src/services.js';

const fileTag = randomBytes(3).toString('hex');

/** This file's database and Redis prefix. */
export function fileScope(): { database: string; redisPrefix: string } {
  const runId = inject('runId');
  return {
    database: `t${runId}_${process.env.VITEST_POOL_ID ?? '0'}_${fileTag}`,
    redisPrefix: `t:${runId}:${fileTag}:`,
  };
}

/** Settings for a test process: real services, this file's scope, overrides last. */
export function testSettings(overrides: RawSettings = {}): RawSettings {
  const scope = fileScope();
  return {
    APP_ENV: 'test',
    MONGO_URL: inject('mongoUrl'),
    REDIS_URL: inject('redisUrl'),
    MONGO_DATABASE: scope.database,
    REDIS_PREFIX: scope.redisPrefix,
    ...overrides,
  };
}

export function testConfig(overrides: RawSettings = {}): AppConfig {
  return loadConfig(testSettings(overrides));
}

export interface TestApp {
  config: AppConfig;
  deps: AppDeps;
  app: Koa;
  http: ReturnType<typeof supertest>;
  /** Every log line the app wrote, as JSON text. */
  logs: string[];
  close(): Promise<void>;
}

export async function buildTestApp(overrides: RawSettings = {}, services: ServiceOverrides = {}): Promise<TestApp> {
  const config = testConfig({ LOG_LEVEL: 'debug', ...overrides });
  const logs: string[] = [];
  const infra = await createInfra(config, { logDestination: { write: (line: string) => void logs.push(line) } });
  const deps = await createServices(infra, services);
  await ensureIndexes();
  const { app } = buildApp(deps);
  // Test apps play the worker's part for follower events, so the CRM sees what the gateway received.
  deps.crmInbound.start(50);
  return {
    config,
    deps,
    app,
    http: supertest(app.callback()),
    logs,
    close: async () => {
      await deps.crmInbound.stop();
      await infra.close();
    },
  };
}

/** Builds one app for the whole file and cleans the file's storage afterwards. */
export function useTestApp(overrides: RawSettings = {}, services: ServiceOverrides = {}): () => TestApp {
  let current: TestApp | undefined;
  beforeAll(async () => {
    current = await buildTestApp(overrides, services);
  });
  afterAll(async () => {
    await current?.close();
    await cleanFileScope();
  });
  return () => {
    if (!current) throw new Error('the test app is not built yet (use it inside tests or hooks)');
    return current;
  };
}

/** Drops this file's database and Redis keys. */
export async function cleanFileScope(): Promise<void> {
  const scope = fileScope();
  const conn = await mongoose.createConnection(inject('mongoUrl'), { dbName: scope.database }).asPromise();
  await conn.dropDatabase();
  await conn.close();
  const redis = createRedis({ url: inject('redisUrl'), prefix: '' });
  await deleteByPrefix(redis, scope.redisPrefix);
  await redis.quit();
}
