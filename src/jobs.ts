/**
 * Job definitions for worker processes: each domain's jobs.ts registers its Agenda jobs here.
 * Handlers are idempotent (Agenda's lock is not exclusive on FerretDB).
 */
import { defineCrmJobs, scheduleCrmJobs } from './crm/jobs.js';
import type { AppDeps } from './services.js';

export function defineJobs(deps: AppDeps): void {
  // Domains register here, e.g. definePushJobs(deps).
  defineCrmJobs(deps.agenda, deps.crm);
  scheduleCrmJobs(deps.agenda).catch((err: unknown) =>
    deps.logger.error({ err: { message: (err as Error).message } }, 'crm: scheduling recurring jobs failed'),
  );
}
