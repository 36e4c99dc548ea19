/**
 * WeCom jobs: the nightly full contact sync of every corp (resumes an unfinished run), and the resume of
 * group-send tasks a crash, a refusal or a lost answer left unsent.
 */
import type { Agenda } from '../infra/agenda.js';
import type { WecomDeps } from './deps.js';
import { resumeGroupSends } from './groupsend-tasks.js';
import { runContactSync, WECOM_SYNC_JOB } from './sync.js';

export { WECOM_SYNC_JOB };
export const WECOM_RESUME_GROUP_SENDS_JOB = 'wecom.resume-group-sends';

export function defineWecomJobs(agenda: Agenda, deps: WecomDeps): void {
  agenda.define(WECOM_SYNC_JOB, async () => {
    for (const corp of deps.config.corps) await runContactSync(deps, corp.key);
  });
  agenda.define(WECOM_RESUME_GROUP_SENDS_JOB, async () => {
    for (const corp of deps.config.corps) await resumeGroupSends(deps, corp.key);
  });
}

export async function scheduleWecomJobs(agenda: Agenda, deps: WecomDeps): Promise<void> {
  if (deps.config.corps.length === 0) return;
  await agenda.every('0 3 * * *', WECOM_SYNC_JOB);
  // Every few minutes: a claim's lease (2 min) must pass before an unanswered call is reconciled.
  await agenda.every('5 minutes', WECOM_RESUME_GROUP_SENDS_JOB);
}
