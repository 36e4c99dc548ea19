/**
 * The reach ledger's history in MongoDB: every window opened or closed, every consent, every send reserved,
 * recorded or released, and every refusal with its reason. Redis holds the hot state; this is the record a
 * report or a recount reads (`readReachHistory`). Written in pages, one document per flushed batch, so the check
 * path never waits on it and the store spends one row on a few hundred events.
 */
import mongoose, { Schema } from 'mongoose';
import type { Logger } from '../infra/logger.js';

export type ReachEventType =
  'open' | 'close' | 'consent' | 'revoke' | 'reserve' | 'record' | 'release' | 'deny' | 'defer';

export interface ReachEventDoc {
  /** Idempotency key: a retried reserve or a redelivered inbound writes nothing new. */
  key: string;
  type: ReachEventType;
  account: string;
  openid: string;
  profileId?: string;
  channel?: string;
  class?: string;
  /** The window that opened or paid for a customer-service send (message | event | payment). */
  window?: string;
  templateId?: string;
  reason: string;
  /** For a deferral: when the send may go. */
  until?: Date;
  at: Date;
}

/**
 * As stored: one document per flushed batch (a page), its events in the order they were added. On FerretDB's
 * tuned PostgreSQL every document is a row with its btrees and the GIN beside them, and one row per event took
 * FerretDB a core and a half at ~2,800 events/s, beside the ledger's own callers on the same two cores. A page of
 * a few hundred events is one row. An event's key travels with it: a retried write may land in a later page
 * and the reader keeps the first (idempotent on read, `readReachHistory`).
 */
export interface StoredReachPage {
  _id: mongoose.Types.ObjectId;
  /** The earliest and latest event times in the page (a reader's time range selects pages by them). */
  from: Date;
  to: Date;
  /** The accounts the page's events belong to. */
  accounts: string[];
  /** How many events the page holds. */
  count: number;
  /**
   * The events, as one JSON text: `JSON.stringify` is native and fast where the driver's BSON serializer walks
   * every field in JavaScript on the ledger's event loop, and the store keeps one string instead of a tree.
   * Nobody queries inside a page: readers go through `readReachHistory`, which selects pages by time range
   * and account, then filters the events.
   */
  events: string;
}

// A mongoose model only for its index, built at start-up with every other (ensureIndexes): writes and reads go
// straight to the driver, so no page is cast field by field on the ledger's event loop.
const pageSchema = new Schema<StoredReachPage>(
  {
    from: { type: Date, required: true },
    to: { type: Date, required: true },
    accounts: [String],
    count: { type: Number, required: true },
    events: { type: String, required: true },
  },
  { versionKey: false },
);
pageSchema.index({ to: 1, from: 1 });
const ReachHistoryPage = mongoose.model<StoredReachPage>('ReachHistoryPage', pageSchema, 'reach_history_pages');
const pages = () => ReachHistoryPage.collection as unknown as mongoose.mongo.Collection<StoredReachPage>;

/** Where events were stored one document each (key as `_id`) before pages: still read, never written. */
const LEGACY_EVENTS = 'reach_events';

/** At most this many events per page (a flush of more writes several pages). */
const PAGE_EVENTS = 500;

export interface ReachHistory {
  add(event: ReachEventDoc): void;
  /** Writes everything buffered so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A buffered writer: flushes every `intervalMs` or at `batch` events, each flush one page (or a few). */
export function createReachHistory(
  logger: Logger,
  options: { intervalMs?: number; batch?: number } = {},
): ReachHistory {
  const intervalMs = options.intervalMs ?? 250;
  const batch = options.batch ?? 200;
  let buffer: ReachEventDoc[] = [];
  let writing: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const write = (docs: ReachEventDoc[]) => {
    writing = writing.then(async () => {
      // A key added twice before a flush is stored once (the first, as the reader keeps the first).
      const seen = new Set<string>();
      const unique = docs.filter((d) => !seen.has(d.key) && seen.add(d.key));
      try {
        // Straight to the driver: these documents are built by the ledger itself (typed, never user input), and
        // mongoose's casting of a large batch held the event loop for milliseconds, the tail of every ledger call
        // waiting behind it. JSON leaves undefined fields out, as mongoose would.
        const built: Omit<StoredReachPage, '_id'>[] = [];
        for (let i = 0; i < unique.length; i += PAGE_EVENTS) {
          const events = unique.slice(i, i + PAGE_EVENTS);
          let from = events[0]!.at;
          let to = events[0]!.at;
          for (const e of events) {
            if (e.at < from) from = e.at;
            if (e.at > to) to = e.at;
          }
          built.push({
            from,
            to,
            accounts: [...new Set(events.map((e) => e.account))],
            count: events.length,
            events: JSON.stringify(events),
          });
        }
        await pages().insertMany(built as StoredReachPage[], { ordered: true });
      } catch (err) {
        logger.error({ err, count: unique.length }, 'reach history write failed');
      }
    });
    return writing;
  };
  const drain = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (buffer.length === 0) return writing;
    const docs = buffer;
    buffer = [];
    return write(docs);
  };
  return {
    add(event) {
      buffer.push(event);
      if (buffer.length >= batch) void drain();
      else if (!timer) {
        timer = setTimeout(() => void drain(), intervalMs);
        timer.unref();
      }
    },
    async flush() {
      await drain();
      await writing;
    },
    async close() {
      await drain();
      await writing;
    },
  };
}

/** A page's events, their times as dates again. */
function parseEvents(text: string): ReachEventDoc[] {
  return JSON.parse(text, (key, value: unknown) =>
    (key === 'at' || key === 'until') && typeof value === 'string' ? new Date(value) : value,
  ) as ReachEventDoc[];
}

export interface ReachHistoryFilter {
  account?: string;
  openid?: string;
  /** Events at or after / at or before these times. */
  from?: Date;
  to?: Date;
}

function matches(e: ReachEventDoc, f: ReachHistoryFilter): boolean {
  return (
    (f.account === undefined || e.account === f.account) &&
    (f.openid === undefined || e.openid === f.openid) &&
    (f.from === undefined || e.at >= f.from) &&
    (f.to === undefined || e.at <= f.to)
  );
}

/**
 * The history's events matching a filter, each key once (the first stored wins: a retried write adds nothing),
 * streamed page by page: events stored by earlier versions (one document each) first, then pages in time
 * order. Within that, events come in the order they were written, not sorted by time.
 */
export async function* readReachHistory(filter: ReachHistoryFilter = {}): AsyncGenerator<ReachEventDoc> {
  const seen = new Set<string>();
  const legacy = mongoose.connection.collection<Omit<ReachEventDoc, 'key'> & { _id: string }>(LEGACY_EVENTS);
  const legacyQuery = {
    ...(filter.account !== undefined ? { account: filter.account } : {}),
    ...(filter.openid !== undefined ? { openid: filter.openid } : {}),
    ...(filter.from || filter.to
      ? { at: { ...(filter.from ? { $gte: filter.from } : {}), ...(filter.to ? { $lte: filter.to } : {}) } }
      : {}),
  };
  for await (const { _id, ...rest } of legacy.find(legacyQuery)) {
    const event = { key: _id, ...rest };
    if (seen.has(event.key) || !matches(event, filter)) continue;
    seen.add(event.key);
    yield event;
  }
  const pageQuery = {
    ...(filter.account !== undefined ? { accounts: filter.account } : {}),
    ...(filter.from ? { to: { $gte: filter.from } } : {}),
    ...(filter.to ? { from: { $lte: filter.to } } : {}),
  };
  for await (const page of pages().find(pageQuery).sort({ from: 1, _id: 1 })) {
    for (const event of parseEvents(page.events)) {
      if (seen.has(event.key) || !matches(event, filter)) continue;
      seen.add(event.key);
      yield event;
    }
  }
}
