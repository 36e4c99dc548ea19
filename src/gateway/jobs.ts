/**
 * Audit retention: FerretDB has no TTL index, so a daily job deletes audit records older than
 * WECHAT_CALLBACK_AUDIT_RETENTION_DAYS. Idempotent (a delete by date), safe to run twice.
 */
import type { Agenda } from '../infra/agenda.js';
import type { Logger } from '../infra/logger.js';
import { InboundAuditModel } from './model.js';

export const PRUNE_INBOUND_AUDIT = 'gateway.prune-inbound-audit';

/** Deletes audit records received before now − retentionDays; returns how many went. */
export async function pruneInboundAudit(retentionDays: number, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const result = await InboundAuditModel.deleteMany({ receivedAt: { $lt: cutoff } });
  return result.deletedCount;
}

export function defineGatewayJobs(deps: { agenda: Agenda; logger: Logger; retentionDays: number }): void {
  deps.agenda.define(PRUNE_INBOUND_AUDIT, async () => {
    const deleted = await pruneInboundAudit(deps.retentionDays);
    deps.logger.info({ deleted, job: PRUNE_INBOUND_AUDIT }, 'inbound audit pruned');
  });
  // every() upserts one recurring job by name: calling it from each worker is harmless.
  deps.agenda
    .every('1 day', PRUNE_INBOUND_AUDIT)
    .catch((err: unknown) => deps.logger.error({ err, job: PRUNE_INBOUND_AUDIT }, 'could not schedule job'));
}
