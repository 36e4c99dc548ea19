/**
 * Finds or starts the services the project needs, for the dev launcher, the tests and the demo:
 *   Redis:   REDIS_URL, else 127.0.0.1:6379 when it answers, else a redis-server started on a free port.
 *   MongoDB: MONGO_URL, else a mongod on PATH, else FerretDB v1.24.2 (built once from its Go module and
 *            cached) on the local PostgreSQL or, without one, on SQLite, else mongodb-memory-server.
 * When nothing can be had, one message says what to install.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureFerretdbBinary, FERRETDB_VERSION } from './ferretdb.js';
import { tunePostgresForFerretdb } from './ferretdb-postgres.js';
import { canConnect, commandExists, findFreePort, waitFor } from './net.js';

export interface ProvisionOptions {
  /** Where data folders and logs of started services go (git-ignored). */
  workDir: string;
  /** MONGO_URL / REDIS_URL from the environment, when set. */
  mongoUrl?: string;
  redisUrl?: string;
  /** PostgreSQL database FerretDB keeps its data in. */
  ferretdbDatabase?: string;
  /** Where the FerretDB build is cached (see ferretdb.ts). */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface Provisioned {
  mongoUrl: string;
  redisUrl: string;
  /** What was found or started, for the start-up banner. */
  mongoSource: string;
  redisSource: string;
  stop(): Promise<void>;
}

export class ProvisionError extends Error {}

interface Started {
  url: string;
  source: string;
  process?: ChildProcess;
  cleanup?: () => Promise<void>;
}

export async function provisionServices(options: ProvisionOptions): Promise<Provisioned> {
  const log = options.log ?? (() => undefined);
  mkdirSync(options.workDir, { recursive: true });
  const started: Started[] = [];
  try {
    const redis = await provisionRedis(options, log);
    started.push(redis);
    const mongo = await provisionMongo(options, log);
    started.push(mongo);
    return {
      mongoUrl: mongo.url,
      redisUrl: redis.url,
      mongoSource: mongo.source,
      redisSource: redis.source,
      stop: () => stopAll(started),
    };
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

async function stopAll(started: Started[]): Promise<void> {
  for (const s of started.reverse()) {
    if (s.process && s.process.exitCode === null) {
      const exited = new Promise<void>((resolve) => s.process?.once('exit', () => resolve()));
      s.process.kill('SIGTERM');
      const timer = setTimeout(() => s.process?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await s.cleanup?.();
  }
}

/** Kills started children if the owning process exits without calling stop(). */
function killOnExit(child: ChildProcess): void {
  const kill = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  child.once('exit', () => process.removeListener('exit', kill));
}

async function provisionRedis(options: ProvisionOptions, log: (l: string) => void): Promise<Started> {
  if (options.redisUrl) return { url: options.redisUrl, source: 'REDIS_URL' };
  if (await canConnect('127.0.0.1', 6379)) return { url: 'redis://127.0.0.1:6379', source: 'redis at 127.0.0.1:6379' };
  if (!commandExists('redis-server'))
    throw new ProvisionError(
      'No Redis: set REDIS_URL, run Redis on 127.0.0.1:6379, or install redis-server (apt-get install redis-server).',
    );
  const port = await findFreePort();
  const dir = mkdtempSync(join(options.workDir, 'redis-'));
  log(`starting redis-server on 127.0.0.1:${port}`);
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    {
      stdio: 'ignore',
    },
  );
  killOnExit(child);
  await waitFor(() => canConnect('127.0.0.1', port), 10_000, 'redis-server did not start');
  return {
    url: `redis://127.0.0.1:${port}`,
    source: `redis-server started on port ${port}`,
    process: child,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function provisionMongo(options: ProvisionOptions, log: (l: string) => void): Promise<Started> {
  if (options.mongoUrl) return { url: options.mongoUrl, source: 'MONGO_URL' };
  if (commandExists('mongod')) return startMongod(options, log);

  const binary = await ensureFerretdbBinary({ log, cacheDir: options.cacheDir }).catch((err: unknown) => {
    log(`FerretDB unavailable: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  });
  if (binary) return startFerretdb(binary, options, log);

  const memory = await startMemoryServer(log);
  if (memory) return memory;
  throw new ProvisionError(
    'No MongoDB-compatible storage: set MONGO_URL, put mongod on PATH, or install Go (to build FerretDB ' +
      `${FERRETDB_VERSION}) with PostgreSQL on 127.0.0.1:5432 for best speed.`,
  );
}

async function startMongod(options: ProvisionOptions, log: (l: string) => void): Promise<Started> {
  const port = await findFreePort();
  const dir = mkdtempSync(join(options.workDir, 'mongod-'));
  log(`starting mongod on 127.0.0.1:${port}`);
  const child = spawn('mongod', ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dir, '--quiet'], {
    stdio: 'ignore',
  });
  killOnExit(child);
  await waitFor(() => canConnect('127.0.0.1', port), 30_000, 'mongod did not start');
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    source: `mongod started on port ${port}`,
    process: child,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Creates the PostgreSQL database FerretDB uses, if PostgreSQL answers locally; false when it does not. */
function preparePostgres(database: string, log: (l: string) => void): boolean {
  if (!commandExists('psql')) return false;
  const base = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-tAc'];
  const exists = spawnSync('psql', [...base, `select 1 from pg_database where datname='${database}'`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (exists.status !== 0) return false;
  if (exists.stdout.trim() !== '1') {
    const created = spawnSync('psql', [...base, `create database "${database}"`], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    // A concurrent run may have created it a moment ago: that is fine too.
    if (created.status !== 0 && !/already exists/.test(created.stderr)) {
      log(`could not create PostgreSQL database ${database}: ${created.stderr.trim()}`);
      return false;
    }
  }
  const untuned = tunePostgresForFerretdb(database);
  if (untuned) log(`FerretDB lookups will scan whole tables (PostgreSQL not tuned: ${untuned})`);
  return true;
}

async function startFerretdb(binary: string, options: ProvisionOptions, log: (l: string) => void): Promise<Started> {
  const port = await findFreePort();
  const dir = mkdtempSync(join(options.workDir, 'ferretdb-'));
  const database = options.ferretdbDatabase ?? 'scrm_ferretdb';
  const onPostgres = (await canConnect('127.0.0.1', 5432)) && preparePostgres(database, log);
  const handlerArgs = onPostgres
    ? ['--handler=postgresql', `--postgresql-url=postgres://postgres@127.0.0.1:5432/${database}?pool_max_conns=40`]
    : ['--handler=sqlite', `--sqlite-url=file:${dir}/`];
  log(`starting FerretDB ${FERRETDB_VERSION} on 127.0.0.1:${port} (${onPostgres ? 'PostgreSQL' : 'SQLite'} backend)`);
  const logFd = openSync(join(dir, 'ferretdb.log'), 'a');
  const child = spawn(
    binary,
    [
      ...handlerArgs,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=127.0.0.1:0',
      `--state-dir=${dir}`,
      '--telemetry=disable',
      '--log-level=warn',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  killOnExit(child);
  await waitFor(
    () => canConnect('127.0.0.1', port),
    30_000,
    `FerretDB did not start (log: ${join(dir, 'ferretdb.log')})`,
  );
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    source: `FerretDB ${FERRETDB_VERSION} on port ${port} (${onPostgres ? 'PostgreSQL' : 'SQLite'})`,
    process: child,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

interface MemoryServerModule {
  MongoMemoryServer: { create(): Promise<{ getUri(): string; stop(): Promise<boolean> }> };
}

async function startMemoryServer(log: (l: string) => void): Promise<Started | undefined> {
  const name = 'mongodb-memory-server-core';
  let mod: MemoryServerModule;
  try {
    mod = (await import(name)) as MemoryServerModule;
  } catch {
    return undefined;
  }
  log('starting mongodb-memory-server (downloads mongod when it is not cached)');
  try {
    const server = await mod.MongoMemoryServer.create();
    return { url: server.getUri(), source: 'mongodb-memory-server', cleanup: async () => void (await server.stop()) };
  } catch (err) {
    log(`mongodb-memory-server failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}
