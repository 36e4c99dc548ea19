/**
 * Push jobs. Handlers are idempotent: a run resumes from its unique send records, so a job run twice
 * (Agenda's lock is not exclusive on FerretDB) or after a crash sends nobody a second copy.
 */
import type { Agenda, Job } from '../infra/agenda.js';
import { pruneReceipts, runPlan } from './delivery.js';
import { PushPlan } from './model.js';
import { ensureRun, RUN_PLAN, RUN_RECURRING, type PushService } from './plans.js';
import { scanConversions } from './tracking.js';
import { fireDueTriggers, scanTriggers } from './triggers.js';
import { refreshStaffSends } from './wecom-channel.js';

export const SCAN_EVENTS = 'push.scan-events';
/** WeCom plans: hand over stragglers and pull the members' group-send results into the funnel. */
export const REFRESH_STAFF_SENDS = 'push.refresh-staff-sends';

interface RunData {
  planId: string;
  runId: string;
}

/** The run id of a cron tick: the scheduled minute in Asia/Shanghai, the same for every worker. */
export function cronRunId(at: Date): string {
  const local = new Date(at.getTime() + 8 * 3_600_000);
  return `cron-${local.toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;
}

/** Runs (or resumes) a run; a deferred pass (quiet hours, WeChat refusing) is picked up again later. */
export async function runPlanJob(svc: PushService, data: RunData, trigger: 'now' | 'at' | 'cron' = 'now') {
  const plan = await PushPlan.findById(data.planId, { status: 1, schedule: 1 }).lean();
  if (!plan || plan.status !== 'running') return;
  await ensureRun(plan._id, data.runId, trigger);
  const summary = await runPlan(svc.delivery, data.planId, data.runId);
  if (summary.deferred) {
    await svc.agenda.schedule(new Date(Date.now() + 5 * 60_000), RUN_PLAN, data);
    return;
  }
  // A one-off plan is done once its run finished while it was still running (not paused meanwhile).
  if (plan.schedule.kind === 'now' || plan.schedule.kind === 'at')
    await PushPlan.updateOne({ _id: plan._id, status: 'running' }, { $set: { status: 'done', updatedAt: new Date() } });
}

export function definePushJobs(agenda: Agenda, svc: PushService): void {
  agenda.define(RUN_PLAN, async (job: Job<RunData>) => {
    await runPlanJob(svc, job.attrs.data, job.attrs.data.runId === 'once' ? 'now' : 'cron');
  });
  agenda.define(RUN_RECURRING, async (job: Job<{ planId: string }>) => {
    const tick = job.attrs.lastRunAt ?? new Date();
    await runPlanJob(svc, { planId: job.attrs.data.planId, runId: cronRunId(tick) }, 'cron');
  });
  agenda.define(SCAN_EVENTS, async () => {
    const now = new Date();
    const triggers = await scanTriggers(svc, now);
    const fired = await fireDueTriggers(svc, now);
    const conversions = await scanConversions(svc, now);
    if (triggers + fired + conversions > 0) svc.logger.info({ triggers, fired, conversions }, 'push events scanned');
  });
  agenda.define(REFRESH_STAFF_SENDS, async () => {
    const now = new Date();
    const waves = await refreshStaffSends(svc.delivery, now);
    if (waves > 0) svc.logger.info({ waves }, 'push staff group sends refreshed');
    await pruneReceipts(now);
  });
}

export async function schedulePushJobs(agenda: Agenda): Promise<void> {
  await agenda.every('1 minute', SCAN_EVENTS);
  await agenda.every('10 minutes', REFRESH_STAFF_SENDS);
}
