import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { followerEvent, openid, unionid } from './support.js';
import { Types } from 'mongoose';

describe('crm: consent', () => {
  const t = useTestApp({ CRM_OPT_OUT_KEYWORDS: 'TD,退订,unsubscribe' });

  it('an opt-out keyword stops marketing at once', async () => {
    const { crm } = t().deps;
    const o = openid();
    const { profileId } = await crm.followers.record(followerEvent({ account: 'fund', openid: o }));
    const subject = { profileId: Types.ObjectId.createFromHexString(profileId) };
    expect(await crm.consent.isMarketingAllowed(subject, 'wechat')).toBe(true);
    expect(await crm.consent.handleInboundText({ account: 'fund', openid: o, text: ' 退订 ' })).toEqual({
      optedOut: true,
    });
    expect(await crm.consent.isMarketingAllowed(subject, 'wechat')).toBe(false);
    expect(await crm.consent.isMarketingAllowed({ identity: crm.identities.of.openid('fund', o) }, 'wechat')).toBe(
      false,
    );
  });

  it('keywords are the configured ones, trimmed and case-insensitive; other texts change nothing', async () => {
    const { crm } = t().deps;
    const o = openid();
    await crm.followers.record(followerEvent({ account: 'fund', openid: o }));
    expect(await crm.consent.handleInboundText({ account: 'fund', openid: o, text: 'TD please' })).toEqual({
      optedOut: false,
    });
    expect(await crm.consent.isMarketingAllowed({ identity: crm.identities.of.openid('fund', o) }, 'wechat')).toBe(
      true,
    );
    expect(crm.consent.isOptOutKeyword('td')).toBe(true);
    expect(crm.consent.isOptOutKeyword('UNSUBSCRIBE')).toBe(true);
    expect(crm.consent.isOptOutKeyword('退')).toBe(false);
  });

  it('consent is per channel, SMS needs an opt-in, and the newest record wins', async () => {
    const { crm } = t().deps;
    const o = openid();
    const { profileId } = await crm.followers.record(followerEvent({ account: 'fund', openid: o }));
    const subject = { profileId: Types.ObjectId.createFromHexString(profileId) };
    expect(await crm.consent.isMarketingAllowed(subject, 'sms')).toBe(false);
    await crm.consent.optIn({ subject, channel: 'sms', source: 'staff:s1' });
    expect(await crm.consent.isMarketingAllowed(subject, 'sms')).toBe(true);
    await crm.consent.optOut({ subject, channel: 'all', source: 'staff:s1', reason: 'complaint' });
    expect(await crm.consent.isMarketingAllowed(subject, 'sms')).toBe(false);
    expect(await crm.consent.isMarketingAllowed(subject, 'wecom')).toBe(false);
  });

  it('an opt-out on one account of a merged person stops marketing to the person', async () => {
    const { crm } = t().deps;
    const u = unionid();
    const o1 = openid();
    const lone = await crm.followers.record(followerEvent({ account: 'fund', openid: o1 }));
    await crm.consent.handleInboundText({ account: 'fund', openid: o1, text: 'TD' });
    const other = await crm.followers.record(followerEvent({ account: 'news', openid: openid(), unionid: u }));
    // Enrichment reveals o1's unionid: the two profiles merge.
    await crm.identities.resolve({
      identities: [crm.identities.of.openid('fund', o1), crm.identities.of.unionid(u)],
      source: 'wechat:fund',
      seed: { stage: 'follower' },
    });
    const survivor = (await crm.identities.find(crm.identities.of.unionid(u)))!;
    expect([lone.profileId, other.profileId]).toContain(survivor.toHexString());
    expect(await crm.consent.isMarketingAllowed({ profileId: survivor }, 'wechat')).toBe(false);
  });

  it('nobody we know is never marketed to', async () => {
    const { crm } = t().deps;
    expect(
      await crm.consent.isMarketingAllowed({ identity: crm.identities.of.openid('fund', openid()) }, 'wechat'),
    ).toBe(false);
  });
});
