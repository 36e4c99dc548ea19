/**
 * A push worker in its own process (the push bench measures it; the crash test SIGKILLs it): builds the
 * real services from the settings in PUSH_WORKER_SETTINGS (JSON) and runs one plan run. Prints "ready"
 * when it starts sending and the run's summary with its seconds when done.
 *   node --import tsx bench/lib/push-worker.ts <planId> <runId>
 */
import { loadConfig, type RawSettings } from '../../src/infra/config.js';
import { createInfra } from '../../src/infra/runtime.js';
import { runPlan } from '../../src/push/delivery.js';
import { createServices } from '../../src/services.js';

const settings = JSON.parse(process.env.PUSH_WORKER_SETTINGS ?? '{}') as RawSettings;
const concurrency = process.env.PUSH_WORKER_CONCURRENCY ? Number(process.env.PUSH_WORKER_CONCURRENCY) : undefined;
const [planId, runId] = process.argv.slice(2);
if (!planId || !runId) throw new Error('usage: push-worker <planId> <runId>');
const infra = await createInfra(loadConfig(settings), { logDestination: { write: () => undefined } });
const deps = await createServices(infra);
process.stdout.write('ready\n');
// PUSH_WORKER_MEMORY=1: where the worker's memory is, every 5 s (heap, off-heap buffers, RSS), on stderr.
if (process.env.PUSH_WORKER_MEMORY)
  setInterval(() => {
    const m = process.memoryUsage();
    const mb = (n: number) => Math.round(n / 1048576);
    process.stderr.write(
      `[push worker memory] rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} MB\n`,
    );
  }, 5000).unref();
const started = performance.now();
const summary = await runPlan({ ...deps.push.delivery, ...(concurrency ? { concurrency } : {}) }, planId, runId);
process.stdout.write(`${JSON.stringify({ ...summary, seconds: (performance.now() - started) / 1000 })}\n`);
await infra.agenda.stop().catch(() => undefined);
await infra.close();
process.exit(0); // open handles (the WeChat clients' keep-alive agents) would keep a finished worker alive
