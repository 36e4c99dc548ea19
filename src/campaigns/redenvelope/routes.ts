/**
 * Red-envelope admin API: campaigns (create, approve by a second staff member, start, pause, end), their
 * live numbers (claims, paid, in flight, failed, budget left, risk decisions by rule), the risk review queue,
 * and payout cases (failed payouts staff retry once the cause is fixed).
 */
import { z } from 'zod';
import { DomainError } from '../../infra/errors.js';
import { adminRoute, IsoDateTime, ObjectIdString, type AdminRoute } from '../../staff/index.js';
import { RedEnvelopeCampaign, RedEnvelopeClaim, RedEnvelopeDecision, type ClaimDoc } from './model.js';
import { budgetReport, retryFailedPayout } from './payouts.js';
import {
  approveCampaign,
  createCampaign,
  decideReview,
  endCampaign,
  getCampaign,
  pauseCampaign,
  startCampaign,
  type Campaign,
  type RedEnvelopeDeps,
} from './service.js';

const Fen = z.number().int().positive().max(100_000_000);
const PrizeBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), amountFen: Fen, count: z.number().int().positive().max(1_000_000) }).strict(),
  z
    .object({ kind: z.literal('random'), minFen: Fen, maxFen: Fen, count: z.number().int().positive().max(1_000_000) })
    .strict(),
  z
    .object({
      kind: z.literal('tiers'),
      tiers: z
        .array(z.object({ amountFen: Fen, count: z.number().int().positive() }).strict())
        .min(1)
        .max(20),
    })
    .strict(),
]);

const CampaignBody = z
  .object({
    name: z.string().min(1).max(60),
    accounts: z
      .array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/))
      .min(1)
      .max(20),
    startAt: IsoDateTime,
    endAt: IsoDateTime,
    budgetFen: Fen,
    prize: PrizeBody,
    drawChance: z.number().gt(0).max(1).optional(),
    perCustomerTotal: z.number().int().min(1).max(100).optional(),
    perCustomerPerDay: z.number().int().min(1).max(100).optional(),
    eligibility: z
      .object({
        tiers: z.array(z.string().min(1).max(32)).max(20).optional(),
        verification: z.string().min(1).max(40).optional(),
        audienceId: ObjectIdString.optional(),
        event: z
          .object({
            type: z.string().regex(/^[a-z][a-z0-9_.:-]{0,63}$/),
            minAmountFen: z.number().int().nonnegative().optional(),
            from: z.string().max(40).optional(),
            until: z.string().max(40).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    entries: z.array(z.enum(['keyword', 'menu', 'qr', 'h5', 'api'])).min(1),
    keyword: z.string().min(1).max(20).optional(),
    menuKey: z.string().min(1).max(64).optional(),
    breakerClaimsPerMinute: z.number().int().nonnegative().optional(),
    breakerFailureRate: z.number().min(0).max(1).optional(),
  })
  .strict();

const CampaignParams = z.object({ id: z.string().regex(/^re_[0-9a-f]{20}$/) }).strict();
const ReasonBody = z.object({ reason: z.string().min(1).max(200) }).strict();
const IdParams = z.object({ id: ObjectIdString }).strict();

const Numbers = z.object({
  budgetFen: z.number().int(),
  wonFen: z.number().int(),
  paidFen: z.number().int(),
  inFlightFen: z.number().int(),
  failedFen: z.number().int(),
  leftFen: z.number().int(),
  claims: z.number().int(),
  lost: z.number().int(),
  riskDecisions: z.record(z.string(), z.number().int()),
  invariantOk: z.boolean(),
});
const CampaignView = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  statusReason: z.string().optional(),
  accounts: z.array(z.string()),
  startAt: IsoDateTime,
  endAt: IsoDateTime,
  budgetFen: z.number().int(),
  envelopes: z.number().int(),
  keyword: z.string().optional(),
  createdBy: z.string(),
  approvedBy: z.string().optional(),
  numbers: Numbers.optional(),
});

function present(c: Campaign, numbers?: z.input<typeof Numbers>): z.input<typeof CampaignView> {
  return {
    id: c._id,
    name: c.name,
    status: c.status,
    ...(c.statusReason ? { statusReason: c.statusReason } : {}),
    accounts: c.accounts,
    startAt: c.startAt.toISOString(),
    endAt: c.endAt.toISOString(),
    budgetFen: c.budgetFen,
    envelopes: c.envelopes,
    ...(c.keyword ? { keyword: c.keyword } : {}),
    createdBy: c.createdBy,
    ...(c.approvedBy ? { approvedBy: c.approvedBy } : {}),
    ...(numbers ? { numbers } : {}),
  };
}

async function numbersOf(deps: RedEnvelopeDeps, campaign: Campaign): Promise<z.input<typeof Numbers>> {
  const [report, lost, decisions] = await Promise.all([
    budgetReport(deps, campaign._id),
    RedEnvelopeClaim.countDocuments({ campaignId: campaign._id, outcome: 'lost' }),
    RedEnvelopeDecision.find({ campaignId: campaign._id }, { rules: 1 }).lean<{ rules: { rule: string }[] }[]>(),
  ]);
  const riskDecisions: Record<string, number> = {};
  for (const d of decisions) for (const r of d.rules) riskDecisions[r.rule] = (riskDecisions[r.rule] ?? 0) + 1;
  return {
    budgetFen: report.budgetFen,
    wonFen: report.wonFen,
    paidFen: report.paidFen,
    inFlightFen: report.inFlightFen,
    failedFen: report.failedFen,
    leftFen: report.deckFen - report.wonFen,
    claims: report.wonCount,
    lost,
    riskDecisions,
    invariantOk: report.ok,
  };
}

const CaseView = z.object({
  claimId: z.string(),
  campaignId: z.string(),
  profileId: z.string(),
  amountFen: z.number().int(),
  failReason: z.string().optional(),
  lastError: z.string().optional(),
  wonAt: IsoDateTime,
});

export function redEnvelopeAdminRoutes(deps: RedEnvelopeDeps): AdminRoute[] {
  const tags = ['red-envelopes'];
  const base = '/campaigns/red-envelopes';
  return [
    adminRoute(
      {
        method: 'post',
        path: base,
        permission: 'campaign:manage',
        tags,
        summary: 'Create a draft red-envelope campaign (prizes checked against the budget)',
        body: CampaignBody,
        response: CampaignView,
        status: 201,
        audit: { action: 'redenvelope.campaign.create', targetType: 'red_envelope_campaign' },
      },
      async (call) => {
        const b = call.body;
        const campaign = await createCampaign(
          { ...b, startAt: new Date(b.startAt), endAt: new Date(b.endAt) },
          call.principal.staffId,
        );
        call.audit.targetId = campaign._id;
        call.audit.after = { name: campaign.name, budgetFen: campaign.budgetFen };
        return present(campaign);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: base,
        permission: 'campaign:manage',
        tags,
        summary: 'List campaigns, newest first',
        response: z.object({ items: z.array(CampaignView) }),
      },
      async () => ({
        items: (await RedEnvelopeCampaign.find({}).sort({ createdAt: -1 }).limit(100).lean<Campaign[]>()).map((c) =>
          present(c),
        ),
      }),
    ),
    adminRoute(
      {
        method: 'get',
        path: `${base}/:id`,
        permission: 'campaign:manage',
        tags,
        summary: 'A campaign with its live numbers (claims, paid, in flight, failed, budget left, risk decisions)',
        params: CampaignParams,
        response: CampaignView,
      },
      async (call) => {
        const campaign = await getCampaign(call.params.id);
        return present(campaign, await numbersOf(deps, campaign));
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: `${base}/:id/approve`,
        permission: 'campaign:approve',
        tags,
        summary: 'Approve a draft (never by its creator) and draw up its prize deck',
        params: CampaignParams,
        response: CampaignView,
        audit: { action: 'redenvelope.campaign.approve', targetType: 'red_envelope_campaign' },
      },
      async (call) => present(await approveCampaign(call.params.id, call.principal.staffId, deps.approvalGate)),
    ),
    adminRoute(
      {
        method: 'post',
        path: `${base}/:id/start`,
        permission: 'campaign:manage',
        tags,
        summary: 'Start or resume an approved campaign',
        params: CampaignParams,
        response: CampaignView,
        audit: { action: 'redenvelope.campaign.start', targetType: 'red_envelope_campaign' },
      },
      async (call) => present(await startCampaign(deps.redis, call.params.id)),
    ),
    adminRoute(
      {
        method: 'post',
        path: `${base}/:id/pause`,
        permission: 'campaign:manage',
        tags,
        summary: 'Pause a running campaign (claims stop; payouts of won claims continue)',
        params: CampaignParams,
        body: ReasonBody,
        response: CampaignView,
        audit: { action: 'redenvelope.campaign.pause', targetType: 'red_envelope_campaign' },
      },
      async (call) => present(await pauseCampaign(call.params.id, call.body.reason)),
    ),
    adminRoute(
      {
        method: 'post',
        path: `${base}/:id/end`,
        permission: 'campaign:manage',
        tags,
        summary: 'End a campaign for good',
        params: CampaignParams,
        body: ReasonBody,
        response: CampaignView,
        audit: { action: 'redenvelope.campaign.end', targetType: 'red_envelope_campaign' },
      },
      async (call) => present(await endCampaign(call.params.id, call.body.reason)),
    ),
    adminRoute(
      {
        method: 'get',
        path: `${base}/:id/reviews`,
        permission: 'risk:review',
        tags,
        summary: 'Claims held by the risk rules, waiting for a decision',
        params: CampaignParams,
        response: z.object({
          items: z.array(
            z.object({
              decisionId: z.string(),
              profileId: z.string(),
              rules: z.array(z.object({ rule: z.string(), detail: z.string() })),
              at: IsoDateTime,
            }),
          ),
        }),
      },
      async (call) => {
        const held = await RedEnvelopeDecision.find({ campaignId: call.params.id, reviewState: 'pending' })
          .sort({ createdAt: 1 })
          .limit(200)
          .lean<
            {
              _id: { toString(): string };
              profileId: string;
              rules: { rule: string; detail: string }[];
              createdAt: Date;
            }[]
          >();
        return {
          items: held.map((d) => ({
            decisionId: d._id.toString(),
            profileId: d.profileId,
            rules: d.rules.map((r) => ({ rule: r.rule, detail: r.detail })),
            at: d.createdAt.toISOString(),
          })),
        };
      },
    ),
    ...(['approve', 'reject'] as const).map((verb) =>
      adminRoute(
        {
          method: 'post',
          path: `${base}/reviews/:id/${verb}`,
          permission: 'risk:review',
          tags,
          summary: verb === 'approve' ? 'Let a held claim go ahead (it is drawn now)' : 'Refuse a held claim',
          params: IdParams,
          response: z.object({ status: z.string(), amountFen: z.number().int().optional() }),
          audit: { action: `redenvelope.review.${verb}`, targetType: 'red_envelope_decision' },
        },
        async (call) => {
          const result = await decideReview(
            deps,
            call.params.id,
            verb === 'approve' ? 'approved' : 'rejected',
            call.principal.staffId,
          );
          if (!result) return { status: 'rejected' };
          return result.status === 'won' ? { status: 'won', amountFen: result.amountFen } : { status: result.status };
        },
      ),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/payout-cases',
        permission: 'payout:review',
        tags,
        summary: 'Failed payouts waiting for staff (the customer has been told why)',
        response: z.object({ items: z.array(CaseView) }),
      },
      async () => {
        const cases = await RedEnvelopeClaim.find({ 'payout.state': 'failed', 'payout.caseState': 'open' })
          .sort({ updatedAt: 1 })
          .limit(200)
          .lean<ClaimDoc[]>();
        return {
          items: cases.map((c) => ({
            claimId: c._id.toString(),
            campaignId: c.campaignId,
            profileId: c.profileId,
            amountFen: c.amountFen,
            ...(c.payout?.failReason ? { failReason: c.payout.failReason } : {}),
            ...(c.payout?.lastError ? { lastError: c.payout.lastError } : {}),
            wonAt: c.createdAt.toISOString(),
          })),
        };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/payout-cases/:id/retry',
        permission: 'payout:review',
        tags,
        summary: 'Pay a failed claim again once its cause is fixed (a failed bill gets a new number)',
        params: IdParams,
        audit: { action: 'redenvelope.payout.retry', targetType: 'red_envelope_claim' },
      },
      async (call) => {
        const claim = await RedEnvelopeClaim.findById(call.params.id, { payout: 1 }).lean<ClaimDoc>();
        if (claim?.payout?.state !== 'failed')
          throw new DomainError('conflict', 'payout_not_failed', 'Only a failed payout can be retried.');
        await retryFailedPayout(deps, call.params.id, call.principal.staffId);
      },
    ),
  ];
}
