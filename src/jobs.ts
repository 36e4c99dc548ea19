/**
 * Job definitions for worker processes: each domain's jobs.ts registers its Agenda jobs here.
 * Handlers are idempotent (Agenda's lock is not exclusive on FerretDB).
 */
import { defineRedEnvelopeJobs, scheduleRedEnvelopeJobs } from './campaigns/redenvelope/wiring.js';
import { defineReferralJobs, scheduleReferralJobs } from './campaigns/referral/wiring.js';
import { defineGatewayJobs } from './gateway/index.js';
import { defineReservationJobs, scheduleReservationJobs, startReservationDrains } from './reservations/jobs.js';
import { defineCrmJobs, scheduleCrmJobs } from './crm/jobs.js';
import { definePushJobs, schedulePushJobs } from './push/index.js';
import type { AppDeps } from './services.js';
import { defineStaffJobs, scheduleStaffJobs } from './staff/jobs.js';
import { defineWecomJobs, scheduleWecomJobs } from './wecom/index.js';

export function defineJobs(deps: AppDeps): void {
  // Domains register here, e.g. definePushJobs(deps).
  defineGatewayJobs({
    agenda: deps.agenda,
    logger: deps.logger,
    retentionDays: deps.config.callback.auditRetentionDays,
  });
  defineStaffJobs(deps.agenda);
  defineCrmJobs(deps.agenda, deps.crm);
  defineReservationJobs(deps.agenda, deps.reservations);
  defineRedEnvelopeJobs(deps.agenda, deps.redEnvelopes);
  defineReferralJobs(deps.agenda, deps.referrals);
  defineWecomJobs(deps.agenda, deps.wecomDomain);
  definePushJobs(deps.agenda, deps.push);
}

/** Recurring jobs, scheduled once the worker's job processor has started. */
export async function scheduleJobs(deps: AppDeps): Promise<void> {
  await scheduleStaffJobs(deps.agenda);
  await scheduleCrmJobs(deps.agenda);
  await scheduleReservationJobs(deps.agenda);
  await scheduleRedEnvelopeJobs(deps.agenda);
  await scheduleReferralJobs(deps.agenda, deps.referrals.settings);
  await scheduleWecomJobs(deps.agenda, deps.wecomDomain);
  await schedulePushJobs(deps.agenda);
}

/** Redis-queue drains that run beside Agenda in worker processes; returns the function that stops them. */
export function startDrains(deps: AppDeps): () => Promise<void> {
  deps.crmInbound.start();
  const stopReservations = startReservationDrains(deps.reservations);
  return async () => {
    await deps.crmInbound.stop();
    await stopReservations();
  };
}
