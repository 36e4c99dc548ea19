import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attributeSubscribe, maskName, sceneOf } from '../../src/campaigns/referral/index.js';
import { ReferralCode } from '../../src/campaigns/referral/model.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from '../staff/support.js';

const t = useTestApp();

const body = {
  name: '老带新',
  account: 'default',
  startAt: new Date(Date.now() - 60_000).toISOString(),
  endAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
  qualify: { action: 'purchase', withinDays: 7 },
  referrerReward: { kind: 'points', points: 100 },
  milestones: [{ friends: 3, reward: { kind: 'points', points: 1000 } }],
  capTotal: 20,
  capPerDay: 5,
  keyword: '邀请好友',
};

describe('referral admin API', () => {
  it('creates, needs a second person to approve, starts, and reports', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const other = await givenStaff(t(), ['admin']);
    const marketer = await givenStaff(t(), ['marketing']);
    const sales = await givenStaff(t(), ['sales']);
    const http = t().http;
    const base = '/admin/api/campaigns/referrals';

    expect((await http.post(base).send(body)).status).toBe(401);
    expect((await http.post(base).set(bearer(sales.accessToken)).send(body)).status).toBe(403);
    const unknownKey = await http
      .post(base)
      .set(bearer(admin.accessToken))
      .send({ ...body, payoutFen: 100 });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.error.code).toBe('invalid_input');
    const capsWrong = await http
      .post(base)
      .set(bearer(admin.accessToken))
      .send({ ...body, capPerDay: 50 });
    expect(capsWrong.status).toBe(400);
    expect(capsWrong.body.error.code).toBe('campaign_invalid');

    const created = await http.post(base).set(bearer(admin.accessToken)).send(body);
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await http.post(`${base}/${id}/start`).set(bearer(admin.accessToken))).body.error.code).toBe(
      'campaign_state',
    );
    expect((await http.post(`${base}/${id}/approve`).set(bearer(marketer.accessToken))).status).toBe(403);
    const own = await http.post(`${base}/${id}/approve`).set(bearer(admin.accessToken));
    expect(own.body.error.code).toBe('approval_needs_other_staff');
    expect((await http.post(`${base}/${id}/approve`).set(bearer(other.accessToken))).body.status).toBe('approved');
    expect((await http.post(`${base}/${id}/start`).set(bearer(marketer.accessToken))).body.status).toBe('running');
    expect((await http.get(`${base}/rf_0000`).set(bearer(admin.accessToken))).status).toBe(400);

    // Two referrers' friends (attributed through the service, as the gateway would), then the report.
    for (const [referrer, friends] of [
      ['aaaaaaaaaaaaaaaaaaaaaaaa', 3],
      ['bbbbbbbbbbbbbbbbbbbbbbbb', 1],
    ] as const) {
      const scene = sceneOf(id, referrer);
      await ReferralCode.create({
        campaignId: id,
        account: 'default',
        referrerProfileId: referrer,
        referrerOpenid: `o_${referrer}`,
        scene,
        kind: 'permanent',
        ticket: `t_${referrer}`,
        url: 'http://weixin.qq.com/q/x',
      });
      for (let i = 0; i < friends; i += 1)
        await attributeSubscribe(t().deps.referrals, {
          eventId: randomUUID(),
          account: 'default',
          openid: `of_${randomUUID()}`,
          scene,
          at: new Date(),
        });
    }
    const report = await http.get(`${base}/${id}/report`).set(bearer(marketer.accessToken));
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({
      referrers: 2,
      friends: 4,
      states: { pending: 4, confirmed: 0, rejected: 0 },
      depth: [{ depth: 1, friends: 4, pending: 4, confirmed: 0, rejected: 0, conversion: 0 }],
    });
    expect(report.body.viral[0]).toMatchObject({ friends: 4, referrers: 2, k: 2 });
    const leaderboard = report.body.leaderboard as { pending: number; name: string }[];
    expect(leaderboard.map((r) => [r.pending, r.name])).toEqual([
      [3, '微信用户'],
      [1, '微信用户'],
    ]);
    expect((await http.post(`${base}/${id}/pause`).set(bearer(admin.accessToken)).send({})).status).toBe(400);
    expect(
      (await http.post(`${base}/${id}/pause`).set(bearer(admin.accessToken)).send({ reason: 'audit' })).body.status,
    ).toBe('paused');
  });

  it('masks names for the leaderboard', () => {
    expect(maskName('张三')).toBe('张*');
    expect(maskName('王小明')).toBe('王*明');
    expect(maskName('欧阳娜娜')).toBe('欧**娜');
    expect(maskName(undefined)).toBe('微信用户');
  });
});
