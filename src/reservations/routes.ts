/**
 * Reservation admin API: programs (create, watch, close, issue), a customer's codes (masked; staff look
 * codes up by owner, never by typing them), revocation, and verification at purchase by service agents.
 */
import { adminRoute, CsvStream, type AdminRoute } from '../staff/index.js';
import {
  closeProgram,
  codesOfOwner,
  createProgram,
  exportProgramCsv,
  getProgram,
  issueCodes,
  listPrograms,
  programStats,
  redeemCode,
  revokeCode,
  type CodeView as CodeViewData,
  type Program,
  type ProgramStats,
  type ReservationDeps,
} from './service.js';
import {
  CodeList,
  CodeParams,
  CustomerParams,
  IssueBody,
  IssueView,
  ProgramBody,
  ProgramList,
  ProgramParams,
  ProgramView,
  RedeemBody,
  RedemptionView,
  RevokeBody,
} from './schemas.js';

function presentProgram(p: Program, stats?: ProgramStats) {
  return {
    id: p._id,
    name: p.name,
    description: p.description ?? '',
    productRef: p.productRef ?? '',
    quota: p.quota,
    eligibility: {
      ...(p.eligibility?.tiers?.length ? { tiers: p.eligibility.tiers } : {}),
      ...(p.eligibility?.verification ? { verification: p.eligibility.verification } : {}),
      ...(p.eligibility?.audienceId ? { audienceId: p.eligibility.audienceId } : {}),
    },
    issueFrom: p.issueFrom.toISOString(),
    issueUntil: p.issueUntil.toISOString(),
    redeemFrom: p.redeemFrom.toISOString(),
    redeemUntil: p.redeemUntil.toISOString(),
    perCustomerLimit: p.perCustomerLimit,
    issueMode: p.issueMode,
    bound: p.bound,
    status: p.status ?? 'active',
    ...(stats ? { stats } : {}),
  };
}

function presentCode(c: CodeViewData) {
  return {
    codeId: c.codeId,
    programId: c.programId,
    programName: c.programName,
    masked: c.masked,
    status: c.status,
    expiresAt: c.expiresAt.toISOString(),
    issuedAt: c.issuedAt.toISOString(),
    ...(c.outcome ? { outcome: { ...c.outcome, at: c.outcome.at.toISOString() } } : {}),
    notices: c.notices.map((n) => ({ ...n, at: n.at.toISOString() })),
  };
}

export function reservationAdminRoutes(deps: ReservationDeps): AdminRoute[] {
  const tags = ['reservations'];
  return [
    adminRoute(
      {
        method: 'post',
        path: '/reservations/programs',
        permission: 'reservation:manage',
        tags,
        summary: 'Create a reservation program',
        body: ProgramBody,
        response: ProgramView,
        status: 201,
        audit: { action: 'reservation.program.create', targetType: 'reservation_program' },
      },
      async (call) => {
        const b = call.body;
        const program = await createProgram(
          deps,
          {
            ...b,
            issueFrom: new Date(b.issueFrom),
            issueUntil: new Date(b.issueUntil),
            redeemFrom: new Date(b.redeemFrom),
            redeemUntil: new Date(b.redeemUntil),
          },
          call.principal.staffId,
        );
        call.audit.targetId = program._id;
        call.audit.after = { name: program.name, quota: program.quota, issueMode: program.issueMode };
        return presentProgram(program);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/reservations/programs',
        permission: 'reservation:manage',
        tags,
        summary: 'List reservation programs',
        response: ProgramList,
      },
      async () => ({ items: (await listPrograms()).map((p) => presentProgram(p)) }),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/reservations/programs/:id',
        permission: 'reservation:manage',
        tags,
        summary: 'A program with its issued, redeemed, revoked and expired counts',
        params: ProgramParams,
        response: ProgramView,
      },
      async (call) => presentProgram(await getProgram(call.params.id), await programStats(deps, call.params.id)),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/reservations/programs/:id/close',
        permission: 'reservation:manage',
        tags,
        summary: 'Stop issuing codes (issued codes stay valid until they expire)',
        params: ProgramParams,
        response: ProgramView,
        audit: { action: 'reservation.program.close', targetType: 'reservation_program' },
      },
      async (call) => presentProgram(await closeProgram(call.params.id)),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/reservations/programs/:id/issue',
        permission: 'reservation:manage',
        tags,
        summary: 'Issue codes to listed customers (push mode); customers already holding one keep it',
        params: ProgramParams,
        body: IssueBody,
        response: IssueView,
        audit: { action: 'reservation.codes.issue', targetType: 'reservation_program' },
      },
      async (call) => {
        const summary = await issueCodes(deps, call.params.id, call.body.profileIds);
        call.audit.after = { ...summary };
        return summary;
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/reservations/programs/:id/export',
        permission: 'reservation:manage',
        tags,
        summary: "A program's codes (masked), owners and outcomes as CSV for finance and audit (streamed; audited)",
        params: ProgramParams,
        response: CsvStream,
        audit: { action: 'reservation.program.export', targetType: 'reservation_program' },
      },
      async (call) => {
        await getProgram(call.params.id);
        return exportProgramCsv(deps, call.params.id);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/reservations/customers/:profileId/codes',
        permission: 'reservation:verify',
        tags,
        summary: "A customer's codes with their history (masked)",
        params: CustomerParams,
        response: CodeList,
      },
      async (call) => ({
        items: (await codesOfOwner(deps, call.params.profileId, { reveal: false })).map(presentCode),
      }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/reservations/codes/:id/revoke',
        permission: 'reservation:manage',
        tags,
        summary: 'Revoke an unused code',
        params: CodeParams,
        body: RevokeBody,
        audit: { action: 'reservation.code.revoke', targetType: 'reservation_code' },
      },
      async (call) => {
        await revokeCode(deps, { codeId: call.params.id, staffId: call.principal.staffId, reason: call.body.reason });
        call.audit.after = { reason: call.body.reason };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/reservations/redeem',
        permission: 'reservation:verify',
        tags,
        summary: 'Verify and redeem a code at purchase (exactly once; retries with the same request id agree)',
        body: RedeemBody,
        response: RedemptionView,
        audit: { action: 'reservation.code.redeem', targetType: 'reservation_code' },
      },
      async (call) => {
        const redemption = await redeemCode(deps, {
          code: call.body.code,
          channel: 'admin',
          ...(call.body.profileId ? { profileId: call.body.profileId } : {}),
          actor: `staff:${call.principal.staffId}`,
          ...(call.body.orderRef ? { orderRef: call.body.orderRef } : {}),
          idempotencyKey: `admin:${call.principal.staffId}:${call.body.orderRef ?? call.requestId}`,
          throttle: [`ip:${call.ip}`],
        });
        call.audit.targetId = redemption.codeId;
        call.audit.after = { masked: redemption.masked, orderRef: redemption.orderRef };
        return { ...redemption, at: redemption.at.toISOString() };
      },
    ),
  ];
}
