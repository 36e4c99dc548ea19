import { randomUUID } from 'node:crypto';
import mongoose, { Schema } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { isDuplicateKey } from '../../src/infra/errors.js';
import { ensureIndexes } from '../../src/infra/mongo.js';
import { useTestApp } from '../support/app.js';

interface Widget {
  key: string;
  fen: number;
}
const WidgetSchema = new Schema<Widget>({
  key: { type: String, required: true },
  fen: { type: Number, required: true },
});
// findOne({ key }) below; uniqueness is what the test is about.
WidgetSchema.index({ key: 1 }, { unique: true });
const WidgetModel = mongoose.model<Widget>('FoundationWidget', WidgetSchema);

describe('storage', () => {
  const t = useTestApp();

  it('writes and reads a document through mongoose', async () => {
    const key = randomUUID();
    await WidgetModel.create({ key, fen: 1234 });
    const found = await WidgetModel.findOne({ key }).lean();
    expect(found).toMatchObject({ key, fen: 1234 });
    expect(t().deps.mongo.flavor).toMatch(/ferretdb|mongodb/);
  });

  it('rejects a duplicate with a unique index, even under concurrent inserts', async () => {
    await ensureIndexes();
    const key = randomUUID();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => WidgetModel.create({ key, fen: 1 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(reasons.every(isDuplicateKey)).toBe(true);
    expect(await WidgetModel.countDocuments({ key })).toBe(1);
  });

  it('keeps Redis keys under the file prefix', async () => {
    const { redis, config } = t().deps;
    await redis.set('probe', 'x');
    // SCAN walks the whole keyspace a page at a time (MATCH filters each page): follow the cursor to its end.
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.redis.prefix}probe`, 'COUNT', 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    expect(found).toEqual([`${config.redis.prefix}probe`]);
  });
});
