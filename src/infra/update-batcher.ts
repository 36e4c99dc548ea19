/**
 * Group commit for hot `$set`-by-id updates (a send marked sent with its msgid): updates arriving while the
 * previous write is out travel together as one unordered bulkWrite, and each caller learns its own update's
 * fate. One command is in flight per batcher, and a command carries at most `maxBatch` (≤ 20) statements:
 * FerretDB holds a PostgreSQL connection per statement until the command ends and hangs past its pool
 * (docs: ferretdb), so a bounded, serialized stream of small bulks is what it takes without stalling, where
 * one updateOne per send would queue every sender behind the driver's ten connections.
 *
 * The values go to the driver as they are (no mongoose casting): callers pass ids and plain values of the
 * right types, built by our own code.
 */
import type { Collection } from 'mongoose';

export interface UpdateBatcher {
  /** Sets `fields` on the document matching `filter` (an `_id` and, optionally, its expected state). */
  update(filter: Record<string, unknown>, fields: Record<string, unknown>): Promise<void>;
}

interface Pending {
  filter: Record<string, unknown>;
  fields: Record<string, unknown>;
  resolve(): void;
  reject(err: unknown): void;
}

export function createUpdateBatcher(
  collection: Pick<Collection, 'bulkWrite'>,
  options: { maxBatch?: number } = {},
): UpdateBatcher {
  const maxBatch = Math.min(20, Math.max(1, options.maxBatch ?? 10));
  const queue: Pending[] = [];
  let writing = false;

  async function pump(): Promise<void> {
    if (writing) return;
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, maxBatch);
        try {
          await collection.bulkWrite(
            batch.map((p) => ({ updateOne: { filter: p.filter, update: { $set: p.fields } } })),
            { ordered: false },
          );
          for (const p of batch) p.resolve();
        } catch {
          // Per-statement results of a failed bulk cannot be trusted: FerretDB 1.24 stops an unordered update
          // bulk at its first failing statement and reports it at index 0 with nothing modified. Each update of
          // the batch is applied again on its own (a `$set` by id is idempotent), so every caller hears the
          // truth about its own.
          for (const p of batch) {
            try {
              await collection.bulkWrite([{ updateOne: { filter: p.filter, update: { $set: p.fields } } }]);
              p.resolve();
            } catch (err) {
              p.reject(err);
            }
          }
        }
      }
    } finally {
      writing = false;
    }
  }

  return {
    update(filter, fields) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ filter, fields, resolve, reject });
        void pump();
      });
    },
  };
}
