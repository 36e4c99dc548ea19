/**
 * The reach ledger's history in MongoDB: every window opened or closed, every consent, every send reserved,
 * recorded or released, and every refusal with its reason. Redis holds the hot state; this is the record a
 * report or a recount reads. Written in batches (insertMany) so the check path never waits on it.
 */
import mongoose, { Schema } from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import { dropIndexIfPresent } from '../infra/mongo.js';
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

/** As stored: the idempotency key is the document's `_id`, so the history keeps one unique index fewer. */
export type StoredReachEvent = Omit<ReachEventDoc, 'key'> & { _id: string };

const schema = new Schema<StoredReachEvent>(
  {
    _id: { type: String, required: true },
    type: { type: String, required: true },
    account: { type: String, required: true },
    openid: { type: String, required: true },
    profileId: String,
    channel: String,
    class: String,
    window: String,
    templateId: String,
    reason: { type: String, required: true },
    until: Date,
    at: { type: Date, required: true },
  },
  { versionKey: false },
);
// Idempotent history writes: `_id` is the event's key. Every index costs each insert two upkeeps on FerretDB's
// tuned PostgreSQL (its btree and the GIN beside it), and the history takes thousands of inserts a second.
// A follower's history (recount, support questions).
schema.index({ account: 1, openid: 1, at: 1 });
// The funnel's reasons over a period.
schema.index({ type: 1, reason: 1, at: 1 });

export const ReachEvent = mongoose.model<StoredReachEvent>('ReachEvent', schema, 'reach_events');

/** The driver's collection, typed by what is stored (mongoose's `collection` assumes ObjectId ids). */
const storedEvents = () => ReachEvent.collection as unknown as mongoose.mongo.Collection<StoredReachEvent>;

let migrated: Promise<void> | undefined;

/**
 * Drops the `key` unique index of earlier versions, which kept the key in its own field: documents written now
 * have no such field, and a unique index over the missing field would refuse all but the first of them. Once
 * per process; a failed attempt is tried again by the next write. (An event retried across the upgrade itself
 * may be stored twice; a recount only ever runs over one version's keys.)
 */
export function migrateReachEvents(): Promise<void> {
  migrated ??= (async () => {
    await dropIndexIfPresent(ReachEvent.collection, 'key_1');
  })();
  migrated.catch(() => {
    migrated = undefined;
  });
  return migrated;
}

export interface ReachHistory {
  add(event: ReachEventDoc): void;
  /** Writes everything buffered so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

function onlyDuplicates(err: unknown): boolean {
  if (isDuplicateKey(err)) return true;
  const writeErrors = (err as { writeErrors?: Array<{ code?: number; err?: { code?: number } }> }).writeErrors;
  return (
    Array.isArray(writeErrors) && writeErrors.length > 0 && writeErrors.every((e) => (e.code ?? e.err?.code) === 11000)
  );
}

/** A buffered writer: flushes every `intervalMs` or at `batch` events, in unordered insertMany calls. */
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
      try {
        // Straight to the driver: these documents are built by the ledger itself (typed, never user input), and
        // mongoose's casting of a 500-document batch held the event loop for milliseconds, the tail of every
        // ledger call waiting behind it. Undefined fields are left out, as mongoose would.
        await migrateReachEvents();
        await storedEvents().insertMany(
          docs.map(({ key, ...rest }) => ({ _id: key, ...rest })),
          { ordered: false, ignoreUndefined: true },
        );
      } catch (err) {
        if (!onlyDuplicates(err)) logger.error({ err, count: docs.length }, 'reach history write failed');
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
