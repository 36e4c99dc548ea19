/** Appending to and reading the audit log. Entries are written by the admin route layer for every write. */
import { z } from 'zod';
import { ObjectIdString, IsoDateTime } from '../staff/api/schemas.js';
import { findPage, PageQuery, type Page } from '../staff/api/pagination.js';
import { AuditEntry, type AuditEntryDoc } from './model.js';

/** What the route layer appends: the entry without its id and time (set when it is written). */
export type AuditInput = Omit<AuditEntryDoc, '_id' | 'at'>;

export const AuditQuery = z
  .object({
    ...PageQuery,
    actorId: ObjectIdString.optional(),
    action: z
      .string()
      .regex(/^[a-z_]+\.[a-z_.]+$/)
      .max(64)
      .optional(),
    targetType: z
      .string()
      .regex(/^[a-z_]+$/)
      .max(32)
      .optional(),
    targetId: z.string().max(64).optional(),
    outcome: z.enum(['ok', 'denied', 'failed']).optional(),
    from: IsoDateTime.optional().meta({ description: 'entries at or after this time' }),
    to: IsoDateTime.optional().meta({ description: 'entries before this time' }),
  })
  .strict();
export type AuditQuery = z.infer<typeof AuditQuery>;

export const AuditEntryView = z
  .object({
    id: z.string(),
    at: IsoDateTime,
    action: z.string(),
    outcome: z.enum(['ok', 'denied', 'failed']),
    errorCode: z.string().optional(),
    actorId: z.string().optional(),
    actorUsername: z.string().optional(),
    targetType: z.string(),
    targetId: z.string().optional(),
    before: z.record(z.string(), z.unknown()).optional(),
    after: z.record(z.string(), z.unknown()).optional(),
    requestId: z.string(),
    ip: z.string(),
    route: z.string(),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntryView = z.infer<typeof AuditEntryView>;

function present(doc: Record<string, unknown>): AuditEntryView {
  const d = doc as unknown as AuditEntryDoc;
  return {
    id: d._id.toHexString(),
    at: d.at.toISOString(),
    action: d.action,
    outcome: d.outcome,
    errorCode: d.errorCode,
    actorId: d.actorId,
    actorUsername: d.actorUsername,
    targetType: d.targetType,
    targetId: d.targetId,
    before: d.before,
    after: d.after,
    requestId: d.requestId,
    ip: d.ip,
    route: d.route,
  };
}

export interface AuditLog {
  /** Appends one entry. */
  record(entry: AuditInput): Promise<void>;
  /** Entries matching the filters, newest first, one cursor page at a time. */
  list(query: AuditQuery): Promise<Page<AuditEntryView>>;
}

export function createAuditLog(now: () => Date = () => new Date()): AuditLog {
  return {
    async record(entry) {
      await AuditEntry.create({ ...entry, at: now() });
    },
    async list(query) {
      const filter: Record<string, unknown> = {};
      if (query.actorId) filter.actorId = query.actorId;
      if (query.action) filter.action = query.action;
      if (query.targetType) filter.targetType = query.targetType;
      if (query.targetId) filter.targetId = query.targetId;
      if (query.outcome) filter.outcome = query.outcome;
      if (query.from || query.to)
        filter.at = {
          ...(query.from ? { $gte: new Date(query.from) } : {}),
          ...(query.to ? { $lt: new Date(query.to) } : {}),
        };
      return findPage(AuditEntry, { filter, limit: query.limit, cursor: query.cursor, present });
    },
  };
}
