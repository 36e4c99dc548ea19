/**
 * The CRM's Agenda jobs. Handlers are idempotent: enrichment pops openids from a Redis set, tag pushes pop
 * from a Redis list, and an import resumes from its checkpoint under a Redis lock.
 */
import type { Agenda } from '../infra/agenda.js';
import type { Crm } from './index.js';
import { toObjectId } from './profiles/family.js';

export const CRM_JOBS = {
  enrichFollowers: 'crm.enrich-followers',
  pushWechatTags: 'crm.push-wechat-tags',
  runImport: 'crm.run-import',
} as const;

export function defineCrmJobs(agenda: Agenda, crm: Crm): void {
  agenda.define(CRM_JOBS.enrichFollowers, async () => {
    await crm.followers.enrich();
  });
  agenda.define(CRM_JOBS.pushWechatTags, async () => {
    await crm.tags.pushToWechat(100);
  });
  agenda.define(CRM_JOBS.runImport, async (job) => {
    const { importId } = job.attrs.data as { importId: string };
    await crm.imports.run(toObjectId(importId));
  });
}

/** Recurring jobs (worker start-up): enrichment every 10 s keeps batchget well under WeChat's quota. */
export async function scheduleCrmJobs(agenda: Agenda): Promise<void> {
  await agenda.every('10 seconds', CRM_JOBS.enrichFollowers);
  await agenda.every('30 seconds', CRM_JOBS.pushWechatTags);
}
