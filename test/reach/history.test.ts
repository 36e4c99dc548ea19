/**
 * The reach ledger's MongoDB history: events are written in pages (one document per flush), each key is read
 * once however often it was written, and events stored one document each by earlier versions are still read.
 */
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createReachHistory, readReachHistory, type ReachEventDoc } from '../../src/reach/index.js';
import { useTestApp } from '../support/app.js';

const app = useTestApp();

const event = (account: string, key: string, at = new Date()): ReachEventDoc => ({
  key,
  type: 'open',
  account,
  openid: `oHist${randomUUID().slice(0, 8)}`,
  window: 'message',
  reason: 'message',
  at,
});

async function read(filter: Parameters<typeof readReachHistory>[0]): Promise<ReachEventDoc[]> {
  const out: ReachEventDoc[] = [];
  for await (const e of readReachHistory(filter)) out.push(e);
  return out;
}

const pagesOf = (account: string) =>
  mongoose.connection.collection('reach_history_pages').find({ accounts: account }).toArray();

describe('reach history', () => {
  it('stores a flush as one page and reads each key once, the first write winning', async () => {
    const account = `acct${randomUUID().slice(0, 8)}`;
    const history = createReachHistory(app().deps.logger, { intervalMs: 10 });
    const first = event(account, `open:${randomUUID()}`);
    const second = event(account, `open:${randomUUID()}`);
    history.add(first);
    history.add(second);
    history.add({ ...first, reason: 'retried' }); // the same key again before the flush: stored once
    await history.flush();
    history.add({ ...second, reason: 'retried later' }); // again after: a later page, ignored on read
    await history.close();

    const pages = await pagesOf(account);
    expect(pages.map((p) => p.count as number).sort()).toEqual([1, 2]);
    const events = await read({ account });
    expect(events.map((e) => [e.key, e.reason]).sort()).toEqual(
      [
        [first.key, 'message'],
        [second.key, 'message'],
      ].sort(),
    );
    expect(await read({ account, openid: second.openid })).toHaveLength(1);
  });

  it('splits a full buffer into pages and keeps undefined fields out of the events', async () => {
    const account = `acct${randomUUID().slice(0, 8)}`;
    const history = createReachHistory(app().deps.logger, { intervalMs: 10_000, batch: 50 });
    const base = Date.parse('2026-12-01T00:00:00Z');
    const events = Array.from({ length: 120 }, (_, i) => ({
      ...event(account, `open:${randomUUID()}`, new Date(base + i * 60_000)),
      profileId: undefined,
    }));
    for (const e of events) history.add(e);
    await history.flush();

    const pages = await pagesOf(account);
    expect(pages.map((p) => p.count as number).sort((a, b) => a - b)).toEqual([20, 50, 50]);
    for (const p of pages) {
      const stored = JSON.parse(p.events as string) as Record<string, unknown>[];
      expect(stored).toHaveLength(p.count as number);
      const times = stored.map((e) => Date.parse(e.at as string));
      expect([(p.from as Date).getTime(), (p.to as Date).getTime()]).toEqual([Math.min(...times), Math.max(...times)]);
      expect(stored.every((e) => !('profileId' in e) && !('until' in e))).toBe(true);
    }
    // A time range selects the pages overlapping it and the events inside it.
    const window = await read({ account, from: new Date(base + 30 * 60_000), to: new Date(base + 59 * 60_000) });
    expect(window.map((e) => e.key).sort()).toEqual(
      events
        .slice(30, 60)
        .map((e) => e.key)
        .sort(),
    );
  });

  it('reads events stored one document each by an earlier version, and their keys once', async () => {
    const account = `acct${randomUUID().slice(0, 8)}`;
    const old = event(account, `open:${randomUUID()}`, new Date('2026-11-30T12:00:00Z'));
    const { key, ...rest } = old;
    await mongoose.connection
      .collection<{ _id: string }>('reach_events')
      .insertOne({ _id: key, ...rest, reason: 'stored before pages' } as { _id: string });
    const history = createReachHistory(app().deps.logger, { intervalMs: 10 });
    history.add({ ...old, reason: 'retried after the upgrade' });
    const fresh = event(account, `open:${randomUUID()}`);
    history.add(fresh);
    await history.close();

    const events = await read({ account });
    expect(events.map((e) => [e.key, e.reason])).toEqual([
      [old.key, 'stored before pages'],
      [fresh.key, 'message'],
    ]);
  });
});
