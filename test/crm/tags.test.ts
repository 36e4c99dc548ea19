import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createCrm, type WechatTagSync } from '../../src/crm/index.js';
import { useTestApp } from '../support/app.js';
import { followerEvent, openid, rid } from './support.js';

describe('crm: tags synced both ways with WeChat user tags', () => {
  const t = useTestApp();

  it('pushes local tag changes to WeChat from a job, and applies WeChat tags reported for a follower', async () => {
    const base = t().deps;
    const calls: string[] = [];
    const wechat: WechatTagSync = {
      async createTag(account, name) {
        calls.push(`create ${account} ${name}`);
        return 101;
      },
      async tagUsers(account, tagId, openids) {
        calls.push(`tag ${account} ${tagId} ${openids.join(',')}`);
      },
      async untagUsers(account, tagId, openids) {
        calls.push(`untag ${account} ${tagId} ${openids.join(',')}`);
      },
    };
    const crm = createCrm({ config: base.config, logger: base.logger, redis: base.redis, wechatTags: wechat });
    const group = await crm.tags.createGroup({ name: `menu-${rid(3)}` });
    const vip = await crm.tags.create({ groupId: group._id, name: `vip-${rid(2)}` });
    const linked = await crm.tags.linkWechat({ tagId: vip._id, account: 'fund' });
    expect(linked.wechat).toEqual([{ account: 'fund', tagId: 101 }]);
    const o = openid();
    const { profileId } = await crm.followers.record(followerEvent({ account: 'fund', openid: o }));
    const id = Types.ObjectId.createFromHexString(profileId);

    await crm.tags.add({ profileId: id, tagId: vip._id, source: 'staff:s1' });
    expect(calls.filter((c) => c.startsWith('tag'))).toEqual([]); // not on the caller's path
    expect(await crm.tags.pushToWechat()).toEqual({ pushed: 1, failed: 0 });
    await crm.tags.remove({ profileId: id, tagId: vip._id, source: 'staff:s1' });
    await crm.tags.pushToWechat();
    expect(calls.slice(1)).toEqual([`tag fund 101 ${o}`, `untag fund 101 ${o}`]);

    // WeChat reports the follower carries tag 101: the local mirror tag comes back, and is not pushed again.
    await crm.tags.applyWechat({ profileId: id, account: 'fund', wechatTagIds: [101] });
    expect((await crm.tags.of(id)).map((x) => String(x.id))).toEqual([String(vip._id)]);
    expect(await crm.tags.pushToWechat()).toEqual({ pushed: 0, failed: 0 });
    await crm.tags.applyWechat({ profileId: id, account: 'fund', wechatTagIds: [] });
    expect(await crm.tags.of(id)).toEqual([]);
  });

  it('a failed push stays queued for the next run', async () => {
    const base = t().deps;
    let fail = true;
    const crm = createCrm({
      config: base.config,
      logger: base.logger,
      redis: base.redis,
      wechatTags: {
        createTag: async () => 7,
        tagUsers: async () => {
          if (fail) throw new Error('errcode 45159 invalid tag id');
        },
        untagUsers: async () => undefined,
      },
    });
    const group = await crm.tags.createGroup({ name: `g-${rid(3)}` });
    const tag = await crm.tags.create({ groupId: group._id, name: 'x', wechat: [{ account: 'news', tagId: 7 }] });
    const { profileId } = await crm.followers.record(followerEvent({ account: 'news', openid: openid() }));
    await crm.tags.add({ profileId: Types.ObjectId.createFromHexString(profileId), tagId: tag._id, source: 'rule:r1' });
    expect(await crm.tags.pushToWechat()).toEqual({ pushed: 0, failed: 1 });
    fail = false;
    expect(await crm.tags.pushToWechat()).toEqual({ pushed: 1, failed: 0 });
  });
});
