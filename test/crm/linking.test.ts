import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { Identity, LinkReview } from '../../src/crm/identities/model.js';
import { Profile } from '../../src/crm/profiles/model.js';
import { useTestApp } from '../support/app.js';
import { followerEvent, mobile, openid, rid, unionid } from './support.js';

describe('crm: one profile per person', () => {
  const t = useTestApp();

  it('a follower of two accounts with one unionid is one profile', async () => {
    const { crm } = t().deps;
    const u = unionid();
    const a = await crm.followers.record(followerEvent({ account: 'fund', openid: openid(), unionid: u }));
    const b = await crm.followers.record(followerEvent({ account: 'news', openid: openid(), unionid: u }));
    expect(b.profileId).toBe(a.profileId);
    const view = await crm.profiles.view({ profileId: Types.ObjectId.createFromHexString(a.profileId) });
    expect(view.identities.map((i) => i.kind).sort()).toEqual(['openid', 'openid', 'unionid']);
    expect(view.followers).toHaveLength(2);
  });

  it('an identity whose profile was never written (a crash in between) gets its profile on the next event', async () => {
    const { crm } = t().deps;
    const o = openid();
    const orphan = new Types.ObjectId();
    // What a process killed between the identity's insert and the profile's leaves behind.
    await Identity.create({ kind: 'openid', key: `fund:${o}`, profileId: orphan, verified: false, source: 't' });
    expect(await crm.identities.find(crm.identities.of.openid('fund', o))).toEqual(orphan);
    expect(await Profile.exists({ _id: orphan })).toBeNull();
    const again = await crm.followers.record(followerEvent({ account: 'fund', openid: o }));
    expect(again.profileId).toBe(orphan.toHexString());
    const view = await crm.profiles.view({ profileId: orphan });
    expect(view.identities.map((i) => i.kind)).toEqual(['openid']);
  });

  it('a follower first seen without unionid is merged when enrichment reveals it', async () => {
    const { crm } = t().deps;
    const u = unionid();
    const oNews = openid();
    const first = await crm.followers.record(followerEvent({ account: 'fund', openid: openid(), unionid: u }));
    const lone = await crm.followers.record(followerEvent({ account: 'news', openid: oNews }));
    expect(lone.profileId).not.toBe(first.profileId);
    const linked = await crm.identities.resolve({
      identities: [crm.identities.of.openid('news', oNews), crm.identities.of.unionid(u)],
      source: 'wechat:news',
      seed: { stage: 'follower' },
    });
    expect(linked.profileId.toHexString()).toBe(first.profileId);
    expect((await Profile.findById(lone.profileId).lean())?.mergedInto?.toHexString()).toBe(first.profileId);
  });

  it('a WeCom contact with the same unionid joins the profile', async () => {
    const { crm } = t().deps;
    const u = unionid();
    const follower = await crm.followers.record(followerEvent({ account: 'fund', openid: openid(), unionid: u }));
    const contact = await crm.wecom.recordContact({
      eventId: rid(),
      corp: 'default',
      externalUserId: `wm${rid()}`,
      unionid: u,
      kind: 'add_external_contact',
      staffUserId: 'zhangsan',
      at: new Date(),
    });
    expect(contact.profileId).toBe(follower.profileId);
  });

  it('concurrent linking of the same unionid from two accounts produces one profile', async () => {
    const { crm } = t().deps;
    for (let round = 0; round < 3; round += 1) {
      const u = unionid();
      const events = Array.from({ length: 8 }, (_, i) =>
        followerEvent({ account: i % 2 === 0 ? 'fund' : 'news', openid: openid(), unionid: u }),
      );
      const results = await Promise.all(events.map((e) => crm.followers.record(e)));
      const owner = await Identity.findOne({ kind: 'unionid', key: u }).lean();
      const canonical = new Set(
        await Promise.all(
          events.map(async (e) =>
            (await crm.identities.find(crm.identities.of.openid(e.account, e.openid)))!.toHexString(),
          ),
        ),
      );
      expect(canonical.size).toBe(1);
      // Every openid resolves to the unionid's profile, and only one unmerged profile holds them.
      const ids = await Identity.find({ key: { $in: events.map((e) => `${e.account}:${e.openid}`) } }).lean();
      expect(ids).toHaveLength(8);
      const owners = new Set(ids.map((i) => String(i.profileId)));
      expect(owners).toEqual(new Set([String(owner!.profileId)]));
      const live = await Profile.countDocuments({
        _id: { $in: results.map((r) => r.profileId) },
        mergedInto: { $exists: false },
      });
      expect(live).toBe(1);
    }
  });

  it('a phone conflict goes to review instead of merging', async () => {
    const { crm } = t().deps;
    const phone = mobile();
    const a = await crm.followers.record(followerEvent({ account: 'fund', openid: openid(), unionid: unionid() }));
    const b = await crm.followers.record(followerEvent({ account: 'fund', openid: openid(), unionid: unionid() }));
    const oid = Types.ObjectId;
    await crm.profiles.update({
      profileId: oid.createFromHexString(a.profileId),
      patch: { phone: { number: phone, verified: true } },
      by: 'staff1',
    });
    await crm.profiles.update({
      profileId: oid.createFromHexString(b.profileId),
      patch: { phone: { number: phone, verified: true } },
      by: 'staff1',
    });
    const [pa, pb] = await Promise.all([Profile.findById(a.profileId).lean(), Profile.findById(b.profileId).lean()]);
    expect(pa?.mergedInto).toBeUndefined();
    expect(pb?.mergedInto).toBeUndefined();
    const reviews = await LinkReview.find({ profileIds: oid.createFromHexString(b.profileId) }).lean();
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({ identityKind: 'phone', status: 'open' });
    expect(reviews[0]!.identityLabel).toBe(`${phone.slice(0, 3)}****${phone.slice(-4)}`);
    expect(reviews[0]!.reason).toMatch(/different unionids/);
    // Staff decide: merge, then undo it.
    const listed = await crm.identities.reviews({});
    const review = listed.find((r) => r.id === String(reviews[0]!._id))!;
    await crm.identities.resolveReview({ reviewId: reviews[0]!._id, decision: 'merge', by: 'staff1' });
    const merged = await Profile.findById(b.profileId).lean();
    expect(merged?.mergedInto?.toHexString()).toBe(a.profileId);
    expect(review.status).toBe('open');
  });

  it('a verified phone links a lead to a follower, and an unmerge restores both', async () => {
    const { crm } = t().deps;
    const oid = Types.ObjectId;
    const phone = mobile();
    const lead = await crm.identities.resolve({
      identities: [crm.identities.phone(phone, true)],
      source: 'ingest:shop',
      seed: { stage: 'lead' },
    });
    const o = openid();
    const follower = await crm.followers.record(followerEvent({ account: 'fund', openid: o, unionid: unionid() }));
    const linked = await crm.identities.resolve({
      identities: [crm.identities.of.openid('fund', o), crm.identities.phone(phone, true)],
      source: 'wechat:fund',
      seed: { stage: 'follower' },
    });
    // The older profile (the lead) survives.
    expect(linked.profileId.toHexString()).toBe(lead.profileId.toHexString());
    const view = await crm.profiles.view({ profileId: lead.profileId });
    expect(view.merges).toHaveLength(1);
    await crm.identities.unmerge({ mergeId: oid.createFromHexString(view.merges[0]!.id), by: 'staff1' });
    expect((await Profile.findById(follower.profileId).lean())?.mergedInto).toBeUndefined();
    expect((await crm.identities.find(crm.identities.of.openid('fund', o)))?.toHexString()).toBe(follower.profileId);
    expect((await crm.identities.find(crm.identities.phone(phone, true)))?.toHexString()).toBe(
      lead.profileId.toHexString(),
    );
    // After staff undid it, the same link is queued for review rather than merged again.
    await crm.identities.resolve({
      identities: [crm.identities.of.openid('fund', o), crm.identities.phone(phone, true)],
      source: 'wechat:fund',
      seed: { stage: 'follower' },
    });
    expect((await Profile.findById(follower.profileId).lean())?.mergedInto).toBeUndefined();
    expect(await LinkReview.countDocuments({ profileIds: lead.profileId, reason: /unmerged/ })).toBe(1);
  });

  it('an unverified phone never merges two profiles', async () => {
    const { crm } = t().deps;
    const phone = mobile();
    const a = await crm.identities.resolve({
      identities: [crm.identities.phone(phone, false)],
      source: 'import:x',
      seed: { stage: 'lead' },
    });
    const b = await crm.identities.resolve({
      identities: [crm.identities.of.customerNo(`C${rid(4)}`), crm.identities.phone(phone, false)],
      source: 'ingest:erp',
      seed: { stage: 'lead' },
    });
    expect(b.profileId.equals(a.profileId)).toBe(false);
    expect(await LinkReview.countDocuments({ profileIds: a.profileId })).toBe(1);
  });
});
