import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from '../staff/support.js';

const t = useTestApp();

const body = {
  name: '双十一红包',
  accounts: ['default'],
  startAt: new Date(Date.now() - 60_000).toISOString(),
  endAt: new Date(Date.now() + 3_600_000).toISOString(),
  budgetFen: 10_000,
  prize: { kind: 'random', minFen: 30, maxFen: 200, count: 50 },
  entries: ['keyword'],
  keyword: '双十一',
};

describe('red-envelope admin API', () => {
  it('creates, needs a second person to approve, starts, shows live numbers, and audits each step', async () => {
    const marketer = await givenStaff(t(), ['admin']);
    const other = await givenStaff(t(), ['admin']);
    const plainMarketer = await givenStaff(t(), ['marketing']);
    const sales = await givenStaff(t(), ['sales']);
    const http = t().http;

    expect(
      (await http.post('/admin/api/campaigns/red-envelopes').set(bearer(sales.accessToken)).send(body)).status,
    ).toBe(403);
    const tooRich = await http
      .post('/admin/api/campaigns/red-envelopes')
      .set(bearer(marketer.accessToken))
      .send({ ...body, budgetFen: 100 });
    expect(tooRich.status).toBe(400);
    expect(tooRich.body.error.code).toBe('campaign_invalid');

    const created = await http.post('/admin/api/campaigns/red-envelopes').set(bearer(marketer.accessToken)).send(body);
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    // Marketing may run campaigns but not approve them; an admin may not approve their own.
    expect(
      (await http.post(`/admin/api/campaigns/red-envelopes/${id}/approve`).set(bearer(plainMarketer.accessToken)))
        .status,
    ).toBe(403);
    const self = await http.post(`/admin/api/campaigns/red-envelopes/${id}/approve`).set(bearer(marketer.accessToken));
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('approval_needs_other_staff');
    expect(
      (await http.post(`/admin/api/campaigns/red-envelopes/${id}/approve`).set(bearer(other.accessToken))).status,
    ).toBe(200);
    const started = await http.post(`/admin/api/campaigns/red-envelopes/${id}/start`).set(bearer(marketer.accessToken));
    expect(started.body.status).toBe('running');

    const view = await http.get(`/admin/api/campaigns/red-envelopes/${id}`).set(bearer(marketer.accessToken));
    expect(view.body.numbers).toMatchObject({ budgetFen: 10_000, wonFen: 0, claims: 0, invariantOk: true });
    expect(view.body.numbers.leftFen).toBeLessThanOrEqual(10_000);

    const paused = await http
      .post(`/admin/api/campaigns/red-envelopes/${id}/pause`)
      .set(bearer(marketer.accessToken))
      .send({ reason: 'customer complaints' });
    expect(paused.body).toMatchObject({ status: 'paused', statusReason: 'customer complaints' });

    const audit = await t().deps.audit.list({ targetType: 'red_envelope_campaign', limit: 50 });
    const actions = audit.items.map((e) => e.action);
    for (const action of ['redenvelope.campaign.create', 'redenvelope.campaign.approve', 'redenvelope.campaign.start'])
      expect(actions).toContain(action);
  });
});
