/**
 * Cursor pagination for admin lists: `?limit=50&cursor=<opaque>` in, `{ items, nextCursor }` out.
 * Lists are ordered by one whitelisted field plus `_id` as the tie-breaker, so a page never repeats or
 * skips rows when new ones arrive. Sorting is `?sort=field` (ascending) or `?sort=-field` (descending).
 */
import type { Model } from 'mongoose';
import { Types } from 'mongoose';
import { z } from 'zod';
import { DomainError } from '../../infra/errors.js';

export const MAX_PAGE_SIZE = 200;

/** Spread into a route's query schema: `query: z.object({ ...PageQuery, status: ... }).strict()`. */
export const PageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  cursor: z.string().max(512).optional(),
};

export interface SortSpec {
  field: string;
  direction: 1 | -1;
}

/** A `sort` query parameter restricted to the given fields: `sortParam(['createdAt','username'], '-createdAt')`. */
export function sortParam<F extends string>(fields: readonly [F, ...F[]], fallback: `${F}` | `-${F}`) {
  const allowed = fields.flatMap((f) => [f, `-${f}`]);
  return z
    .string()
    .refine((s) => allowed.includes(s), { message: `one of ${allowed.join(', ')}` })
    .default(fallback)
    .transform((s): SortSpec => (s.startsWith('-') ? { field: s.slice(1), direction: -1 } : { field: s, direction: 1 }))
    .meta({ description: `one of ${allowed.join(', ')}` });
}

/** The response envelope of every list. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

type CursorValue = string | number | boolean | null | { d: string } | { o: string };

function encodeValue(v: unknown): CursorValue {
  if (v instanceof Date) return { d: v.toISOString() };
  if (v instanceof Types.ObjectId) return { o: v.toHexString() };
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  return null;
}

function decodeValue(v: unknown): unknown {
  if (v && typeof v === 'object' && 'd' in v && typeof v.d === 'string') return new Date(v.d);
  if (v && typeof v === 'object' && 'o' in v && typeof v.o === 'string' && /^[0-9a-f]{24}$/.test(v.o))
    return new Types.ObjectId(v.o);
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  throw badCursor();
}

function badCursor(): DomainError {
  return new DomainError('invalid', 'invalid_cursor', 'The cursor is not one this list handed out.');
}

/** The filter that starts a page after the cursor (empty for the first page). */
export function afterCursor(cursor: string | undefined, sort: SortSpec): Record<string, unknown> {
  if (!cursor) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== sort.field) throw badCursor();
  const value = decodeValue(parsed[1]);
  const id = decodeValue(parsed[2]);
  const op = sort.direction === 1 ? '$gt' : '$lt';
  if (sort.field === '_id') return { _id: { [op]: id } };
  return { $or: [{ [sort.field]: { [op]: value } }, { [sort.field]: value, _id: { [op]: id } }] };
}

function cursorAfter(doc: Record<string, unknown>, sort: SortSpec): string {
  const triple = [sort.field, encodeValue(doc[sort.field]), encodeValue(doc._id)];
  return Buffer.from(JSON.stringify(triple), 'utf8').toString('base64url');
}

export interface FindPageOptions<R> {
  filter: Record<string, unknown>;
  limit: number;
  cursor?: string;
  sort?: SortSpec;
  /** Shapes each stored document for the response (dates to ISO strings, ids to hex...). */
  present: (doc: Record<string, unknown>) => R;
  /** Fields to read; keep the sort field in it. */
  projection?: Record<string, 0 | 1>;
}

/** Reads one page of `model` in (sort field, _id) order; `filter` should already include the data scope. */
export async function findPage<T, R>(model: Model<T>, options: FindPageOptions<R>): Promise<Page<R>> {
  const sort = options.sort ?? { field: '_id', direction: -1 };
  const after = afterCursor(options.cursor, sort);
  const filter = Object.keys(after).length === 0 ? options.filter : { $and: [options.filter, after] };
  const order: Record<string, 1 | -1> =
    sort.field === '_id' ? { _id: sort.direction } : { [sort.field]: sort.direction, _id: sort.direction };
  const docs = (await model
    // The filter is built from validated input and the data scope; mongoose's typed filter adds nothing here.
    .find(filter as never, options.projection as never)
    .sort(order)
    .limit(options.limit + 1)
    .lean()) as Record<string, unknown>[];
  const more = docs.length > options.limit;
  const pageDocs = more ? docs.slice(0, options.limit) : docs;
  const last = pageDocs[pageDocs.length - 1];
  return { items: pageDocs.map(options.present), nextCursor: more && last ? cursorAfter(last, sort) : null };
}
