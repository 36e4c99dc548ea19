/**
 * The reach ledger's MongoDB history: every keyed event is stored once under its key, a retried write adds
 * nothing, and a database written by an earlier version (the key in its own uniquely indexed field) is migrated
 * before the first write instead of refusing every new event.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createReachHistory, ReachEvent, type ReachEventDoc } from '../../src/reach/index.js';
import { useTestApp } from '../support/app.js';

const app = useTestApp();

const event = (key: string, at = new Date()): ReachEventDoc => ({
  key,
  type: 'open',
  account: 'default',
  openid: `oHist${randomUUID().slice(0, 8)}`,
  window: 'message',
  reason: 'message',
  at,
});

describe('reach history', () => {
  it('drops the legacy key index, then stores each event once under its key', async () => {
    // What an earlier version left: a unique index on `key` and a document keeping its key in that field.
    await ReachEvent.collection.createIndex({ key: 1 }, { unique: true, name: 'key_1' });
    await ReachEvent.collection.insertOne({ _id: 'legacy-doc', key: 'open:legacy', type: 'open' } as never);

    const history = createReachHistory(app().deps.logger, { intervalMs: 10 });
    const first = event(`open:${randomUUID()}`);
    const second = event(`open:${randomUUID()}`);
    history.add(first);
    history.add(second);
    history.add({ ...first, reason: 'retried' }); // the same key again: nothing new
    await history.flush();
    history.add({ ...second, reason: 'retried later' });
    await history.close();

    const names = (await ReachEvent.collection.listIndexes().toArray()).map((ix) => String(ix.name));
    expect(names).not.toContain('key_1');
    const stored = await ReachEvent.find({ _id: { $in: [first.key, second.key] } })
      .lean()
      .then((docs) => docs.sort((a, b) => a._id.localeCompare(b._id)));
    expect(stored.map((d) => [d._id, d.reason, 'key' in d])).toEqual(
      [first, second].sort((a, b) => a.key.localeCompare(b.key)).map((e) => [e.key, 'message', false]),
    );
    expect(await ReachEvent.countDocuments({ openid: { $in: [first.openid, second.openid] } })).toBe(2);
  });

  it('writes a batch in one go and keeps undefined fields out of the documents', async () => {
    const history = createReachHistory(app().deps.logger, { intervalMs: 10_000, batch: 50 });
    const events = Array.from({ length: 120 }, () => event(`open:${randomUUID()}`));
    for (const e of events) history.add(e);
    await history.flush();
    const stored = await ReachEvent.find({ _id: { $in: events.map((e) => e.key) } }).lean();
    expect(stored).toHaveLength(120);
    expect(stored.every((d) => !('until' in d) && !('profileId' in d))).toBe(true);
  });
});
