/**
 * Push admin API (plans: create, change, validate, start with four-eyes approval, pause, resume, cancel,
 * progress, report) and the public tracking redirect `GET /r/:code`.
 */
import Router from '@koa/router';
import { z } from 'zod';
import { adminRoute, IdParams, ObjectIdString, type AdminRoute } from '../staff/index.js';
import type { PushPlanDoc } from './model.js';
import {
  cancelPlan,
  createPlan,
  listPlans,
  loadPlan,
  pausePlan,
  planProgress,
  previewPlan,
  resumePlan,
  startPlan,
  updatePlan,
  validatePlan,
  type PlanProgress,
  type PushService,
} from './plans.js';
import type { TwoProportionResult } from '../analytics/stats.js';
import { planReport, type Comparison } from './report.js';
import { PlanBody, PlanList, PlanUpdateBody, PlanView, ReportQuery, ValidationView } from './schemas.js';
import { recordClick } from './tracking.js';

function present(p: PushPlanDoc, progress?: PlanProgress): z.input<typeof PlanView> {
  return {
    id: p._id.toString(),
    clientKey: p.clientKey,
    name: p.name,
    account: p.account,
    audienceId: p.audienceId,
    channel: p.channel,
    corp: p.corp ?? null,
    contents: p.contents.map((c) => ({
      ...(c.tiers ? { tiers: c.tiers } : {}),
      variant: c.variant,
      ...(c.kind ? { kind: c.kind } : {}),
      ...(c.text ? { text: c.text } : {}),
      vars: c.vars,
      ...(c.url ? { url: c.url } : {}),
    })),
    splitB: p.splitB,
    landingUrl: p.landingUrl ?? null,
    schedule: {
      kind: p.schedule.kind,
      ...(p.schedule.at ? { at: new Date(p.schedule.at).toISOString() } : {}),
      ...(p.schedule.cron ? { cron: p.schedule.cron } : {}),
      ...(p.schedule.event ? { event: p.schedule.event } : {}),
      ...(p.schedule.waitMinutes !== undefined ? { waitMinutes: p.schedule.waitMinutes } : {}),
    },
    conversionEvent: p.conversionEvent,
    values: p.values,
    status: p.status,
    audienceSize: p.audienceSize ?? null,
    approvalId: p.approvalId ?? null,
    createdBy: p.createdBy,
    createdAt: p.createdAt.toISOString(),
    ...(progress ? { progress } : {}),
  };
}

const PreviewView = z.object({
  profileId: z.string(),
  tier: z.string(),
  variant: z.enum(['A', 'B']),
  follows: z.boolean(),
  consent: z.boolean(),
  content: z.number().int().nullable(),
  rendered: z
    .discriminatedUnion('kind', [
      z.object({
        kind: z.literal('template'),
        template: z.string(),
        title: z.string(),
        fields: z.array(z.object({ name: z.string(), value: z.string() })),
      }),
      z.object({ kind: z.literal('text'), text: z.string() }),
    ])
    .nullable(),
  problem: z.string().nullable(),
});

const ReportRowView = z.object({
  variant: z.enum(['A', 'B', 'total']),
  targeted: z.number(),
  passed: z.number(),
  queued: z.number(),
  notSent: z.number(),
  sent: z.number(),
  delivered: z.number(),
  failed: z.number(),
  clicked: z.number(),
  converted: z.number(),
  unfollowed: z.number(),
  skippedBy: z.record(z.string(), z.number()),
  gainFen: z.number(),
  harmFen: z.number(),
  costFen: z.number(),
  roi: z.number().nullable(),
});
const RunReportView = z.object({ runId: z.string(), startedAt: z.string(), rows: z.array(ReportRowView) }).nullable();
const TestView = z.object({
  controlRate: z.number(),
  treatmentRate: z.number(),
  difference: z.number(),
  relativeLift: z.number().nullable(),
  ci: z.object({ low: z.number().nullable(), high: z.number().nullable(), confidence: z.number() }),
  z: z.number(),
  pValue: z.number(),
  significant: z.boolean(),
  enoughSample: z.boolean(),
  verdict: z.enum(['treatment_better', 'control_better', 'no_significant_difference', 'insufficient_sample']),
});
const ComparisonView = z.object({ clickRate: TestView, conversionRate: TestView });
const ReportView = z.object({
  planId: z.string(),
  run: RunReportView,
  previous: RunReportView,
  runs: z.array(z.object({ runId: z.string(), startedAt: z.string() })),
  /** B (treatment) against A (control), with the sample-ratio check. */
  ab: ComparisonView.extend({
    sampleRatio: z.object({ pValue: z.number(), mismatch: z.boolean(), expected: z.array(z.number()) }),
  }).nullable(),
  /** This run (treatment) against the previous run of the plan (control). */
  vsPrevious: ComparisonView.nullable(),
});

// NaN (an empty arm's interval) is not JSON: it leaves as null.
const finite = (n: number) => (Number.isFinite(n) ? n : null);
const testView = (t: TwoProportionResult) => ({
  ...t,
  ci: { ...t.ci, low: finite(t.ci.low), high: finite(t.ci.high) },
});
const comparisonView = (c: Comparison) => ({
  clickRate: testView(c.clickRate),
  conversionRate: testView(c.conversionRate),
});

export function pushAdminRoutes(svc: PushService): AdminRoute[] {
  const tags = ['pushes'];
  const transition = (action: string, summary: string, act: (id: string) => Promise<PushPlanDoc>) =>
    adminRoute(
      {
        method: 'post',
        path: `/pushes/plans/:id/${action}`,
        permission: 'push:send',
        tags,
        summary,
        params: IdParams,
        response: PlanView,
        audit: { action: `push.plan.${action}`, targetType: 'push_plan' },
      },
      async (call) => {
        const plan = await act(call.params.id);
        call.audit.after = { status: plan.status };
        return present(plan);
      },
    );
  return [
    adminRoute(
      {
        method: 'post',
        path: '/pushes/plans',
        permission: 'push:send',
        tags,
        summary: 'Create a push plan (a draft); a retry with the same clientKey returns the first plan',
        body: PlanBody,
        response: PlanView,
        status: 201,
        audit: { action: 'push.plan.create', targetType: 'push_plan' },
      },
      async (call) => {
        const plan = await createPlan(call.principal, call.body);
        call.audit.targetId = plan._id.toString();
        call.audit.after = { name: plan.name, audienceId: plan.audienceId, schedule: plan.schedule.kind };
        return present(plan);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/pushes/plans',
        permission: 'push:send',
        tags,
        summary: 'List push plans',
        response: PlanList,
      },
      async () => ({ items: (await listPlans()).map((p) => present(p)) }),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/pushes/plans/:id',
        permission: 'push:send',
        tags,
        summary: 'A push plan with its progress (sends by state, runs, pending triggers)',
        params: IdParams,
        response: PlanView,
      },
      async (call) => {
        const plan = await loadPlan(call.params.id);
        return present(plan, await planProgress(plan));
      },
    ),
    adminRoute(
      {
        method: 'patch',
        path: '/pushes/plans/:id',
        permission: 'push:send',
        tags,
        summary: 'Change a plan before it starts (voids a pending approval)',
        params: IdParams,
        body: PlanUpdateBody,
        response: PlanView,
        audit: { action: 'push.plan.update', targetType: 'push_plan' },
      },
      async (call) => {
        const plan = await updatePlan(call.params.id, call.body);
        call.audit.after = { name: plan.name, status: plan.status };
        return present(plan);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/pushes/plans/:id/validation',
        permission: 'push:send',
        tags,
        summary: "Render every content for the plan's account: missing variables are listed",
        params: IdParams,
        response: ValidationView,
      },
      async (call) => {
        const problems = validatePlan(svc, await loadPlan(call.params.id));
        return { ok: problems.length === 0, problems };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/pushes/plans/:id/preview',
        permission: 'push:send',
        tags,
        summary: "What one customer would receive: their tier's content, their A/B variant, rendered",
        params: IdParams,
        body: z.object({ profileId: ObjectIdString }).strict(),
        response: PreviewView,
        // A POST is audited like every write, though it changes nothing: the entry says who looked at whom.
        audit: { action: 'push.plan.preview', targetType: 'push_plan' },
      },
      async (call) => {
        call.audit.targetId = call.params.id;
        call.audit.after = { profileId: call.body.profileId };
        return previewPlan(svc, await loadPlan(call.params.id), call.body.profileId);
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/pushes/plans/:id/start',
        permission: 'push:send',
        tags,
        summary: 'Start a plan; above the audience threshold the first call asks a second staff member to approve',
        params: IdParams,
        response: PlanView,
        audit: { action: 'push.plan.start', targetType: 'push_plan' },
      },
      async (call) => {
        const plan = await startPlan(svc, call.principal, call.params.id);
        call.audit.after = { status: plan.status, audienceSize: plan.audienceSize };
        return present(plan);
      },
    ),
    transition('pause', 'Pause a running plan', (id) => pausePlan(id)),
    transition('resume', 'Resume a paused plan from where it stopped', (id) => resumePlan(svc, id)),
    transition('cancel', 'Cancel a plan for good', (id) => cancelPlan(svc, id)),
    adminRoute(
      {
        method: 'get',
        path: '/pushes/plans/:id/report',
        permission: 'report:read',
        tags,
        summary: 'Funnel, outcomes and ROI per variant for a run (latest by default) and the run before it',
        params: IdParams,
        query: ReportQuery,
        response: ReportView,
      },
      async (call) => {
        const plan = await loadPlan(call.params.id);
        const report = await planReport(plan, call.query.runId);
        const iso = <T extends { startedAt: Date }>(r: T) => ({ ...r, startedAt: r.startedAt.toISOString() });
        return {
          planId: plan._id.toString(),
          run: report.run ? iso(report.run) : null,
          previous: report.previous ? iso(report.previous) : null,
          runs: report.runs.map(iso),
          ab: report.ab ? { ...comparisonView(report.ab), sampleRatio: report.ab.sampleRatio } : null,
          vsPrevious: report.vsPrevious ? comparisonView(report.vsPrevious) : null,
        };
      },
    ),
  ];
}

/** `GET /r/:code`: records the click and redirects to the plan's landing URL. */
export function trackingRoutes(svc: PushService): Router {
  const router = new Router();
  router.get('/r/:code', async (ctx) => {
    const target = await recordClick(svc, ctx.params.code ?? '');
    ctx.status = 302;
    ctx.redirect(target);
  });
  return router;
}
