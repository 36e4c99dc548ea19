/**
 * The full contact sync through the sandbox: events WeCom lost are repaired, a run killed half-way
 * resumes from its checkpoint without duplicates, and calls are paced to the configured rate.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { groupMemberProfiles, runContactSync } from '../../src/wecom/index.js';
import { WecomContact, WecomLedger, WecomRelation, WecomSyncRun } from '../../src/wecom/model.js';
import { bearer, givenStaff } from '../staff/support.js';
import { eventually } from '../support/wait.js';
import { useWecomLive } from './support.js';

const live = useWecomLive({ WECOM_SYNC_CALLS_PER_SECOND: '3' });

describe('contact sync', () => {
  it('resumes after being killed half-way, without duplicates, paced to its rate', async () => {
    const { app, sandbox, corpid } = live();
    // One add arrives as an event; 35 others were never pushed (only the sync can find them).
    const seen = await sandbox.wecom.addCustomer({
      corpid,
      userid: 'zhangsan',
      unionid: `o${randomBytes(8).toString('hex')}`,
    });
    await eventually(() => WecomRelation.exists({ externalUserId: seen.externalUserId }).then((r) => r ?? undefined));
    for (let i = 0; i < 24; i += 1) await sandbox.wecom.addCustomer({ corpid, userid: 'zhangsan', silent: true });
    for (let i = 0; i < 11; i += 1) await sandbox.wecom.addCustomer({ corpid, userid: 'lisi', silent: true });

    await expect(
      runContactSync(app.deps.wecomDomain, 'default', {
        pageSize: 10,
        afterPage: (page) => {
          if (page === 2) throw new Error('worker killed');
        },
      }),
    ).rejects.toThrow('worker killed');
    const checkpoint = await WecomSyncRun.findOne({ finishedAt: { $exists: false } }).lean();
    expect(checkpoint).toMatchObject({ userIndex: 0, pages: 1 });
    expect(checkpoint!.cursor).not.toBe('');

    const started = Date.now();
    const resumed = await runContactSync(app.deps.wecomDomain, 'default', { pageSize: 10 });
    // 1 tag-list call + 5 pages at 3 calls per second: at least one second of waiting.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(resumed).toMatchObject({ runId: checkpoint!.runId, finished: true });
    // zhangsan: 25 customers = 3 pages; lisi: 11 = 2 pages; wangwu: 1 empty page.
    expect(resumed.pages).toBe(6);

    expect(await WecomRelation.countDocuments({ status: 'active' })).toBe(36);
    expect(await WecomContact.countDocuments()).toBe(36);
    expect(await WecomLedger.countDocuments({ kind: 'add' })).toBe(36);
    expect(await WecomLedger.countDocuments({ externalUserId: seen.externalUserId })).toBe(1);

    // A second full run changes nothing.
    const again = await runContactSync(app.deps.wecomDomain, 'default');
    expect(again.runId).not.toBe(resumed.runId);
    expect(await WecomRelation.countDocuments()).toBe(36);
    expect(await WecomLedger.countDocuments()).toBe(36);
  }, 60_000);

  it('is started by staff with the right permission only', async () => {
    const { app } = live();
    const sales = await givenStaff(app, ['sales']);
    expect((await app.http.post('/admin/api/wecom/sync').set(bearer(sales.accessToken))).status).toBe(403);
    expect((await app.http.post('/admin/api/wecom/sync')).status).toBe(401);
    const admin = await givenStaff(app, ['admin']);
    const res = await app.http.post('/admin/api/wecom/sync?corp=nope').set(bearer(admin.accessToken));
    expect(res.status).toBe(404);
  });

  it('syncs customer groups with their members, joined to profiles', async () => {
    const { app, sandbox, corpid } = live();
    const a = await sandbox.wecom.addCustomer({
      corpid,
      userid: 'lisi',
      unionid: `o${randomBytes(8).toString('hex')}`,
    });
    const b = await sandbox.wecom.addCustomer({
      corpid,
      userid: 'lisi',
      unionid: `o${randomBytes(8).toString('hex')}`,
    });
    for (const x of [a, b])
      await eventually(() => WecomContact.exists({ externalUserId: x.externalUserId }).then((r) => r ?? undefined));
    const chatId = sandbox.wecom.addGroupChat(corpid, {
      name: 'VIP salon',
      owner: 'lisi',
      members: [a.externalUserId, b.externalUserId],
    });
    const admin = await givenStaff(app, ['admin']);
    const synced = await app.http.post('/admin/api/wecom/groups/sync').set(bearer(admin.accessToken));
    expect(synced.status).toBe(200);
    expect(await groupMemberProfiles('default', chatId)).toHaveLength(2);

    sandbox.wecom.leaveGroupChat(corpid, chatId, b.externalUserId);
    await app.http.post('/admin/api/wecom/groups/sync').set(bearer(admin.accessToken));
    const left = await WecomContact.findOne({ externalUserId: a.externalUserId }).lean();
    expect(await groupMemberProfiles('default', chatId)).toEqual([left!.profileId]);
    const list = await app.http.get('/admin/api/wecom/groups').set(bearer(admin.accessToken));
    expect(list.body.groups).toEqual([{ chatId, name: 'VIP salon', owner: 'lisi', members: 2 }]);
  });
});
