/**
 * How a push run reads its recipients: a large run streams profiles, followers and consents once (FerretDB
 * reads a whole collection for every `$in` batch) and must give exactly what the batch lookups give — tier,
 * follower openid on the account, the newest consent decision — and honour a withdrawal made during the run.
 */
import { randomUUID } from 'node:crypto';
import mongoose, { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { recipients, recipientSource } from '../../src/push/recipients.js';
import { useTestApp } from '../support/app.js';

useTestApp();

async function seed(n: number, account: string) {
  const db = mongoose.connection.db!;
  const ids = Array.from({ length: n }, () => new Types.ObjectId());
  const t0 = Date.now() - 3_600_000;
  await db
    .collection('crm_profiles')
    .insertMany(ids.map((_id, i) => ({ _id, tier: ['standard', 'gold', 'vip'][i % 3] })));
  const followers = ids.flatMap((profileId, i) =>
    i % 7 === 0
      ? [] // not a follower of this account
      : [{ account, openid: `oRcp${i}${randomUUID().slice(0, 6)}`, profileId, subscribed: i % 11 !== 0 }],
  );
  // A follower of another account is not ours.
  followers.push({
    account: `${account}-other`,
    openid: `oOther${randomUUID()}`,
    profileId: ids[0]!,
    subscribed: true,
  });
  await db.collection('crm_followers').insertMany(followers);
  const consents = ids.flatMap((profileId, i) => {
    if (i % 5 === 0) return [{ profileId, channel: 'wechat', allowed: false, source: 't', at: new Date(t0) }];
    if (i % 5 === 1)
      return [
        { profileId, channel: 'wechat', allowed: false, source: 't', at: new Date(t0) },
        { profileId, channel: 'all', allowed: true, source: 't', at: new Date(t0 + 1000) },
      ];
    if (i % 5 === 2)
      return [
        { profileId, channel: 'all', allowed: true, source: 't', at: new Date(t0) },
        { profileId, channel: 'wechat', allowed: false, source: 't', at: new Date(t0 + 1000) },
        { profileId, channel: 'sms', allowed: true, source: 't', at: new Date(t0 + 2000) }, // another channel
      ];
    return [];
  });
  await db.collection('crm_consents').insertMany(consents);
  return ids.map(String);
}

describe('push recipients', () => {
  it('a streamed run reads the same recipients as the batch lookups', async () => {
    const account = `acct-${randomUUID().slice(0, 8)}`;
    const members = await seed(450, account);
    const source = await recipientSource(account, members, 'wechat', { flavor: 'ferretdb' });
    expect(source.mode).toBe('scan');
    for (let i = 0; i < members.length; i += 200) {
      const ids = members.slice(i, i + 200);
      expect(await source.of(ids)).toEqual(await recipients(account, ids, 'wechat'));
    }
    const all = await source.of(members);
    expect(all.filter((r) => r.openid).length).toBe(members.filter((_, i) => i % 7 !== 0 && i % 11 !== 0).length);
    expect(all.filter((r) => !r.consent).length).toBe(members.filter((_, i) => i % 5 === 0 || i % 5 === 2).length);
    expect(all[1]).toMatchObject({ tier: 'gold', consent: true });
    // An id that is not a profile at all is no one's follower.
    expect(await source.of(['000000000000000000000000'])).toEqual([
      { profileId: '000000000000000000000000', tier: '', consent: true },
    ]);
  });

  it('small runs keep the lookups; a withdrawal during a streamed run is honoured', async () => {
    const account = `acct-${randomUUID().slice(0, 8)}`;
    const members = await seed(210, account);
    expect((await recipientSource(account, members.slice(0, 200), 'wechat', { flavor: 'ferretdb' })).mode).toBe(
      'lookup',
    );
    const source = await recipientSource(account, members, 'wechat', { flavor: 'ferretdb' }, { consentRefreshMs: 0 });
    const target = members[3]!; // no consent record: allowed
    expect((await source.of([target]))[0]!.consent).toBe(true);
    await mongoose.connection.db!.collection('crm_consents').insertOne({
      profileId: new Types.ObjectId(target),
      channel: 'all',
      allowed: false,
      source: 't',
      at: new Date(),
    });
    await new Promise((r) => setTimeout(r, 5));
    expect((await source.of([target]))[0]!.consent).toBe(false);
  });
});
