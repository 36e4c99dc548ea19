/**
 * The process's infrastructure, built from configuration: logger, metrics, MongoDB, Redis, Agenda.
 * Domains receive it (or the parts they need) as plain dependencies.
 */
import type { DestinationStream } from 'pino';
import type { Agenda } from 'agenda';
import type { AppConfig } from './config.js';
import { createAgenda } from './agenda.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { connectMongo, disconnectMongo, ensureIndexes, type MongoInfo } from './mongo.js';
import { createRedis, type Redis } from './redis.js';

export interface Infra {
  config: AppConfig;
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  agenda: Agenda;
  mongo: MongoInfo;
}

export interface InfraOptions {
  logDestination?: DestinationStream;
  /** Name of this process in Agenda's lock records and logs. */
  name?: string;
}

export async function createInfra(
  config: AppConfig,
  options: InfraOptions = {},
): Promise<Infra & { close(): Promise<void> }> {
  const logger = createLogger({ level: config.logLevel, destination: options.logDestination });
  const metrics = createMetrics();
  const mongo = await connectMongo(config.mongo, logger);
  const redis = createRedis(config.redis);
  redis.on('error', (err: Error) => logger.warn({ err: { message: err.message } }, 'redis error'));
  const agenda = createAgenda({ ...config.agenda, name: options.name ?? `${config.role}-${process.pid}` }, logger);
  await agenda.ready;
  return {
    config,
    logger,
    metrics,
    redis,
    agenda,
    mongo,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
      await disconnectMongo();
    },
  };
}

export { ensureIndexes };
