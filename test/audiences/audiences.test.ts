import mongoose, { Types } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluatePlan } from '../../src/audiences/evaluate.js';
import { compile, createAudience, estimate, maskName, membersOf, preview } from '../../src/audiences/service.js';
import { useTestApp } from '../support/app.js';

useTestApp();

const now = new Date();
const day = 86_400_000;
const ids = Array.from({ length: 8 }, () => new Types.ObjectId());
const [vipNew, vipOld, goldBuyer, standard, optedOut, mergedAway, survivor, bigSpender] = ids as [
  Types.ObjectId,
  Types.ObjectId,
  Types.ObjectId,
  Types.ObjectId,
  Types.ObjectId,
  Types.ObjectId,
  Types.ObjectId,
  Types.ObjectId,
];
const deps = {};
const db = () => mongoose.connection.db!;
const s = (id: Types.ObjectId) => id.toString();

beforeAll(async () => {
  // Rows shaped as the CRM writes them (crm_* collections).
  const profile = (id: Types.ObjectId, tier: string, extra: Record<string, unknown> = {}) => ({
    _id: id,
    tier,
    stage: 'follower',
    source: 'wechat:default',
    attributes: {},
    name: '张三丰',
    phone: { enc: 'x', hash: 'h', masked: '138****1234', verified: true },
    createdAt: new Date(now.getTime() - 30 * day),
    ...extra,
  });
  await db()
    .collection('crm_profiles')
    .insertMany([
      profile(vipNew, 'vip', { attributes: { aum_fen: 5_000_000 } }),
      profile(vipOld, 'vip', { attributes: { aum_fen: 100 } }),
      profile(goldBuyer, 'gold'),
      profile(standard, 'standard'),
      profile(optedOut, 'vip'),
      profile(mergedAway, 'standard', { mergedInto: survivor }),
      profile(survivor, 'gold'),
      profile(bigSpender, 'standard'),
    ]);
  await db().collection('crm_attribute_defs').insertOne({ key: 'aum_fen', type: 'number' });
  const follower = (id: Types.ObjectId, daysAgo: number, subscribed = true) => ({
    account: 'default',
    openid: `o_${s(id)}`,
    profileId: id,
    subscribed,
    firstSubscribedAt: new Date(now.getTime() - daysAgo * day),
  });
  await db()
    .collection('crm_followers')
    .insertMany([follower(vipNew, 0.2), follower(vipOld, 40), follower(goldBuyer, 10), follower(standard, 3, false)]);
  const group = new Types.ObjectId();
  const tag = new Types.ObjectId();
  await db().collection('crm_tags').insertOne({ _id: tag, groupId: group, name: 'churn-risk', wechat: [] });
  await db().collection('crm_profile_tags').insertOne({ profileId: vipOld, tagId: tag, source: 'staff', at: now });
  await db()
    .collection('crm_consents')
    .insertMany([
      { profileId: optedOut, channel: 'wechat', allowed: true, source: 'x', at: new Date(now.getTime() - 2 * day) },
      { profileId: optedOut, channel: 'all', allowed: false, source: 'keyword:TD', at: new Date(now.getTime() - day) },
      { profileId: vipNew, channel: 'wechat', allowed: false, source: 'x', at: new Date(now.getTime() - 3 * day) },
      { profileId: vipNew, channel: 'wechat', allowed: true, source: 'x', at: new Date(now.getTime() - day) },
    ]);
  const event = (id: Types.ObjectId, amountFen: number, daysAgo: number) => ({
    profileId: id,
    type: 'purchase',
    at: new Date(now.getTime() - daysAgo * day),
    source: 'ingest:shop',
    payload: { amountFen },
    dedupKey: new Types.ObjectId().toString(),
  });
  await db()
    .collection('crm_timeline')
    .insertMany([
      event(goldBuyer, 150, 1),
      event(bigSpender, 90_000, 2),
      event(bigSpender, 10_000, 3),
      event(mergedAway, 500, 1), // counts for the survivor
      event(standard, 100, 40), // outside a 7-day window
    ]);
  // Rows shaped as the WeCom group sync writes them (wecom_group_members): staff members and unjoined
  // external members do not count.
  const member = (chatId: string, memberId: string, profileId?: Types.ObjectId) => ({
    corp: 'main',
    chatId,
    memberId,
    external: memberId.startsWith('wm'),
    ...(profileId ? { profileId: s(profileId) } : {}),
    joinedAt: now,
  });
  await db()
    .collection('wecom_group_members')
    .insertMany([
      member('chatA', 'wmVipOld', vipOld),
      member('chatA', 'wmGold', goldBuyer),
      member('chatA', 'adviser-li'),
      member('chatA', 'wmUnknown'),
      member('chatB', 'wmMerged', mergedAway),
    ]);
});

const size = async (condition: unknown) => (await estimate(deps, condition)).size;

describe('audience conditions against CRM data', () => {
  it('selects by tier, follow date (T-1), tags and consent', async () => {
    expect(await size({ field: 'tier', op: 'eq', value: 'vip' })).toBe(3);
    expect(await size({ follows: 'default', since: 'T-1' })).toBe(1);
    expect(await size({ all: [{ field: 'tier', op: 'eq', value: 'vip' }, { not: { tag: 'churn-risk' } }] })).toBe(2);
    const allowed = await estimate(deps, {
      all: [
        { field: 'tier', op: 'eq', value: 'vip' },
        { consent: 'wechat', allowed: true },
      ],
    });
    expect(allowed.size).toBe(2); // the newest record decides: opted-out is out, vipNew opted back in
    expect(await size({ follows: 'default', subscribed: false })).toBe(1);
  });

  it('counts and sums events in a window, and counts a merged customer once', async () => {
    expect(await size({ event: 'purchase', from: 'T-7' })).toBe(3); // goldBuyer, bigSpender, survivor
    expect(await size({ event: 'purchase', from: 'T-7', sumFen: { op: 'gte', value: 100_000 } })).toBe(1);
    expect(await size({ event: 'purchase', from: 'T-7', count: { op: 'gte', value: 2 } })).toBe(1);
    // "no purchase in 7 days" includes everyone without one (merged-away profiles are not counted)
    expect(await size({ event: 'purchase', from: 'T-7', count: { op: 'eq', value: 0 } })).toBe(4);
    expect(await size({ attribute: 'aum_fen', op: 'gte', value: 1_000_000 })).toBe(1);
  });

  it('combines audiences with union, intersection and difference, deduplicated by profile', async () => {
    const vips = await createAudience(
      deps,
      { name: 'VIPs', kind: 'condition', condition: { field: 'tier', op: 'eq', value: 'vip' } },
      's1',
    );
    const buyers = await createAudience(
      deps,
      { name: 'Buyers', kind: 'condition', condition: { event: 'purchase' } },
      's1',
    );
    const list = await createAudience(
      deps,
      { name: 'Uploaded', kind: 'list', profileIds: [s(vipNew), s(vipNew), s(goldBuyer)] },
      's1',
    );
    const union = await createAudience(
      deps,
      { name: 'u', kind: 'combination', op: 'union', audienceIds: [vips._id.toString(), list._id.toString()] },
      's1',
    );
    const inter = await createAudience(
      deps,
      { name: 'i', kind: 'combination', op: 'intersection', audienceIds: [vips._id.toString(), list._id.toString()] },
      's1',
    );
    const diff = await createAudience(
      deps,
      { name: 'd', kind: 'combination', op: 'difference', audienceIds: [buyers._id.toString(), list._id.toString()] },
      's1',
    );
    expect(list.frozenCount).toBe(2);
    expect(await membersOf(deps, union._id.toString())).toEqual(
      new Set([s(vipNew), s(vipOld), s(optedOut), s(goldBuyer)]),
    );
    expect(await membersOf(deps, inter._id.toString())).toEqual(new Set([s(vipNew)]));
    expect(await membersOf(deps, diff._id.toString())).toEqual(new Set([s(bigSpender), s(survivor), s(standard)]));
    expect(await size({ any: [{ audience: vips._id.toString() }, { audience: list._id.toString() }] })).toBe(4);
  });

  it('freezes a snapshot while a dynamic audience follows the data', async () => {
    const condition = { field: 'tier', op: 'eq', value: 'gold' };
    const snapshot = await createAudience(deps, { name: 'gold then', kind: 'snapshot', condition }, 's1');
    const dynamic = await createAudience(deps, { name: 'gold now', kind: 'condition', condition }, 's1');
    await db()
      .collection('crm_profiles')
      .updateOne({ _id: standard }, { $set: { tier: 'gold' } });
    expect((await membersOf(deps, snapshot._id.toString())).size).toBe(2);
    expect((await membersOf(deps, dynamic._id.toString())).size).toBe(3);
    await db()
      .collection('crm_profiles')
      .updateOne({ _id: standard }, { $set: { tier: 'standard' } });
  });

  it('includes or excludes the members of a WeCom customer group', async () => {
    const select = async (condition: unknown) =>
      evaluatePlan(await compile(deps, condition), { membersOf: (id) => membersOf(deps, id) });
    const inChatA = await select({ wecomGroup: 'main', chat: 'chatA' });
    expect([...inChatA].sort()).toEqual([s(vipOld), s(goldBuyer)].sort());
    // Any group of the corp; a merged member counts as the survivor.
    expect([...(await select({ wecomGroup: 'main' }))].sort()).toEqual([s(vipOld), s(goldBuyer), s(survivor)].sort());
    expect(await size({ all: [{ field: 'tier', op: 'eq', value: 'vip' }, { not: { wecomGroup: 'main' } }] })).toBe(2);
    await expect(estimate(deps, { wecomGroup: 'main', chat: { $ne: 1 } })).rejects.toThrow(/invalid/i);
  });

  it('refuses injected operators and unknown fields with a clear error', async () => {
    await expect(estimate(deps, { $where: 'true' })).rejects.toMatchObject({ code: 'invalid_condition' });
    await expect(estimate(deps, { field: 'tier', op: 'eq', value: { $ne: null } })).rejects.toMatchObject({
      code: 'invalid_condition',
    });
    await expect(estimate(deps, { attribute: 'salary', op: 'gt', value: 1 })).rejects.toMatchObject({
      code: 'invalid_condition',
      details: { path: 'condition.attribute' },
    });
  });

  it('previews members with masked names and phones', async () => {
    const members = await preview(new Set([s(vipNew)]));
    expect(members).toEqual([{ profileId: s(vipNew), name: '张**', tier: 'vip', phone: '138****1234' }]);
    expect(maskName('Alice')).toBe('A****');
  });
});
