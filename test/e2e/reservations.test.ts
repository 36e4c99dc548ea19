/**
 * Reservation codes end to end: a VIP follower claims a code in the chat (and gets the issued notice as a
 * template message), redeems it by typing it; a business system redeems another code with its API key,
 * exactly once; a standard follower is refused.
 */
import { describe, expect, it } from 'vitest';
import { createProgram } from '../../src/reservations/index.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const live = useLive();
const HOUR = 3_600_000;

const followerWithTier = (openid: string, tier: string) => givenFollower(live(), openid, tier);

describe('reservation codes through the chat and the API', () => {
  it('lets a VIP claim and redeem in the chat, a business system redeem once, and refuses others', async () => {
    const { app, url } = live();
    registerMessageTemplates(live());
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
    for (const res of answers) expect(res.status, await res.clone().text()).toBe(200);
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

  it('lets a VIP sign in on the H5 page by OAuth, claim and redeem, and refuses forged sessions', async () => {
    const { app, sandbox, url } = live();
    const program = await createProgram(
      app.deps.reservations,
      {
        name: '私募产品C',
        quota: 3,
        issueFrom: new Date(Date.now() - HOUR),
        issueUntil: new Date(Date.now() + HOUR),
        redeemFrom: new Date(Date.now() - HOUR),
        redeemUntil: new Date(Date.now() + 48 * HOUR),
        issueMode: 'claim',
        eligibility: { tiers: ['vip'] },
      },
      'staff-1',
    );
    await followerWithTier('oVipH5Reserve001', 'vip');

    const start = await fetch(`${url}/h5/oauth/start?next=/h5/reservations`, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const code = sandbox.wechat.oauthCode('default', 'oVipH5Reserve001', 'snsapi_base');
    const forged = await fetch(`${url}/h5/oauth/callback?code=${code}&state=${'0'.repeat(32)}`, {
      headers: { accept: 'application/json' },
    });
    expect(forged.status).toBe(400);
    const signedIn = await fetch(`${url}/h5/oauth/callback?code=${code}&state=${state}`, {
      headers: { accept: 'application/json' },
    });
    expect(signedIn.status).toBe(200);
    const { token, next } = (await signedIn.json()) as { token: string; next: string };
    expect(next).toBe('/h5/reservations');
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

    expect((await fetch(`${url}/api/h5/reservations/codes`)).status).toBe(401);
    const programs = (await (await fetch(`${url}/api/h5/reservations/programs`, { headers: auth })).json()) as {
      items: { id: string }[];
    };
    expect(programs.items.map((p) => p.id)).toContain(program._id);
    const claimed = await fetch(`${url}/api/h5/reservations/claim`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ programId: program._id }),
    });
    expect(claimed.status, await claimed.clone().text()).toBe(201);
    const { code: reservation } = (await claimed.json()) as { code: string };
    const mine = (await (await fetch(`${url}/api/h5/reservations/codes`, { headers: auth })).json()) as {
      items: { code: string }[];
    };
    expect(mine.items.map((c) => c.code)).toContain(reservation);
    const redeem = () =>
      fetch(`${url}/api/h5/reservations/redeem`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ code: reservation }),
      });
    expect((await redeem()).status).toBe(200);
    expect((await redeem()).status).toBe(200); // the same customer's retry gets the same answer

    // A staff token is not a customer session.
    const staffLogin = await fetch(`${url}/admin/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'admin-password-test' }),
    });
    if (staffLogin.status === 200) {
      const { accessToken } = (await staffLogin.json()) as { accessToken: string };
      expect(
        (await fetch(`${url}/api/h5/reservations/codes`, { headers: { authorization: `Bearer ${accessToken}` } }))
          .status,
      ).toBe(401);
    }
  }, 60_000);
});
