import { randomUUID } from 'node:crypto';
import mongoose, { Schema } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createInsertBatcher } from '../../src/infra/insert-batcher.js';
import { ensureIndexes } from '../../src/infra/mongo.js';
import { useTestApp } from '../support/app.js';

interface Stamp {
  key: string;
  fen: number;
}
const StampSchema = new Schema<Stamp>(
  { key: { type: String, required: true }, fen: { type: Number, required: true, min: 0 } },
  { timestamps: true },
);
StampSchema.index({ key: 1 }, { unique: true });
const StampModel = mongoose.model<Stamp>('BatcherStamp', StampSchema);

describe('insert batcher', () => {
  useTestApp();

  it('tells each caller its own fate when a batch holds duplicates of one key', async () => {
    await ensureIndexes();
    const batcher = createInsertBatcher(StampModel, { maxBatch: 20, maxWaitMs: 5 });
    const key = randomUUID();
    const others = Array.from({ length: 10 }, () => randomUUID());
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => batcher.insert({ key, fen: 1 })),
      ...others.map((k) => batcher.insert({ key: k, fen: 2 })),
    ]);
    expect(results.slice(0, 10).filter((r) => r === 'inserted')).toHaveLength(1);
    expect(results.slice(0, 10).filter((r) => r === 'duplicate')).toHaveLength(9);
    expect(results.slice(10)).toEqual(others.map(() => 'inserted'));
    expect(await StampModel.countDocuments({ key })).toBe(1);
    expect(await StampModel.countDocuments({ key: { $in: others } })).toBe(10);
    const stored = await StampModel.findOne({ key: others[0] }).lean<Stamp & { createdAt?: Date }>();
    expect(stored?.createdAt).toBeInstanceOf(Date);
  });

  it('finds duplicates across batches, and refuses an invalid document before it is sent', async () => {
    const batcher = createInsertBatcher(StampModel, { maxBatch: 3, maxWaitMs: 1 });
    const key = randomUUID();
    expect(await batcher.insert({ key, fen: 5 })).toBe('inserted');
    const again = await Promise.all(Array.from({ length: 7 }, () => batcher.insert({ key, fen: 5 })));
    expect(again.every((r) => r === 'duplicate')).toBe(true);
    await expect(batcher.insert({ key: randomUUID(), fen: -1 })).rejects.toMatchObject({ name: 'ValidationError' });
    expect(await StampModel.countDocuments({ key })).toBe(1);
  });
});
