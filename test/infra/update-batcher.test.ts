import { randomUUID } from 'node:crypto';
import mongoose, { Schema, Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createUpdateBatcher } from '../../src/infra/update-batcher.js';
import { useTestApp } from '../support/app.js';

interface Row {
  run: string;
  n: number;
  state: string;
  msgId?: string;
}
const RowSchema = new Schema<Row>({
  run: { type: String, required: true },
  n: { type: Number, required: true },
  state: { type: String, required: true },
  msgId: String,
});
const RowModel = mongoose.model<Row>('BatcherRow', RowSchema);

describe('update batcher', () => {
  useTestApp();

  it('applies many concurrent updates in small bulks, one in flight, each caller told its own fate', async () => {
    const run = randomUUID();
    const ids = Array.from({ length: 120 }, () => new Types.ObjectId());
    await RowModel.collection.insertMany(ids.map((_id, n) => ({ _id, run, n, state: 'reserved' })));
    let commands = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let largest = 0;
    const counted: Parameters<typeof createUpdateBatcher>[0] = {
      bulkWrite: (async (ops: unknown[], options: object) => {
        commands += 1;
        largest = Math.max(largest, ops.length);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await RowModel.collection.bulkWrite(ops as never, options);
        } finally {
          inFlight -= 1;
        }
      }) as never,
    };
    const batcher = createUpdateBatcher(counted, { maxBatch: 10 });
    const results = await Promise.allSettled(
      ids.map((_id, n) =>
        batcher.update(
          { _id, state: 'reserved' },
          // One statement is refused (an _id is immutable): only its caller hears of it, and the rest of its
          // bulk still lands (FerretDB stops a bulk at its first failing statement).
          n === 7 ? { state: 'sent', _id: new Types.ObjectId() } : { state: 'sent', msgId: `m-${run}-${n}` },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(maxInFlight).toBe(1);
    expect(largest).toBeLessThanOrEqual(10);
    expect(commands).toBeGreaterThanOrEqual(12);
    expect(commands).toBeLessThan(120);
    expect(await RowModel.countDocuments({ run, state: 'sent' })).toBe(119);
    // A filter that no longer matches (the state moved on) changes nothing and is not an error.
    await batcher.update({ _id: ids[0], state: 'reserved' }, { state: 'skipped' });
    expect((await RowModel.findById(ids[0]).lean())?.state).toBe('sent');
  });
});
