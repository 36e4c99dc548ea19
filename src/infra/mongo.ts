/**
 * The MongoDB connection (mongoose's default connection: models are declared once, next to their domain).
 * Works on MongoDB 7 and on FerretDB 1.24; on FerretDB the pool stays ≤ 10 because its PostgreSQL
 * backend deadlocks when too many connections hold updates (docs: ferretdb).
 */
import mongoose from 'mongoose';
import type { Logger } from './logger.js';

mongoose.set('strictQuery', true);
// Indexes are built explicitly by ensureIndexes() so start-up and tests can wait for them.
mongoose.set('autoIndex', false);

export interface MongoInfo {
  flavor: 'mongodb' | 'ferretdb';
  version: string;
}

export interface MongoOptions {
  url: string;
  poolSize: number;
  database?: string;
  /** The driver reports every command, tallied by name and collection and printed at exit (benches). */
  commandStats?: boolean;
}

// Several in-process users (tests building two apps, the demo) share mongoose's one default connection.
let users = 0;
let connectedTo: string | undefined;

export async function connectMongo(options: MongoOptions, logger: Logger): Promise<MongoInfo> {
  const target = `${options.url}#${options.database ?? ''}`;
  if (users > 0) {
    if (connectedTo !== target) throw new Error('mongo is already connected to another database in this process');
    users += 1;
    return mongoInfo();
  }
  users += 1;
  connectedTo = target;
  await mongoose.connect(options.url, {
    maxPoolSize: options.poolSize,
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000,
    socketTimeoutMS: 60_000,
    heartbeatFrequencyMS: 2000,
    ...(options.database ? { dbName: options.database } : {}),
    ...(options.commandStats ? { monitorCommands: true } : {}),
  });
  if (options.commandStats) tallyCommands();
  const info = await mongoInfo();
  logger.info({ mongo: info, db: mongoose.connection.name }, 'mongo connected');
  return info;
}

export async function mongoInfo(): Promise<MongoInfo> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const build = (await db.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
  return build.ferretdbVersion
    ? { flavor: 'ferretdb', version: build.ferretdbVersion }
    : { flavor: 'mongodb', version: build.version ?? 'unknown' };
}

/** Builds every registered model's indexes (unique indexes carry our correctness guarantees). */
export async function ensureIndexes(): Promise<void> {
  for (const name of mongoose.modelNames()) {
    await mongoose.model(name).createIndexes();
  }
}

/** Pings the server, failing after `timeoutMs` instead of waiting for server selection. */
export async function pingMongo(timeoutMs = 1000): Promise<void> {
  const db = mongoose.connection.db;
  if (!db || mongoose.connection.readyState !== mongoose.ConnectionStates.connected) throw new Error('not connected');
  await withTimeout(db.admin().command({ ping: 1 }), timeoutMs, 'mongo ping timed out');
}

export async function disconnectMongo(): Promise<void> {
  users = Math.max(0, users - 1);
  if (users > 0) return;
  connectedTo = undefined;
  await mongoose.disconnect();
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Drops an index an earlier version declared and this one no longer wants (MongoDB never drops an index on
 * its own when a schema stops declaring it). A missing collection or index is nothing to do.
 */
export async function dropIndexIfPresent(collection: mongoose.mongo.Collection, name: string): Promise<boolean> {
  let names: string[];
  try {
    names = (await collection.listIndexes().toArray()).map((ix) => String((ix as { name?: unknown }).name));
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === 26) return false; // no collection
    throw err;
  }
  if (!names.includes(name)) return false;
  await collection.dropIndex(name);
  return true;
}

/** Counts commands by name and collection with their total time; printed to stderr when the process exits. */
function tallyCommands(): void {
  const tally = new Map<string, { n: number; ms: number }>();
  const started = new Map<number, { key: string; at: number }>();
  const client = mongoose.connection.getClient();
  client.on('commandStarted', (e) => {
    const target = (e.command as Record<string, unknown>)[e.commandName];
    started.set(e.requestId, {
      key: `${e.commandName} ${typeof target === 'string' ? target : ''}`,
      at: performance.now(),
    });
  });
  const done = (e: { requestId: number }) => {
    const s = started.get(e.requestId);
    if (!s) return;
    started.delete(e.requestId);
    const t = tally.get(s.key) ?? { n: 0, ms: 0 };
    t.n += 1;
    t.ms += performance.now() - s.at;
    tally.set(s.key, t);
  };
  client.on('commandSucceeded', done);
  client.on('commandFailed', done);
  const print = () => {
    const rows = [...tally].sort((a, b) => b[1].n - a[1].n);
    process.stderr.write(
      `[mongo commands] ${rows.map(([k, v]) => `${k}: ${v.n} (${(v.ms / v.n).toFixed(1)} ms)`).join('; ')}\n`,
    );
  };
  process.on('exit', print);
  process.on('SIGUSR2', print);
}
