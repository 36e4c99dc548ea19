/**
 * Writes audit records off the reply path: records are buffered and inserted in batches
 * (insertMany, unordered), so the callback never waits on MongoDB and a slow or down database
 * never puts a reply at risk. Duplicates (retries) are expected and ignored; other failures are
 * logged and counted. A crash loses at most one flush interval of audit records.
 */
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { InboundAuditModel, type InboundAudit } from './model.js';

export interface AuditWriter {
  record(doc: InboundAudit): void;
  /** Writes everything buffered so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface AuditWriterOptions {
  logger: Logger;
  metrics: Metrics;
  flushEveryMs?: number;
  batchSize?: number;
  /** Records beyond this are dropped (and counted) while MongoDB is unavailable. */
  maxBuffered?: number;
}

interface WriteErrorLike {
  code?: number;
  err?: { code?: number };
}
interface BulkWriteErrorLike {
  writeErrors?: WriteErrorLike[] | WriteErrorLike;
  code?: number;
}

function onlyDuplicates(err: unknown): boolean {
  const e = err as BulkWriteErrorLike;
  if (e.code === 11000) return true;
  const list: WriteErrorLike[] = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
  return list.length > 0 && list.every((w) => (w.code ?? w.err?.code) === 11000);
}

export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  const flushEveryMs = options.flushEveryMs ?? 100;
  const batchSize = options.batchSize ?? 200;
  const maxBuffered = options.maxBuffered ?? 50_000;
  const failures = options.metrics.counter('wechat_callback_audit_failures_total', 'Audit records not stored', [
    'reason',
  ]);
  let buffer: InboundAudit[] = [];
  let writing: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  async function writeBatch(batch: InboundAudit[]): Promise<void> {
    try {
      // The driver's insertMany: the records are already typed, mongoose's casting would only cost CPU.
      await InboundAuditModel.collection.insertMany(batch, { ordered: false });
    } catch (err) {
      if (onlyDuplicates(err)) return;
      failures.inc({ reason: 'write' }, batch.length);
      options.logger.error({ err, records: batch.length }, 'audit write failed');
    }
  }

  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const all = buffer;
    buffer = [];
    // Serialised: one batch at a time keeps FerretDB's connection pool free for the rest.
    writing = writing.then(async () => {
      for (let i = 0; i < all.length; i += batchSize) await writeBatch(all.slice(i, i + batchSize));
    });
    return writing;
  }

  return {
    record(doc) {
      if (buffer.length >= maxBuffered) {
        failures.inc({ reason: 'overflow' });
        return;
      }
      buffer.push(doc);
      if (buffer.length >= batchSize) void flush();
      else if (!timer) {
        timer = setTimeout(() => void flush(), flushEveryMs);
        timer.unref();
      }
    },
    flush,
    close: flush,
  };
}
