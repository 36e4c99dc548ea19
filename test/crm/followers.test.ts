import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import type { FollowerInfo, FollowerInfoSource } from '../../src/crm/index.js';
import { createCrm } from '../../src/crm/index.js';
import { Follower } from '../../src/crm/followers/model.js';
import { Profile } from '../../src/crm/profiles/model.js';
import { useTestApp } from '../support/app.js';
import { followerEvent, openid, unionid } from './support.js';

describe('crm: follower lifecycle', () => {
  const t = useTestApp({ CRM_ENRICH_BATCH_SIZE: '3', CRM_ENRICH_BATCHES_PER_RUN: '2' });

  it('keeps the unsubscribe/resubscribe history with scenes, and the current state', async () => {
    const { crm } = t().deps;
    const o = openid();
    const t0 = Date.now() - 3 * 86_400_000;
    await crm.followers.record(
      followerEvent({
        account: 'fund',
        openid: o,
        kind: 'subscribe',
        scene: 'ADD_SCENE_QR_CODE',
        qrScene: 'poster-1',
        at: new Date(t0),
      }),
    );
    await crm.followers.record(
      followerEvent({ account: 'fund', openid: o, kind: 'unsubscribe', at: new Date(t0 + 3_600_000) }),
    );
    const again = await crm.followers.record(
      followerEvent({
        account: 'fund',
        openid: o,
        kind: 'subscribe',
        scene: 'ADD_SCENE_SEARCH',
        at: new Date(t0 + 7_200_000),
      }),
    );
    expect(again.resubscribe).toBe(true);
    const history = await crm.followers.history('fund', o);
    expect(history.map((h) => [h.kind, h.resubscribe, h.scene ?? null, h.qrScene ?? null])).toEqual([
      ['subscribe', false, 'ADD_SCENE_QR_CODE', 'poster-1'],
      ['unsubscribe', false, null, null],
      ['subscribe', true, 'ADD_SCENE_SEARCH', null],
    ]);
    const state = await crm.followers.state('fund', o);
    expect(state).toMatchObject({
      subscribed: true,
      subscribeScene: 'ADD_SCENE_SEARCH',
      firstSubscribedAt: new Date(t0).toISOString(),
      lastUnsubscribedAt: new Date(t0 + 3_600_000).toISOString(),
    });
    const timeline = await crm.timeline.list({ profileId: Types.ObjectId.createFromHexString(again.profileId) });
    expect(timeline.events.map((e) => e.type)).toEqual(['wechat.subscribe', 'wechat.unsubscribe', 'wechat.subscribe']);
  });

  it('a late, older unsubscribe does not override a newer subscribe', async () => {
    const { crm } = t().deps;
    const o = openid();
    const now = Date.now();
    await crm.followers.record(followerEvent({ account: 'fund', openid: o, kind: 'subscribe', at: new Date(now) }));
    await crm.followers.record(
      followerEvent({ account: 'fund', openid: o, kind: 'unsubscribe', at: new Date(now - 60_000) }),
    );
    expect((await crm.followers.state('fund', o))?.subscribed).toBe(true);
  });

  it('a lost update of the follower row (FerretDB, concurrent writers) is read through and repaired', async () => {
    const { crm } = t().deps;
    const o = openid();
    const now = Date.now();
    await crm.followers.record(followerEvent({ account: 'fund', openid: o, kind: 'subscribe', at: new Date(now) }));
    await crm.followers.record(
      followerEvent({ account: 'fund', openid: o, kind: 'unsubscribe', at: new Date(now + 60_000) }),
    );
    // What a racing whole-document rewrite leaves behind: the row says subscribed, the history does not.
    await Follower.updateOne({ account: 'fund', openid: o }, { $set: { subscribed: true, stateAt: new Date(now) } });
    expect((await crm.followers.state('fund', o))?.subscribed).toBe(false);

    // The row is repaired by the next subscription event, or by reconcile (after any write of the row).
    await crm.followers.record(
      followerEvent({ account: 'fund', openid: o, kind: 'subscribe', at: new Date(now + 120_000) }),
    );
    await crm.followers.record(
      followerEvent({ account: 'fund', openid: o, kind: 'unsubscribe', at: new Date(now + 180_000) }),
    );
    await Follower.updateOne({ account: 'fund', openid: o }, { $set: { subscribed: true } });
    await crm.followers.reconcile('fund', o);
    const row = await Follower.findOne({ account: 'fund', openid: o }).lean();
    expect(row).toMatchObject({ subscribed: false, stateAt: new Date(now + 180_000) });
    expect(row?.lastSubscribedAt).toEqual(new Date(now + 120_000));
  });

  it('a retried event has one side effect', async () => {
    const { crm } = t().deps;
    const o = openid();
    const event = followerEvent({ account: 'fund', openid: o, kind: 'subscribe' });
    const results = await Promise.all([
      crm.followers.record(event),
      crm.followers.record(event),
      crm.followers.record(event),
    ]);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await crm.followers.history('fund', o)).toHaveLength(1);
  });

  it('an interaction opens the 48-hour window and a location is kept', async () => {
    const { crm } = t().deps;
    const o = openid();
    await crm.followers.record(
      followerEvent({ account: 'fund', openid: o, kind: 'subscribe', at: new Date(Date.now() - 72 * 3_600_000) }),
    );
    expect((await crm.followers.state('fund', o))?.customerServiceWindowOpen).toBe(false);
    await crm.followers.record(
      followerEvent({
        account: 'fund',
        openid: o,
        kind: 'location',
        location: { latitude: 31.23, longitude: 121.47, precision: 30 },
      }),
    );
    const state = await crm.followers.state('fund', o);
    expect(state?.customerServiceWindowOpen).toBe(true);
    const doc = await Follower.findOne({ account: 'fund', openid: o }).lean();
    expect(doc?.location).toMatchObject({ latitude: 31.23, longitude: 121.47 });
  });

  it('enrichment fetches user info in bounded batches off the callback path and links unionids', async () => {
    const base = t().deps;
    const calls: string[][] = [];
    const u = unionid();
    await base.redis.del('crm:enrich:accounts'); // earlier tests' followers are not this test's business
    // A message (not a subscribe) does not queue the follower for enrichment.
    const known = await base.crm.followers.record(
      followerEvent({ account: 'news', openid: openid(), unionid: u, kind: 'message' }),
    );
    const source: FollowerInfoSource = {
      async batchGet(account, openids) {
        calls.push(openids);
        return openids.map((o, i): FollowerInfo => ({
          openid: o,
          subscribed: true,
          ...(i === 0 ? { unionid: u } : {}),
          subscribeScene: 'ADD_SCENE_PROFILE_CARD',
        }));
      },
    };
    const crm = createCrm({ config: base.config, logger: base.logger, redis: base.redis, followerInfo: source });
    // The callback path does not call the source.
    const fresh = Array.from({ length: 8 }, () => openid());
    for (const o of fresh) await crm.followers.record(followerEvent({ account: 'enrich', openid: o }));
    expect(calls).toHaveLength(0);
    const first = await crm.followers.enrich();
    // Two batchget calls per run, three openids each (CRM_ENRICH_BATCHES_PER_RUN, CRM_ENRICH_BATCH_SIZE).
    expect(calls.map((c) => c.length)).toEqual([3, 3]);
    expect(first.fetched).toBe(6);
    await crm.followers.enrich();
    expect(calls.flat().sort()).toEqual([...fresh].sort());
    // The openids reported with the known unionid now belong to the unionid's profile.
    const withUnion = calls.map((c) => c[0]!);
    for (const o of withUnion) {
      const f = await Follower.findOne({ account: 'enrich', openid: o }).lean();
      expect(f?.profileId.toHexString()).toBe(known.profileId);
      expect(f?.subscribeScene).toBe('ADD_SCENE_PROFILE_CARD');
    }
    expect(await Profile.countDocuments({ mergedInto: known.profileId })).toBe(withUnion.length);
  }, 90_000); // three enrichment runs against FerretDB; under a full parallel suite on 2 cores this took over 30 s

  it('a failed batch is retried by the next run', async () => {
    const base = t().deps;
    let fail = true;
    const seen: string[] = [];
    const crm = createCrm({
      config: base.config,
      logger: base.logger,
      redis: base.redis,
      followerInfo: {
        async batchGet(_account, openids) {
          if (fail) throw new Error('errcode 45009 reach max api daily quota limit');
          seen.push(...openids);
          return openids.map((o) => ({ openid: o, subscribed: true }));
        },
      },
    });
    const o = openid();
    await crm.followers.record(followerEvent({ account: 'retry', openid: o }));
    expect(await crm.followers.enrich()).toMatchObject({ fetched: 0, failed: 1 });
    fail = false;
    await crm.followers.enrich();
    expect(seen).toContain(o);
  });
});
