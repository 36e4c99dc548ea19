import type { Types } from 'mongoose';
import mongoose, { Schema } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { findPage, PageQuery, sortParam, type SortSpec } from '../../src/staff/index.js';
import { useTestApp } from '../support/app.js';

interface Row {
  _id: Types.ObjectId;
  name: string;
  score: number;
  at: Date;
}
const RowModel = mongoose.model<Row>(
  'PaginationDemoRow',
  new Schema<Row>({ name: String, score: Number, at: Date }, { collection: 'pagination_demo' }),
);

describe('cursor pagination', () => {
  useTestApp();
  const Query = z.object({ ...PageQuery, sort: sortParam(['score', 'at', 'name'], '-at') }).strict();

  async function readAll(sort: SortSpec, limit: number): Promise<string[]> {
    const names: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 20; pages += 1) {
      const page = await findPage(RowModel, {
        filter: {},
        limit,
        cursor,
        sort,
        present: (d) => String(d.name),
      });
      names.push(...page.items);
      if (!page.nextCursor) return names;
      cursor = page.nextCursor;
    }
    throw new Error('too many pages');
  }

  it('walks every row once in (field, _id) order, ties included, in both directions', async () => {
    const base = Date.UTC(2026, 0, 1);
    await RowModel.insertMany(
      [3, 1, 2, 2, 2, 5, 1].map((score, i) => ({ name: `r${i}`, score, at: new Date(base + (i % 3) * 1000) })),
    );
    const expected = async (field: 'score' | 'at', direction: 1 | -1) =>
      (
        await RowModel.find()
          .sort({ [field]: direction, _id: direction })
          .lean()
      ).map((r) => r.name);
    for (const field of ['score', 'at'] as const)
      for (const direction of [1, -1] as const)
        for (const limit of [1, 2, 3, 50])
          expect(await readAll({ field, direction }, limit), `${field} ${direction} ${limit}`).toEqual(
            await expected(field, direction),
          );
    const byId = await readAll({ field: '_id', direction: -1 }, 2);
    expect(byId).toEqual(['r6', 'r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
  });

  it('parses limit, cursor and a whitelisted sort from the query string', () => {
    expect(Query.parse({})).toEqual({ limit: 50, sort: { field: 'at', direction: -1 } });
    expect(Query.parse({ limit: '10', sort: 'score' })).toMatchObject({
      limit: 10,
      sort: { field: 'score', direction: 1 },
    });
    expect(Query.safeParse({ sort: 'password' }).success).toBe(false);
    expect(Query.safeParse({ limit: '201' }).success).toBe(false);
    expect(Query.safeParse({ limit: '0' }).success).toBe(false);
  });

  it('refuses a cursor from another sort or a forged one', async () => {
    const page = await findPage(RowModel, {
      filter: {},
      limit: 1,
      sort: { field: 'score', direction: 1 },
      present: String,
    });
    await expect(
      findPage(RowModel, {
        filter: {},
        limit: 1,
        cursor: page.nextCursor!,
        sort: { field: 'at', direction: 1 },
        present: String,
      }),
    ).rejects.toMatchObject({ code: 'invalid_cursor' });
    const forged = Buffer.from(JSON.stringify(['score', { $gt: 0 }, null])).toString('base64url');
    await expect(
      findPage(RowModel, {
        filter: {},
        limit: 1,
        cursor: forged,
        sort: { field: 'score', direction: 1 },
        present: String,
      }),
    ).rejects.toMatchObject({ code: 'invalid_cursor' });
  });
});
