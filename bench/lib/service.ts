/**
 * Starts the real service for a benchmark: storage and Redis found or started by the project's own
 * provisioning, the server in its own process pinned to one core (the load generator gets the other),
 * stopped by its process group at the end. Load only ever targets 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { defaultCacheDir } from '../../src/infra/provision/ferretdb.js';
import { provisionServices, type Provisioned } from '../../src/infra/provision/index.js';
import { findFreePort, waitFor } from '../../src/infra/provision/net.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface BenchService {
  url: string;
  port: number;
  pid: number;
  env: Record<string, string>;
  services: Provisioned;
  stop(): Promise<void>;
}

export interface BenchServiceOptions {
  /** Entry to run (default: the service itself). */
  entry?: string;
  env?: Record<string, string>;
  /** CPU to pin the server to (default 1; the load generator takes 0). */
  cpu?: number;
  /** Leave the database in place at stop (a second process on another's data). */
  keepData?: boolean;
}

/** Storage and Redis for benchmarks: found or started by the project's own provisioning. */
export function provisionBenchServices(): Promise<Provisioned> {
  return provisionServices({
    workDir: join(ROOT, '.cache', 'bench'),
    mongoUrl: process.env.MONGO_URL,
    redisUrl: process.env.REDIS_URL,
    ferretdbDatabase: 'scrm_ferretdb_bench',
    cacheDir: defaultCacheDir(),
    log: (l) => process.stderr.write(`[bench] ${l}\n`),
  });
}

export function canPin(): boolean {
  return spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status === 0;
}

export async function startBenchService(options: BenchServiceOptions = {}): Promise<BenchService> {
  const services = await provisionBenchServices();
  const port = await findFreePort();
  const tag = randomBytes(3).toString('hex');
  const env: Record<string, string> = {
    APP_ENV: 'development',
    LOG_LEVEL: 'warn',
    SANDBOX: 'false',
    PORT: String(port),
    HOST: '127.0.0.1',
    MONGO_URL: services.mongoUrl,
    MONGO_DATABASE: `bench_${tag}`,
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: `bench:${tag}:`,
    ...options.env,
  };
  const entry = options.entry ?? 'src/main.ts';
  // BENCH_NODE_ARGS passes flags to the service's node (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
  const args = [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', entry];
  const pinned = canPin();
  const child: ChildProcess = spawn(
    pinned ? 'taskset' : process.execPath,
    pinned ? ['-c', String(options.cpu ?? 1), process.execPath, ...args] : args,
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      try {
        return (await fetch(`${url}/readyz`)).ok;
      } catch {
        return false;
      }
    },
    60_000,
    'the service did not become ready',
  );
  return {
    url,
    port,
    pid: child.pid ?? 0,
    env,
    services,
    async stop() {
      if (child.pid && child.exitCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        process.kill(-child.pid, 'SIGTERM');
        const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      if (!options.keepData) {
        const client = await MongoClient.connect(services.mongoUrl);
        await client.db(env.MONGO_DATABASE).dropDatabase();
        await client.close();
      }
      await services.stop();
    },
  };
}

/** Resident set size of a process in MB (from /proc). */
export function rssMb(pid: number): number {
  const r = spawnSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' });
  return Math.round(Number(r.stdout.trim()) / 1024);
}
