/**
 * Push plans: create (idempotent by client key), change while a draft, validate rendering, start (with
 * four-eyes approval above the audience threshold), pause, resume, cancel, and progress. Starting hands the
 * plan to Agenda (jobs.ts): once now, once at a time, on a cron in Asia/Shanghai, or per event.
 */
import mongoose, { Types } from 'mongoose';
import type { Agenda } from '../infra/agenda.js';
import type { PushConfig } from '../infra/config.js';
import { DomainError, isDuplicateKey } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import type { Approvals, Principal } from '../staff/index.js';
import type { PushDeps } from './delivery.js';
import { PushPlan, PushRun, PushSend, PushTrigger, type PlanStatus, type PushPlanDoc } from './model.js';
import { contentFor, recipients, variantOf } from './recipients.js';
import { contentProblems, type PlanBody, type PlanUpdateBody } from './schemas.js';
import { MissingVariables, renderTemplate, renderText } from './templates.js';

export const RUN_PLAN = 'push.run-plan';
export const RUN_RECURRING = 'push.run-recurring';

/** Everything the push domain needs, built once in services.ts. */
export interface PushService {
  delivery: PushDeps;
  agenda: Agenda;
  approvals: Approvals;
  config: PushConfig;
  publicBaseUrl: string;
  logger: Logger;
}

const notFound = () => new DomainError('not_found', 'push_plan_not_found', 'No such push plan.');

export async function loadPlan(id: string): Promise<PushPlanDoc> {
  if (!Types.ObjectId.isValid(id)) throw notFound();
  const plan = await PushPlan.findById(id).lean<PushPlanDoc>();
  if (!plan) throw notFound();
  return plan;
}

function scheduleOf(body: PlanBody['schedule']): PushPlanDoc['schedule'] {
  return body.kind === 'at' ? { kind: 'at', at: new Date(body.at) } : body;
}

/** Creates a draft plan; a retry with the same client key returns the first plan. */
export async function createPlan(principal: Principal, body: PlanBody): Promise<PushPlanDoc> {
  const { clientKey, schedule, ...rest } = body;
  try {
    const doc = await PushPlan.create({
      ...rest,
      ...(clientKey ? { clientKey } : {}),
      schedule: scheduleOf(schedule),
      status: 'draft',
      createdBy: principal.staffId,
      updatedAt: new Date(),
    });
    return doc.toObject();
  } catch (err) {
    if (!isDuplicateKey(err) || !clientKey) throw err;
    const first = await PushPlan.findOne({ clientKey }).lean<PushPlanDoc>();
    if (!first) throw err;
    return first;
  }
}

/** Changes a plan that has not started; a change voids a pending approval (it approved something else). */
export async function updatePlan(id: string, body: PlanUpdateBody): Promise<PushPlanDoc> {
  const plan = await loadPlan(id);
  if (plan.status !== 'draft' && plan.status !== 'awaiting_approval')
    throw new DomainError('conflict', 'push_plan_started', 'A plan can change only before it starts.');
  const { schedule, ...rest } = body;
  await PushPlan.updateOne(
    { _id: plan._id },
    {
      $set: {
        ...rest,
        ...(schedule ? { schedule: scheduleOf(schedule) } : {}),
        status: 'draft',
        updatedAt: new Date(),
      },
      $unset: { approvalId: 1 },
    },
  );
  return loadPlan(id);
}

export interface RenderProblem {
  content: number;
  kind: string;
  missing: string[];
  message: string;
}

type RenderedContent = NonNullable<PlanPreview['rendered']>;

/**
 * One content rendered for the plan's account exactly as a send renders it, or why it cannot be; undefined
 * when there is nothing to render (a content without its text or template, which contentProblems names).
 */
function renderContent(
  svc: Pick<PushService, 'delivery'>,
  plan: PushPlanDoc,
  content: PushPlanDoc['contents'][number],
): { rendered: RenderedContent } | { problem: string; missing: string[] } | undefined {
  try {
    if (plan.channel !== 'template')
      return content.text ? { rendered: { kind: 'text', text: renderText(content.text, content.vars) } } : undefined;
    if (!content.kind) return undefined;
    const template = svc.delivery.templates.get(content.kind);
    if (!template) return { problem: `no message template ${content.kind}`, missing: [] };
    const rendered = renderTemplate(template, plan.account, content.vars);
    return {
      rendered: {
        kind: 'template',
        template: template.kind,
        title: template.title,
        fields: Object.entries(rendered.data).map(([name, v]) => ({ name, value: v.value })),
      },
    };
  } catch (err) {
    if (err instanceof MissingVariables) return { problem: err.message, missing: err.missing };
    return { problem: (err as Error).message, missing: [] };
  }
}

/**
 * Renders every content of the plan for its account and channel: an unknown template, a missing text or
 * variable, or a channel this service cannot reach is a problem.
 */
export function validatePlan(svc: Pick<PushService, 'delivery'>, plan: PushPlanDoc): RenderProblem[] {
  const problems: RenderProblem[] = [];
  const problem = (index: number, kind: string, message: string, missing: string[] = []) =>
    problems.push({ content: index, kind, missing, message });
  if (plan.channel === 'wecom' && !svc.delivery.staff) problem(-1, '', 'WeCom is not configured on this service');
  if (plan.channel === 'customer_service' && !svc.delivery.customerService)
    problem(-1, '', 'customer-service pushes are not configured on this service');
  plan.contents.forEach((content, index) => {
    const kind = content.kind ?? '';
    for (const message of contentProblems(plan.channel, [content]))
      problem(index, kind, message.replace(/^content 0: /, ''));
    const out = renderContent(svc, plan, content);
    if (out && 'problem' in out) problem(index, kind, out.problem, out.missing);
  });
  if (plan.splitB > 0 && !plan.contents.some((c) => c.variant === 'B'))
    problem(-1, '', 'an A/B split needs at least one variant B content');
  return problems;
}

export interface PlanPreview {
  profileId: string;
  tier: string;
  variant: 'A' | 'B';
  /** Whether the customer follows the plan's account now and allows marketing (else nothing would go). */
  follows: boolean;
  consent: boolean;
  /** Index of the content this customer gets; null: no content covers their tier (nothing is sent). */
  content: number | null;
  rendered:
    | { kind: 'template'; template: string; title: string; fields: { name: string; value: string }[] }
    | { kind: 'text'; text: string }
    | null;
  problem: string | null;
}

/**
 * What one customer would receive from this plan: their tier picks the content, the deterministic split
 * picks the variant, and the content is rendered exactly as a send would render it.
 */
export async function previewPlan(
  svc: Pick<PushService, 'delivery'>,
  plan: PushPlanDoc,
  profileId: string,
): Promise<PlanPreview> {
  const exists = await mongoose.connection.db
    ?.collection('crm_profiles')
    .countDocuments({ _id: new Types.ObjectId(profileId) }, { limit: 1 });
  const [r] = await recipients(plan.account, [profileId], plan.channel === 'wecom' ? 'wecom' : 'wechat');
  if (!r || !exists) throw new DomainError('not_found', 'profile_not_found', 'No such customer.');
  const variant = variantOf(plan._id.toString(), profileId, plan.splitB);
  const content = contentFor(plan, r.tier, variant);
  const base = { profileId, tier: r.tier, variant, follows: Boolean(r.openid), consent: r.consent };
  if (!content) return { ...base, content: null, rendered: null, problem: null };
  const out = renderContent(svc, plan, content);
  return {
    ...base,
    content: plan.contents.indexOf(content),
    rendered: out && 'rendered' in out ? out.rendered : null,
    problem: out && 'problem' in out ? out.problem : null,
  };
}

async function setStatus(id: Types.ObjectId, from: PlanStatus[], to: PlanStatus, extra: Record<string, unknown> = {}) {
  const result = await PushPlan.updateOne(
    { _id: id, status: { $in: from } },
    { $set: { status: to, updatedAt: new Date(), ...extra } },
  );
  return result.modifiedCount > 0;
}

/** Records a run once (unique per plan and run id); true when this call created it. */
export async function ensureRun(planId: Types.ObjectId, runId: string, trigger: PushPlanDoc['schedule']['kind']) {
  try {
    await PushRun.create({ planId, runId, trigger, startedAt: new Date() });
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

async function schedule(svc: PushService, plan: PushPlanDoc): Promise<void> {
  const planId = plan._id.toString();
  const s = plan.schedule;
  if (s.kind === 'now') {
    await ensureRun(plan._id, 'once', 'now');
    await svc.agenda.now(RUN_PLAN, { planId, runId: 'once' });
  } else if (s.kind === 'at') {
    await svc.agenda.schedule(s.at ?? new Date(), RUN_PLAN, { planId, runId: 'once' });
  } else if (s.kind === 'cron') {
    await svc.agenda
      .create(RUN_RECURRING, { planId })
      .repeatEvery(s.cron ?? '0 9 * * 1', { timezone: 'Asia/Shanghai', skipImmediate: true })
      .unique({ 'data.planId': planId })
      .save();
  }
  // Event plans need nothing here: the event scanner (triggers.ts) watches running event plans.
}

/**
 * Starts a plan: its contents must render; above the audience threshold a second staff member must have
 * approved it (the first call asks for the approval and leaves the plan awaiting it).
 */
export async function startPlan(svc: PushService, principal: Principal, id: string): Promise<PushPlanDoc> {
  const plan = await loadPlan(id);
  if (plan.status === 'running') return plan;
  if (!['draft', 'awaiting_approval', 'approved'].includes(plan.status))
    throw new DomainError('conflict', 'push_plan_not_startable', `A ${plan.status} plan cannot start.`);
  const problems = validatePlan(svc, plan);
  if (problems.length > 0)
    throw new DomainError('invalid', 'push_not_renderable', 'Some contents cannot be rendered.', { problems });

  const audienceSize = (await svc.delivery.members(plan.audienceId)).size;
  const subject = { action: 'push.send', subjectType: 'push_plan', subjectId: id };
  if (svc.approvals.needsPushApproval(audienceSize)) {
    const current = plan.approvalId ? await svc.approvals.get(plan.approvalId) : undefined;
    if (current?.status === 'pending')
      throw new DomainError('conflict', 'push_awaiting_approval', 'The plan awaits a second staff member.', {
        approvalId: current.id,
      });
    if (current?.status !== 'approved') {
      const request = await svc.approvals.request(principal, {
        ...subject,
        summary: { audienceSize, title: plan.name, account: plan.account },
        permission: 'push:approve',
        idempotencyKey: `${id}:${plan.updatedAt?.getTime() ?? 0}:${current?.id ?? ''}`,
      });
      await setStatus(plan._id, ['draft', 'awaiting_approval', 'approved'], 'awaiting_approval', {
        approvalId: request.id,
        audienceSize,
      });
      return loadPlan(id);
    }
    await svc.approvals.assertApproved(current.id, subject);
  }
  if (
    !(await setStatus(plan._id, ['draft', 'awaiting_approval', 'approved'], 'running', {
      audienceSize,
      startedAt: new Date(),
    }))
  )
    return loadPlan(id); // someone else started it
  await schedule(svc, { ...plan, status: 'running' });
  svc.logger.info({ planId: id, audienceSize, schedule: plan.schedule.kind }, 'push plan started');
  return loadPlan(id);
}

/** Pauses a running plan: the current run stops at its next batch; sends already made stay. */
export async function pausePlan(id: string): Promise<PushPlanDoc> {
  const plan = await loadPlan(id);
  if (plan.status !== 'paused' && !(await setStatus(plan._id, ['running'], 'paused')))
    throw new DomainError('conflict', 'push_plan_not_running', `A ${plan.status} plan cannot pause.`);
  return loadPlan(id);
}

/** Resumes a paused plan: its unfinished runs continue from their send records. */
export async function resumePlan(svc: PushService, id: string): Promise<PushPlanDoc> {
  const plan = await loadPlan(id);
  if (plan.status === 'running') return plan;
  if (!(await setStatus(plan._id, ['paused'], 'running')))
    throw new DomainError('conflict', 'push_plan_not_paused', `A ${plan.status} plan cannot resume.`);
  const latest = await PushRun.findOne({ planId: plan._id }).sort({ startedAt: -1 }).lean();
  if (latest) await svc.agenda.now(RUN_PLAN, { planId: id, runId: latest.runId });
  return loadPlan(id);
}

/** Cancels a plan for good: no further sends, recurring runs removed. */
export async function cancelPlan(svc: PushService, id: string): Promise<PushPlanDoc> {
  const plan = await loadPlan(id);
  if (plan.status === 'cancelled') return plan;
  if (!(await setStatus(plan._id, ['draft', 'awaiting_approval', 'approved', 'running', 'paused'], 'cancelled')))
    throw new DomainError('conflict', 'push_plan_finished', `A ${plan.status} plan cannot be cancelled.`);
  await svc.agenda.cancel({ name: RUN_RECURRING, data: { planId: id } });
  return loadPlan(id);
}

export interface PlanProgress {
  runs: number;
  targeted: number;
  byState: Record<string, number>;
  pendingTriggers: number;
}

/** Where a plan stands: runs, and its send records by state (reserved = in flight). */
export async function planProgress(plan: PushPlanDoc): Promise<PlanProgress> {
  const [runs, states, pendingTriggers] = await Promise.all([
    PushRun.countDocuments({ planId: plan._id }),
    PushSend.aggregate<{ _id: string; n: number }>([
      { $match: { planId: plan._id } },
      { $group: { _id: '$state', n: { $sum: 1 } } },
    ]),
    PushTrigger.countDocuments({ planId: plan._id, state: 'pending' }),
  ]);
  const byState = Object.fromEntries(states.map((s) => [s._id, s.n]));
  return { runs, targeted: states.reduce((sum, s) => sum + s.n, 0), byState, pendingTriggers };
}

export async function listPlans(): Promise<PushPlanDoc[]> {
  return PushPlan.find({}).sort({ createdAt: -1 }).limit(200).lean<PushPlanDoc[]>();
}
