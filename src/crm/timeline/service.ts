/**
 * The customer timeline: idempotent appends (unique dedupKey) and newest-first pages by cursor.
 */
import { randomUUID } from 'node:crypto';
import type { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import type { CrmDeps } from '../deps.js';
import { profileFamily, idsFilter } from '../profiles/family.js';
import { TimelineEvent, type TimelineEventDoc } from './model.js';

export interface TimelineInput {
  profileId: Types.ObjectId;
  type: string;
  at: Date;
  source: string;
  payload?: Record<string, unknown>;
  /** The event's idempotency key; a second append with it is reported as a duplicate. */
  dedupKey?: string;
}

export interface AppendResult {
  event: TimelineEventDoc;
  duplicate: boolean;
}

/** Appends an event once per dedupKey; a repeat returns the first one. */
export async function appendTimeline(_deps: CrmDeps, input: TimelineInput): Promise<AppendResult> {
  const dedupKey = input.dedupKey ?? `auto:${randomUUID()}`;
  try {
    const created = await TimelineEvent.create({ ...input, payload: input.payload ?? {}, dedupKey });
    return { event: created.toObject(), duplicate: false };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const first = await TimelineEvent.findOne({ dedupKey }).lean();
    if (!first) throw err;
    return { event: first, duplicate: true };
  }
}

/** Whether an event with this key was already recorded (a cheap check before heavier work). */
export async function timelineHas(dedupKey: string): Promise<TimelineEventDoc | undefined> {
  return (await TimelineEvent.findOne({ dedupKey }).lean()) ?? undefined;
}

export interface TimelinePage {
  events: PresentedTimelineEvent[];
  nextCursor?: string;
}

export interface PresentedTimelineEvent {
  id: string;
  profileId: string;
  type: string;
  at: string;
  source: string;
  payload: Record<string, unknown>;
}

function encodeCursor(e: Pick<TimelineEventDoc, 'at' | '_id'>): string {
  return Buffer.from(`${e.at.getTime()}:${e._id.toHexString()}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const m = /^(\d{1,15}):([0-9a-f]{24})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new DomainError('invalid', 'invalid_cursor', 'The cursor is not one this API gave out.');
  return { at: new Date(Number(m[1])), id: m[2]! };
}

/** A profile's events (including profiles merged into it), newest first. */
export async function listTimeline(
  _deps: CrmDeps,
  input: { profileId: Types.ObjectId; cursor?: string; limit?: number; types?: string[] },
): Promise<TimelinePage> {
  const limit = Math.min(Math.max(input.limit ?? 50, 1), 200);
  const family = await profileFamily(input.profileId);
  const filter: Record<string, unknown> = { profileId: idsFilter(family) };
  if (input.types?.length) filter.type = { $in: input.types };
  if (input.cursor) {
    const c = decodeCursor(input.cursor);
    filter.$or = [{ at: { $lt: c.at } }, { at: c.at, _id: { $lt: c.id } }];
  }
  const rows = await TimelineEvent.find(filter)
    .sort({ at: -1, _id: -1 })
    .limit(limit + 1)
    .lean();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    events: page.map((e) => ({
      id: e._id.toHexString(),
      profileId: e.profileId.toHexString(),
      type: e.type,
      at: e.at.toISOString(),
      source: e.source,
      payload: e.payload,
    })),
    nextCursor: rows.length > limit && last ? encodeCursor(last) : undefined,
  };
}
