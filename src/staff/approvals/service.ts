/**
 * Four-eyes approvals for large actions. Push and campaign services ask `needsPushApproval(size)` /
 * `needsCampaignApproval(budgetFen)`; when true they `request(...)` an approval and, before acting,
 * `assertApproved(...)`. A second staff member holding the named permission approves or rejects;
 * the requester never can; requests expire after APPROVAL_TTL_SECONDS.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import { IsoDateTime, ObjectIdString } from '../api/schemas.js';
import { findPage, PageQuery, type Page } from '../api/pagination.js';
import type { Permission } from '../permissions.js';
import type { Principal } from '../principal.js';
import { Approval, ApprovalDecision, type ApprovalDoc, type ApprovalStatus } from './model.js';

export interface ApprovalSettings {
  pushAudienceThreshold: number;
  campaignBudgetFenThreshold: number;
  ttlSeconds: number;
}

export const ApprovalView = z
  .object({
    id: z.string(),
    action: z.string(),
    subjectType: z.string(),
    subjectId: z.string(),
    summary: z.record(z.string(), z.unknown()),
    permission: z.string(),
    status: z.enum(['pending', 'approved', 'rejected', 'expired']),
    requestedBy: z.string(),
    requestedByUsername: z.string(),
    requestedAt: IsoDateTime,
    expiresAt: IsoDateTime,
    decidedBy: z.string().nullable(),
    decidedAt: IsoDateTime.nullable(),
    reason: z.string().nullable(),
  })
  .meta({ id: 'Approval' });
export type ApprovalView = z.infer<typeof ApprovalView>;

export const ApprovalListQuery = z
  .object({ ...PageQuery, status: z.enum(['pending', 'approved', 'rejected', 'expired']).optional() })
  .strict();
export type ApprovalListQuery = z.infer<typeof ApprovalListQuery>;

export const DecisionBody = z.object({ reason: z.string().trim().max(500).optional() }).strict();

export interface ApprovalRequest {
  action: string;
  subjectType: string;
  subjectId: string;
  summary: Record<string, unknown>;
  /** The approver's permission, e.g. 'push:approve'. */
  permission: Permission;
  /** Makes a retried request return the first one; defaults to a fresh id. */
  idempotencyKey?: string;
}

export interface Approvals {
  needsPushApproval(audienceSize: number): boolean;
  needsCampaignApproval(budgetFen: number): boolean;
  request(by: Principal, input: ApprovalRequest): Promise<ApprovalView>;
  approve(by: Principal, id: string, reason?: string): Promise<ApprovalView>;
  reject(by: Principal, id: string, reason?: string): Promise<ApprovalView>;
  get(id: string): Promise<ApprovalView>;
  list(query: ApprovalListQuery): Promise<Page<ApprovalView>>;
  /** Throws forbidden `approval_required` unless this approval is approved for this action and subject. */
  assertApproved(id: string, expect: { action: string; subjectType: string; subjectId: string }): Promise<void>;
}

export function createApprovals(settings: ApprovalSettings, now: () => Date = () => new Date()): Approvals {
  function effectiveStatus(doc: ApprovalDoc): ApprovalStatus {
    if (doc.status === 'pending' && doc.expiresAt <= now()) return 'expired';
    return doc.status;
  }

  function present(raw: ApprovalDoc | Record<string, unknown>): ApprovalView {
    const d = raw as ApprovalDoc;
    return {
      id: d._id.toHexString(),
      action: d.action,
      subjectType: d.subjectType,
      subjectId: d.subjectId,
      summary: d.summary ?? {},
      permission: d.permission,
      status: effectiveStatus(d),
      requestedBy: d.requestedBy,
      requestedByUsername: d.requestedByUsername,
      requestedAt: d.requestedAt.toISOString(),
      expiresAt: d.expiresAt.toISOString(),
      decidedBy: d.decidedBy ?? null,
      decidedAt: d.decidedAt ? d.decidedAt.toISOString() : null,
      reason: d.reason ?? null,
    };
  }

  async function load(id: string): Promise<ApprovalDoc> {
    if (!ObjectIdString.safeParse(id).success) throw notFound();
    const doc = await Approval.findById(id).lean();
    if (!doc) throw notFound();
    // The decision document is the truth; the status copy may lag a crash between the two writes.
    if (doc.status === 'pending') {
      const decision = await ApprovalDecision.findOne({ approvalId: id }).lean();
      if (decision)
        return {
          ...doc,
          status: decision.decision,
          decidedBy: decision.by,
          decidedAt: decision.at,
          reason: decision.reason,
        };
    }
    return doc;
  }
  function notFound(): DomainError {
    return new DomainError('not_found', 'approval_not_found', 'No such approval request.');
  }

  async function decide(by: Principal, id: string, decision: 'approved' | 'rejected', reason?: string) {
    const doc = await load(id);
    if (!by.permissions.has(doc.permission as Permission))
      throw new DomainError('forbidden', 'permission_denied', `Deciding this needs the ${doc.permission} permission.`, {
        permission: doc.permission,
      });
    if (doc.requestedBy === by.staffId)
      throw new DomainError(
        'forbidden',
        'four_eyes_required',
        'A different staff member must decide your own request.',
      );
    const status = effectiveStatus(doc);
    if (status === 'expired') throw new DomainError('conflict', 'approval_expired', 'This request has expired.');
    if (status !== 'pending')
      throw new DomainError('conflict', 'approval_decided', `This request was already ${status}.`);
    const at = now();
    try {
      await ApprovalDecision.create({ approvalId: id, decision, by: by.staffId, byUsername: by.username, at, reason });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      throw new DomainError('conflict', 'approval_decided', 'Someone decided this request a moment ago.');
    }
    await Approval.updateOne(
      { _id: doc._id },
      { $set: { status: decision, decidedBy: by.staffId, decidedAt: at, reason } },
    );
    return present(await load(id));
  }

  return {
    needsPushApproval: (size) => size > settings.pushAudienceThreshold,
    needsCampaignApproval: (budgetFen) => budgetFen > settings.campaignBudgetFenThreshold,
    async request(by, input) {
      const requestKey = `${input.action}:${input.subjectType}:${input.subjectId}:${input.idempotencyKey ?? randomUUID()}`;
      const at = now();
      try {
        const doc = await Approval.create({
          action: input.action,
          subjectType: input.subjectType,
          subjectId: input.subjectId,
          summary: input.summary,
          permission: input.permission,
          requestKey,
          requestedBy: by.staffId,
          requestedByUsername: by.username,
          requestedAt: at,
          expiresAt: new Date(at.getTime() + settings.ttlSeconds * 1000),
          status: 'pending',
        });
        return present(doc.toObject());
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const first = await Approval.findOne({ requestKey }).lean();
        if (!first) throw err;
        return present(first);
      }
    },
    approve: (by, id, reason) => decide(by, id, 'approved', reason),
    reject: (by, id, reason) => decide(by, id, 'rejected', reason),
    async get(id) {
      return present(await load(id));
    },
    async list(query) {
      const filter: Record<string, unknown> = {};
      const at = now();
      // Expiry is computed, not stored (no TTL indexes on FerretDB, and no sweeper needed).
      if (query.status === 'pending') Object.assign(filter, { status: 'pending', expiresAt: { $gt: at } });
      else if (query.status === 'expired') Object.assign(filter, { status: 'pending', expiresAt: { $lte: at } });
      else if (query.status) filter.status = query.status;
      return findPage(Approval, { filter, limit: query.limit, cursor: query.cursor, present });
    },
    async assertApproved(id, expect) {
      const doc = await load(id).catch((err: unknown) => {
        if (err instanceof DomainError && err.code === 'approval_not_found') return undefined;
        throw err;
      });
      if (
        !doc ||
        doc.status !== 'approved' ||
        doc.action !== expect.action ||
        doc.subjectType !== expect.subjectType ||
        doc.subjectId !== expect.subjectId
      )
        throw new DomainError('forbidden', 'approval_required', 'This action needs an approved four-eyes request.', {
          approvalId: id,
        });
    },
  };
}
