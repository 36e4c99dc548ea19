import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { createApprovals } from '../../src/staff/approvals/service.js';
import type { Principal } from '../../src/staff/index.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff, type GivenStaff } from './support.js';

describe('four-eyes approvals', () => {
  const t = useTestApp({ APPROVAL_PUSH_AUDIENCE_THRESHOLD: '1000', APPROVAL_CAMPAIGN_BUDGET_FEN_THRESHOLD: '100000' });
  const principalOf = (s: GivenStaff) => t().deps.staff.auth.authenticate(s.accessToken);
  const pushRequest = async (by: Principal, subjectId = new Types.ObjectId().toHexString()) =>
    t().deps.approvals.request(by, {
      action: 'push.send',
      subjectType: 'push_plan',
      subjectId,
      summary: { audienceSize: 5000, title: 'Spring sale' },
      permission: 'push:approve',
    });
  const decide = (s: GivenStaff, id: string, verdict: 'approve' | 'reject') =>
    t().http.post(`/admin/api/approvals/${id}/${verdict}`).set(bearer(s.accessToken)).send({ reason: 'ok' });

  it('asks for approval only above the configured thresholds', () => {
    const { approvals } = t().deps;
    expect(approvals.needsPushApproval(1000)).toBe(false);
    expect(approvals.needsPushApproval(1001)).toBe(true);
    expect(approvals.needsCampaignApproval(100000)).toBe(false);
    expect(approvals.needsCampaignApproval(100001)).toBe(true);
  });

  it('needs a different staff member holding the approve permission', async () => {
    const requester = await givenStaff(t(), ['marketing']);
    const sales = await givenStaff(t(), ['sales']);
    const finance = await givenStaff(t(), ['finance']); // may decide approvals, but not pushes
    const reviewer = await givenStaff(t(), ['marketing']);
    const req = await pushRequest(await principalOf(requester));
    expect(req.status).toBe('pending');

    const own = await decide(requester, req.id, 'approve');
    expect(own.status).toBe(403);
    expect(own.body.error.code).toBe('four_eyes_required');
    const noRoute = await decide(sales, req.id, 'approve');
    expect(noRoute.status).toBe(403);
    expect(noRoute.body.error.code).toBe('permission_denied');
    const wrongKind = await decide(finance, req.id, 'approve');
    expect(wrongKind.status).toBe(403);
    expect(wrongKind.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'push:approve' } });

    const subject = { action: 'push.send', subjectType: 'push_plan', subjectId: req.subjectId };
    await expect(t().deps.approvals.assertApproved(req.id, subject)).rejects.toMatchObject({
      code: 'approval_required',
    });
    const ok = await decide(reviewer, req.id, 'approve');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'approved', decidedBy: reviewer.id, reason: 'ok' });
    await expect(t().deps.approvals.assertApproved(req.id, subject)).resolves.toBeUndefined();
    // The approval covers this subject only.
    await expect(
      t().deps.approvals.assertApproved(req.id, { ...subject, subjectId: new Types.ObjectId().toHexString() }),
    ).rejects.toMatchObject({ code: 'approval_required' });

    const again = await decide(reviewer, req.id, 'reject');
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('approval_decided');
  });

  it('lets exactly one of two concurrent decisions win', async () => {
    const requester = await givenStaff(t(), ['marketing']);
    const r1 = await givenStaff(t(), ['marketing']);
    const r2 = await givenStaff(t(), ['admin']);
    const req = await pushRequest(await principalOf(requester));
    const results = await Promise.all([
      decide(r1, req.id, 'approve'),
      decide(r2, req.id, 'reject'),
      decide(r1, req.id, 'approve'),
      decide(r2, req.id, 'reject'),
    ]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(3);
    const final = await t().http.get(`/admin/api/approvals/${req.id}`).set(bearer(r2.accessToken));
    expect(final.body.status).toBe(results.find((r) => r.status === 200)!.body.status);
  });

  it('refuses to decide an expired request, and lists it as expired', async () => {
    const requester = await givenStaff(t(), ['marketing']);
    const reviewer = await givenStaff(t(), ['admin']);
    // A service with a clock two days ahead sees the request as expired (TTL is one day).
    const later = createApprovals(t().config.approvals, () => new Date(Date.now() + 2 * 86400_000));
    const req = await pushRequest(await principalOf(requester));
    await expect(later.approve(await principalOf(reviewer), req.id)).rejects.toMatchObject({
      code: 'approval_expired',
    });
    expect((await later.get(req.id)).status).toBe('expired');
    const expiredList = await later.list({ limit: 200, status: 'expired' });
    expect(expiredList.items.map((a) => a.id)).toContain(req.id);
  });

  it('returns the first request when the same one is retried with its idempotency key', async () => {
    const requester = await principalOf(await givenStaff(t(), ['marketing']));
    const input = {
      action: 'campaign.launch',
      subjectType: 'campaign',
      subjectId: new Types.ObjectId().toHexString(),
      summary: { budgetFen: 500000 },
      permission: 'campaign:approve' as const,
      idempotencyKey: 'launch-1',
    };
    const [a, b] = await Promise.all([
      t().deps.approvals.request(requester, input),
      t().deps.approvals.request(requester, input),
    ]);
    expect(a.id).toBe(b.id);
  });

  it('lists pending requests for reviewers and refuses staff without approval:read', async () => {
    const requester = await givenStaff(t(), ['marketing']);
    const auditor = await givenStaff(t(), ['auditor']);
    const service = await givenStaff(t(), ['service']);
    const req = await pushRequest(await principalOf(requester));
    const list = await t().http.get('/admin/api/approvals?status=pending&limit=200').set(bearer(auditor.accessToken));
    expect(list.status).toBe(200);
    expect((list.body.items as Array<{ id: string }>).map((a) => a.id)).toContain(req.id);
    expect((await t().http.get('/admin/api/approvals').set(bearer(service.accessToken))).status).toBe(403);
    expect((await t().http.get('/admin/api/approvals/nothex').set(bearer(auditor.accessToken))).status).toBe(400);
    const missing = await t()
      .http.get(`/admin/api/approvals/${new Types.ObjectId().toHexString()}`)
      .set(bearer(auditor.accessToken));
    expect(missing.status).toBe(404);
  });
});
