/**
 * Follower events travel from the callback path to the CRM through a Redis list: the web process does one
 * RPUSH per message (no database work on the callback path), and worker processes drain the list in
 * batches, recording each event idempotently (the CRM dedups on the gateway's key). An event whose
 * recording fails is re-queued a few times, then parked in a dead-letter list with its error for staff.
 */
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import type { Redis } from '../infra/redis.js';
import type { FollowerEventInput } from './index.js';

const QUEUE = 'crm:inbound';
const DEAD = 'crm:inbound:dead';
const MAX_ATTEMPTS = 5;

interface Queued {
  event: Omit<FollowerEventInput, 'at'> & { at: string };
  attempts: number;
}

export interface InboundQueue {
  enqueue(event: FollowerEventInput): Promise<void>;
  /** Records up to `max` queued events; returns how many it took. */
  drain(max?: number): Promise<number>;
  /** Drains continuously (worker processes) until stop(). */
  start(intervalMs?: number): void;
  stop(): Promise<void>;
  depth(): Promise<number>;
}

export function createInboundQueue(deps: {
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  record(event: FollowerEventInput): Promise<unknown>;
  concurrency?: number;
}): InboundQueue {
  const recorded = deps.metrics.counter('crm_inbound_events_total', 'Follower events recorded from the queue', [
    'outcome',
  ]);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;

  async function drain(max = 500): Promise<number> {
    const raw = (await deps.redis.lpop(QUEUE, max)) ?? [];
    if (raw.length === 0) return 0;
    const items = raw.map((r) => JSON.parse(r) as Queued);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          await deps.record({ ...item.event, at: new Date(item.event.at) });
          recorded.inc({ outcome: 'ok' });
        } catch (err) {
          const attempts = item.attempts + 1;
          const message = err instanceof Error ? err.message : String(err);
          if (attempts >= MAX_ATTEMPTS) {
            recorded.inc({ outcome: 'dead' });
            deps.logger.error({ eventId: item.event.eventId, err: { message } }, 'follower event parked after retries');
            await deps.redis.rpush(DEAD, JSON.stringify({ ...item, attempts, error: message.slice(0, 300) }));
          } else {
            recorded.inc({ outcome: 'retry' });
            await deps.redis.rpush(QUEUE, JSON.stringify({ ...item, attempts }));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 4, items.length) }, worker));
    return items.length;
  }

  return {
    async enqueue(event) {
      const item: Queued = { event: { ...event, at: event.at.toISOString() }, attempts: 0 };
      await deps.redis.rpush(QUEUE, JSON.stringify(item));
    },
    drain,
    start(intervalMs = 200) {
      stopped = false;
      const tick = () => {
        if (stopped) return;
        running = drain()
          .catch((err: unknown) => {
            deps.logger.warn({ err: { message: String(err) } }, 'follower event drain failed');
            return 0;
          })
          .finally(() => {
            // Keep going at once while there is a backlog; otherwise wait a little.
            if (!stopped) timer = setTimeout(tick, intervalMs);
          });
      };
      tick();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
    depth: () => deps.redis.llen(QUEUE),
  };
}
