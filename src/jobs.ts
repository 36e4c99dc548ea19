/**
 * Job definitions for worker processes: each domain's jobs.ts registers its Agenda jobs here.
 * Handlers are idempotent (Agenda's lock is not exclusive on FerretDB).
 */
import type { AppDeps } from './services.js';

export function defineJobs(_deps: AppDeps): void {
  // Domains register here, e.g. definePushJobs(deps).
}
