/**
 * Push plans through the admin API and the sandbox: a plan that cannot render cannot start; a large audience
 * needs a second staff member's approval; the run sends each tier its content; a click on the tracked link
 * and a purchase reported through the ingestion API show up in the report with the ROI; an unfollow soon
 * after the push counts against it; the A/B split is stable.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAudience } from '../../src/audiences/service.js';
import { variantOf } from '../../src/push/delivery.js';
import { runPlanJob } from '../../src/push/jobs.js';
import { PushOutcome, PushSend } from '../../src/push/model.js';
import { linkCode, readLinkCode, scanConversions } from '../../src/push/tracking.js';
import { bearer, givenStaff } from '../staff/support.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const live = useLive({
  APPROVAL_PUSH_AUDIENCE_THRESHOLD: '2',
  PUSH_QUIET_START_HOUR: '0',
  PUSH_QUIET_END_HOUR: '0',
  PUSH_CAP_PER_DAY: '20',
  PUSH_CAP_PER_WEEK: '50',
});

const planBody = (audienceId: string, extra: Record<string, unknown> = {}) => ({
  name: 'Spring VIP preview',
  audienceId,
  contents: [
    { tiers: ['vip'], kind: 'campaign_notice', vars: { title: 'VIP专享预约', body: '高端产品开放' } },
    { kind: 'campaign_notice', vars: { title: '新品上线', body: '欢迎了解' } },
  ],
  landingUrl: 'https://example.com/spring',
  values: { conversionFen: 10_000, unfollowFen: 2_000, costFen: 300, costPerSendFen: 0 },
  ...extra,
});

describe('push plans through the admin API', () => {
  it('refuses strangers, other roles and bad input', async () => {
    const { app } = live();
    const sales = await givenStaff(app, ['sales']);
    const marketing = await givenStaff(app, ['marketing']);
    const body = planBody('0'.repeat(24));
    expect((await app.http.post('/admin/api/pushes/plans').send(body)).status).toBe(401);
    expect((await app.http.post('/admin/api/pushes/plans').set(bearer(sales.accessToken)).send(body)).status).toBe(403);
    for (const bad of [
      { ...body, $where: 'sleep(1000)' },
      { ...body, splitB: 2 },
      { ...body, contents: [{ kind: 'campaign_notice', vars: { title: { $gt: '' } } }] },
      { ...body, schedule: { kind: 'event', event: 'purchase' } },
      { ...body, landingUrl: 'javascript:alert(1)' },
    ]) {
      const res = await app.http.post('/admin/api/pushes/plans').set(bearer(marketing.accessToken)).send(bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_input');
    }
  });

  it('previews what one customer would receive: their tier picks the content, the split picks the variant', async () => {
    const l = live();
    const { app } = l;
    registerMessageTemplates(l);
    const tag = randomBytes(3).toString('hex');
    const vip = await givenFollower(l, `oPrevVip${tag}00000`, 'vip');
    const std = await givenFollower(l, `oPrevStd${tag}00000`);
    const audience = await createAudience(
      {},
      { name: 'two', kind: 'list', profileIds: [vip.profileId, std.profileId] },
      'staff:t',
    );
    const marketing = await givenStaff(app, ['marketing']);
    const service = await givenStaff(app, ['service']);
    const auth = bearer(marketing.accessToken);
    const created = await app.http
      .post('/admin/api/pushes/plans')
      .set(auth)
      .send(
        planBody(audience._id.toString(), {
          contents: [
            ...planBody('x').contents,
            { tiers: ['vip'], variant: 'B', kind: 'campaign_notice', vars: { title: 'B 版专享', body: '试试' } },
          ],
          splitB: 0.5,
        }),
      );
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const preview = (profileId: string, token = auth) =>
      app.http.post(`/admin/api/pushes/plans/${id}/preview`).set(token).send({ profileId });

    const vipView = await preview(vip.profileId);
    expect(vipView.status).toBe(200);
    const variant = variantOf(id, vip.profileId, 0.5);
    expect(vipView.body).toMatchObject({ tier: 'vip', variant, follows: true, consent: true, problem: null });
    expect(vipView.body.content).toBe(variant === 'A' ? 0 : 2);
    expect(vipView.body.rendered).toMatchObject({ kind: 'template', template: 'campaign_notice' });
    const fields = vipView.body.rendered.fields as { name: string; value: string }[];
    expect(fields.map((f) => f.value)).toContain(variant === 'A' ? 'VIP专享预约' : 'B 版专享');
    const stdView = await preview(std.profileId);
    // Variant B has content only for VIPs: a standard customer drawn into B gets nothing, into A the A content.
    if (variantOf(id, std.profileId, 0.5) === 'A') {
      expect(stdView.body).toMatchObject({ tier: 'standard', variant: 'A', content: 1 });
      expect(JSON.stringify(stdView.body.rendered)).toContain('新品上线');
    } else expect(stdView.body).toMatchObject({ tier: 'standard', variant: 'B', content: null, rendered: null });

    expect((await preview(vip.profileId, bearer(service.accessToken))).status).toBe(403);
    expect((await preview('not-an-id')).status).toBe(400);
    const unknown = await preview('0'.repeat(24));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('profile_not_found');
    expect(
      (
        await app.http
          .post(`/admin/api/pushes/plans/${'0'.repeat(24)}/preview`)
          .set(auth)
          .send({ profileId: vip.profileId })
      ).status,
    ).toBe(404);
    // Nothing was sent by looking.
    expect(l.sandbox.wechat.inbox('default', `oPrevVip${tag}00000`).filter((e) => e.channel === 'template')).toEqual(
      [],
    );
  });

  it('validates, needs four eyes above the threshold, sends, tracks clicks and conversions, and reports', async () => {
    const l = live();
    const { app, sandbox } = l;
    registerMessageTemplates(l);
    const tag = randomBytes(3).toString('hex');
    const vip = await givenFollower(l, `oPlanVip${tag}00000`, 'vip');
    const gold = await givenFollower(l, `oPlanGld${tag}00000`, 'gold');
    const std = await givenFollower(l, `oPlanStd${tag}00000`);
    const audience = await createAudience(
      {},
      { name: 'three', kind: 'list', profileIds: [vip.profileId, gold.profileId, std.profileId] },
      'staff:t',
    );
    const author = await givenStaff(app, ['marketing']);
    const reviewer = await givenStaff(app, ['marketing']);
    const auth = bearer(author.accessToken);

    // Idempotent create: the same clientKey returns the same plan.
    const clientKey = `k-${tag}-spring`;
    const broken = planBody(audience._id.toString(), {
      clientKey,
      contents: [{ kind: 'campaign_notice', vars: { title: '缺正文' } }],
    });
    const created = await app.http.post('/admin/api/pushes/plans').set(auth).send(broken);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'draft', clientKey, values: { conversionFen: 10_000 } });
    const again = await app.http.post('/admin/api/pushes/plans').set(auth).send(broken);
    expect(again.body.id).toBe(created.body.id);
    const id = created.body.id as string;

    // A missing variable: validation lists it and the plan cannot start.
    const validation = await app.http.get(`/admin/api/pushes/plans/${id}/validation`).set(auth);
    expect(validation.body).toMatchObject({ ok: false, problems: [{ content: 0, missing: ['body'] }] });
    const refused = await app.http.post(`/admin/api/pushes/plans/${id}/start`).set(auth);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('push_not_renderable');

    const fixed = await app.http
      .patch(`/admin/api/pushes/plans/${id}`)
      .set(auth)
      .send({ contents: planBody('x').contents });
    expect(fixed.status).toBe(200);

    // Three recipients > threshold 2: the first start asks for approval.
    const asked = await app.http.post(`/admin/api/pushes/plans/${id}/start`).set(auth);
    expect(asked.status).toBe(200);
    expect(asked.body).toMatchObject({ status: 'awaiting_approval', audienceSize: 3 });
    const approvalId = asked.body.approvalId as string;
    const early = await app.http.post(`/admin/api/pushes/plans/${id}/start`).set(auth);
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('push_awaiting_approval');
    const own = await app.http.post(`/admin/api/approvals/${approvalId}/approve`).set(auth).send({});
    expect(own.status).toBe(403);
    const approved = await app.http
      .post(`/admin/api/approvals/${approvalId}/approve`)
      .set(bearer(reviewer.accessToken))
      .send({ reason: 'ok' });
    expect(approved.status).toBe(200);
    const started = await app.http.post(`/admin/api/pushes/plans/${id}/start`).set(auth);
    expect(started.body.status).toBe('running');

    // The worker's job (run here in-process): each tier gets its content, once.
    await runPlanJob(app.deps.push, { planId: id, runId: 'once' });
    await runPlanJob(app.deps.push, { planId: id, runId: 'once' }); // a second worker: nothing new
    const inbox = (openid: string) => sandbox.wechat.inbox('default', openid).filter((e) => e.channel === 'template');
    expect(inbox(`oPlanVip${tag}00000`).map((e) => e.text)).toEqual([expect.stringContaining('VIP专享')]);
    expect(inbox(`oPlanGld${tag}00000`).map((e) => e.text)).toEqual([expect.stringContaining('新品上线')]);
    const progress = await app.http.get(`/admin/api/pushes/plans/${id}`).set(auth);
    expect(progress.body).toMatchObject({ status: 'done', progress: { runs: 1, targeted: 3 } });

    // Receipts (TEMPLATESENDJOBFINISH) turn sends into deliveries.
    await eventually(async () => ((await PushSend.countDocuments({ state: 'delivered' })) === 3 ? true : undefined), {
      timeoutMs: 30_000,
      message: 'the three delivery receipts were not applied',
    });

    // The VIP clicks the tracked link (twice: one click per send) and then buys through the business system.
    const url = String(inbox(`oPlanVip${tag}00000`)[0]!.content.url);
    expect(url).toMatch(/\/r\/[A-Za-z0-9_-]{31}$/);
    const path = new URL(url).pathname;
    const click = await app.http.get(path);
    expect(click.status).toBe(302);
    expect(click.headers.location).toBe('https://example.com/spring');
    await app.http.get(path);
    const forged = path.slice(0, -2) + (path.endsWith('AA') ? 'BB' : 'AA');
    expect((await app.http.get(forged)).status).toBe(404);

    const source = await app.deps.crm.ingestion.createSource({ name: `shop-${tag}`, createdBy: 'staff:t' });
    const ingest = await app.http
      .post('/api/events')
      .set('X-Api-Key', source.apiKey)
      .send({
        events: [
          {
            idempotencyKey: `order-${tag}-1`,
            type: 'purchase',
            amountFen: 500_000,
            customer: { openid: { account: 'default', openid: `oPlanVip${tag}00000` } },
          },
          {
            idempotencyKey: `order-${tag}-2`,
            type: 'purchase',
            amountFen: 100,
            customer: { openid: { account: 'default', openid: `oPlanStd${tag}00000` } }, // never clicked
          },
        ],
      });
    expect(ingest.body.accepted).toBe(2);
    expect(await scanConversions(app.deps.push)).toBe(1);
    expect(await scanConversions(app.deps.push)).toBe(0); // a rescan attributes nothing twice

    // The standard follower unfollows right after the push: a negative outcome.
    await std.follower.unsubscribe();
    await eventually(async () => ((await PushOutcome.countDocuments({ kind: 'unfollow' })) === 1 ? true : undefined));

    const report = await app.http.get(`/admin/api/pushes/plans/${id}/report`).set(auth);
    expect(report.status).toBe(200);
    const rows = (report.body as { run: { rows: { variant: string; roi: number }[] } }).run.rows;
    const total = rows.find((r) => r.variant === 'total');
    expect(total).toMatchObject({
      targeted: 3,
      passed: 3,
      sent: 3,
      delivered: 3,
      clicked: 1,
      converted: 1,
      unfollowed: 1,
      gainFen: 10_000,
      harmFen: 2_000,
      costFen: 300,
    });
    expect(total?.roi).toBeCloseTo((10_000 - 2_000 - 300) / 300);
    expect(report.body.previous).toBeNull();

    const pauseDone = await app.http.post(`/admin/api/pushes/plans/${id}/pause`).set(auth);
    expect(pauseDone.status).toBe(409);
  }, 90_000);
});

describe('tracking links and the A/B split', () => {
  it('signs link codes and refuses altered ones', () => {
    const secret = 'x'.repeat(32);
    const sendId = 'a'.repeat(24);
    const code = linkCode(secret, sendId, 3);
    expect(readLinkCode(secret, code)).toEqual({ sendId, contentIndex: 3 });
    expect(readLinkCode('y'.repeat(32), code)).toBeUndefined();
    expect(readLinkCode(secret, `${code.slice(0, 5)}${code[5] === 'A' ? 'B' : 'A'}${code.slice(6)}`)).toBeUndefined();
    expect(readLinkCode(secret, 'short')).toBeUndefined();
  });

  it('puts a profile in the same variant every time, in about the configured share', () => {
    const planId = 'b'.repeat(24);
    const ids = Array.from({ length: 4000 }, (_, i) => i.toString(16).padStart(24, '0'));
    const first = ids.map((id) => variantOf(planId, id, 0.3));
    expect(ids.map((id) => variantOf(planId, id, 0.3))).toEqual(first);
    const shareB = first.filter((v) => v === 'B').length / ids.length;
    expect(shareB).toBeGreaterThan(0.27);
    expect(shareB).toBeLessThan(0.33);
    expect(ids.every((id) => variantOf(planId, id, 0) === 'A')).toBe(true);
  });
});
