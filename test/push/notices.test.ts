/**
 * Service notices find the customer: on the follower the notice is about when named, else on the preferred
 * account among every follower of the person, including those whose profile was merged into theirs.
 */
import { describe, expect, it } from 'vitest';
import { profileFamily } from '../../src/crm/index.js';
import type { TemplateSender } from '../../src/push/delivery.js';
import { createServiceNotices } from '../../src/push/notices.js';
import { loadMessageTemplates } from '../../src/push/templates.js';
import { followerEvent, openid, unionid } from '../crm/support.js';
import { useTestApp } from '../support/app.js';

const t = useTestApp();

function capturingSender() {
  const sent: { account: string; openid: string; clientMsgId?: string }[] = [];
  const sender: TemplateSender = {
    send(message) {
      sent.push({ account: message.account, openid: message.openid, clientMsgId: message.clientMsgId });
      return Promise.resolve({ msgId: String(sent.length) });
    },
  };
  return { sent, sender };
}

describe('service notices', () => {
  it("reach a merged person's preferred account, or the follower the notice names", async () => {
    const { crm, logger } = t().deps;
    const u = unionid();
    const onFund = openid();
    const onNews = openid();
    const news = await crm.followers.record(followerEvent({ account: 'news', openid: onNews, unionid: u }));
    const fund = await crm.followers.record(followerEvent({ account: 'fund', openid: onFund }));
    // The fund follower's unionid comes to light: the two profiles become one person.
    await crm.identities.resolve({
      identities: [crm.identities.of.openid('fund', onFund), crm.identities.of.unionid(u)],
      source: 'wechat:fund',
      seed: { stage: 'follower' },
    });
    const survivor = (await crm.identities.find(crm.identities.of.unionid(u)))!;
    // The fund follower's own profile is the one merged away: only the family leads to it.
    expect([survivor.toHexString(), fund.profileId]).toEqual([
      news.profileId,
      expect.not.stringMatching(news.profileId),
    ]);
    const { sent, sender } = capturingSender();
    const notices = createServiceNotices({
      templates: loadMessageTemplates(),
      sender,
      defaultAccount: 'fund',
      logger,
      marketingAllowed: () => Promise.resolve(true),
      family: profileFamily,
    });
    // One payout notice to the person, by its key, optionally naming the follower it is about.
    const notify = (key: string, to?: { account: string; openid: string }) =>
      notices.notify({
        profileId: survivor.toHexString(),
        kind: 'payout_status',
        vars: { amountYuan: '1.00', status: '待确认收款' },
        idempotencyKey: key,
        ...(to ? { to } : {}),
      });

    // The person follows 'fund', the preferred account, through the profile merged into the survivor.
    expect(await notify(`n1${onFund}`)).toMatchObject({ sent: true, account: 'fund' });
    expect(sent.at(-1)).toMatchObject({ account: 'fund', openid: onFund });

    // A notice about the follower on 'news' goes there.
    expect(await notify(`n2${onNews}`, { account: 'news', openid: onNews })).toMatchObject({
      sent: true,
      account: 'news',
    });
    expect(sent.at(-1)).toMatchObject({ account: 'news', openid: onNews });

    // Named but no longer following: the person is still told, where they do follow.
    expect(await notify(`n3${onNews}`, { account: 'news', openid: openid() })).toMatchObject({
      sent: true,
      account: 'fund',
    });
    expect(sent.at(-1)).toMatchObject({ account: 'fund', openid: onFund });
  });
});
