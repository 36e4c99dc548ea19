/**
 * Process entry: PROCESS_ROLE=web serves HTTP, worker runs Agenda jobs (and serves only the operations
 * endpoints), all does both. SIGTERM/SIGINT stop cleanly: stop accepting, finish in-flight requests,
 * let running jobs finish (or unlock them), close connections, exit 0 within SHUTDOWN_TIMEOUT_MS.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type Koa from 'koa';
import type { DestinationStream } from 'pino';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type AppConfig } from './infra/config.js';
import { createInfra, ensureIndexes } from './infra/runtime.js';
import { defineJobs, scheduleJobs, startDrains } from './jobs.js';
import { createServices, type AppDeps } from './services.js';

export interface StartOptions {
  logDestination?: DestinationStream;
  /** Lets a caller (tests, the demo) add middleware or routes to the web app before it listens. */
  extendApp?: (app: Koa, deps: AppDeps) => void;
}

export interface RunningService {
  deps: AppDeps;
  server?: Server;
  port?: number;
  /** Stops the process's work cleanly; resolves true when everything finished within the time limit. */
  stop(reason: string): Promise<boolean>;
}

export async function startService(config: AppConfig, options: StartOptions = {}): Promise<RunningService> {
  const infra = await createInfra(config, { logDestination: options.logDestination });
  const { logger } = infra;
  const deps = await createServices(infra);
  await ensureIndexes();
  await deps.staff.accounts.seedFirstAdmin(config.auth.adminUsername, config.auth.adminPassword);

  const runsWeb = config.role === 'web' || config.role === 'all';
  const runsWorker = config.role === 'worker' || config.role === 'all';
  let shuttingDown = false;
  let stopDrains: (() => Promise<void>) | undefined;

  const built = buildApp(deps, {
    isShuttingDown: () => shuttingDown,
    webRoutes: runsWeb,
    readiness: runsWorker
      ? [
          {
            name: 'agenda',
            check: async () => {
              if (!infra.agenda.isActiveJobProcessor()) throw new Error('job processor not running');
            },
          },
        ]
      : [],
  });
  options.extendApp?.(built.app, deps);
  const server = createServer(built.app.callback());
  server.keepAliveTimeout = 65_000; // longer than typical load-balancer idle timeouts
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    if (runsWorker) {
      defineJobs(deps);
      await infra.agenda.start();
      await scheduleJobs(deps);
      stopDrains = startDrains(deps);
      logger.info({ processEveryMs: config.agenda.processEveryMs }, 'worker started');
    }
  } catch (err) {
    server.close();
    await infra.agenda.stop().catch(() => undefined);
    await infra.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, host: config.host, role: config.role, mongo: infra.mongo.flavor }, 'listening');

  let stopping: Promise<boolean> | undefined;
  async function stop(reason: string): Promise<boolean> {
    stopping ??= (async () => {
      shuttingDown = true;
      const deadline = Date.now() + config.shutdownTimeoutMs;
      const remaining = () => Math.max(0, deadline - Date.now());
      logger.info({ reason, inFlight: built.inFlight.count }, 'shutting down');
      let clean = true;

      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const drained = await Promise.race([
        built.inFlight.drained().then(() => true),
        sleep(remaining()).then(() => false),
      ]);
      if (!drained) {
        clean = false;
        logger.warn({ inFlight: built.inFlight.count }, 'requests still running at the shutdown deadline');
      }
      server.closeAllConnections();
      await closed;

      if (runsWorker) {
        const result = await infra.agenda.drain({ timeout: remaining() }).catch((err: unknown) => {
          logger.warn({ err }, 'agenda drain failed');
          return undefined;
        });
        if (!result || result.timedOut) clean = false;
        // stop() unlocks whatever is still locked so another worker picks it up at once.
        await infra.agenda.stop().catch((err: unknown) => logger.warn({ err }, 'agenda stop failed'));
        await stopDrains?.();
      }
      // Inbound messages are audited in batches off the reply path: write the last batch before leaving.
      await deps.gatewayAudit.flush().catch((err: unknown) => logger.warn({ err }, 'gateway audit flush failed'));
      await infra.close();
      logger.info({ clean }, 'stopped');
      return clean;
    })();
    return stopping;
  }

  return { deps, server, port, stop };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Wires SIGTERM/SIGINT to a clean stop and exits 0 when it finished in time. */
export function exitOnSignals(service: RunningService, onStopped?: () => Promise<void>): void {
  let received = false;
  const handler = (signal: NodeJS.Signals) => {
    if (received) return;
    received = true;
    void service
      .stop(signal)
      .then(async (clean) => {
        await onStopped?.();
        process.exit(clean ? 0 : 1);
      })
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** Loads configuration or prints one line per bad setting and exits 1. */
export function loadConfigOrExit(): AppConfig {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`config error: ${problem}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const service = await startService(config);
  exitOnSignals(service);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
