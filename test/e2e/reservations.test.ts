/**
 * Reservation codes end to end: a VIP follower claims a code in the chat (and gets the issued notice as a
 * template message), redeems it by typing it; a business system redeems another code with its API key,
 * exactly once; a standard follower is refused.
 */
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../../src/reservations/index.js';
import { useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const live = useLive();
const HOUR = 3_600_000;

async function followerWithTier(openid: string, tier: string) {
  const { app, sandbox } = live();
  const follower = sandbox.wechat.follower('default', openid);
  await follower.subscribe();
  const profileId = await eventually(() => app.deps.profileOf('default', openid));
  if (tier !== 'standard')
    await app.deps.crm.profiles.changeTier({
      profileId: new Types.ObjectId(profileId),
      tier,
      reason: 'test',
      by: 'staff:t',
    });
  return { follower, profileId };
}

describe('reservation codes through the chat and the API', () => {
  it('lets a VIP claim and redeem in the chat, a business system redeem once, and refuses others', async () => {
    const { app, sandbox, url } = live();
    // The account's templates, as staff would have added them in the WeChat console.
    for (const template of app.deps.templates.values())
      sandbox.wechat.addTemplate('default', {
        templateId: template.templateIds.default,
        title: template.title,
        keywords: Object.keys(template.fields),
      });
    await createProgram(
      app.deps.reservations,
      {
        name: '高收益基金A',
        quota: 10,
        issueFrom: new Date(Date.now() - HOUR),
        issueUntil: new Date(Date.now() + HOUR),
        redeemFrom: new Date(Date.now() - HOUR),
        redeemUntil: new Date(Date.now() + 48 * HOUR),
        issueMode: 'claim',
        eligibility: { tiers: ['vip'] },
      },
      'staff-1',
    );

    const vip = await followerWithTier('oVipReserve00001', 'vip');
    const claimed = await vip.follower.send('预约');
    const code = /预约码：([A-Z0-9-]{13})/.exec(claimed.inbox?.text ?? '')?.[1];
    expect(code, claimed.inbox?.text).toBeTruthy();
    await eventually(() =>
      vip.follower.inbox().some((e) => e.channel === 'template' && e.text.includes('预约码发放通知')),
    );

    const typo = `${code!.slice(0, -1)}${code!.endsWith('A') ? 'B' : 'A'}`;
    expect((await vip.follower.send(`预约码 ${typo}`)).inbox?.text).toContain('输错');
    expect((await vip.follower.send(`预约码 ${code!}`)).inbox?.text).toContain('使用成功');
    expect((await vip.follower.send(`预约码 ${code!}`)).inbox?.text).toContain('已经使用过');

    const standard = await followerWithTier('oStdReserve00001', 'standard');
    expect((await standard.follower.send('预约')).inbox?.text).toContain('不符合');

    // A sales counter redeems a second VIP's code with its API key.
    const other = await followerWithTier('oVipReserve00002', 'vip');
    const second = /预约码：([A-Z0-9-]{13})/.exec((await other.follower.send('预约')).inbox?.text ?? '')?.[1];
    const source = await app.deps.crm.ingestion.createSource({ name: 'counter', createdBy: 'staff:t' });
    const body = { code: second, customer: { kind: 'profile', value: other.profileId }, orderRef: 'POS-1001' };
    const redeem = () =>
      fetch(`${url}/api/reservations/redeem`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': source.apiKey },
        body: JSON.stringify(body),
      });
    const answers = await Promise.all([redeem(), redeem(), redeem()]);
    // The same order reference is the same request: every copy gets the one redemption.
    for (const res of answers) expect(res.status).toBe(200);
    const again = await fetch(`${url}/api/reservations/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': source.apiKey },
      body: JSON.stringify({ ...body, orderRef: 'POS-2002' }),
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('code_already_redeemed');
    const anonymous = await fetch(`${url}/api/reservations/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(anonymous.status).toBe(401);
  }, 60_000);
});
