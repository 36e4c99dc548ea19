/**
 * Referral admin API: campaigns (create, approve by a second staff member, start, pause, end) and the
 * campaign report.
 */
import { z } from 'zod';
import { adminRoute, IsoDateTime, ObjectIdString, type AdminRoute } from '../../staff/index.js';
import { ReferralCampaign, QUALIFYING_ACTIONS } from './model.js';
import { campaignReport } from './report.js';
import {
  approveCampaign,
  createCampaign,
  endCampaign,
  getCampaign,
  pauseCampaign,
  startCampaign,
  type Campaign,
  type ReferralDeps,
} from './service.js';

const RewardBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('points'), points: z.number().int().positive().max(1_000_000) }).strict(),
  z.object({ kind: z.literal('tag'), tagId: ObjectIdString }).strict(),
  z.object({ kind: z.literal('redenvelope'), campaignId: z.string().regex(/^re_[0-9a-f]{20}$/) }).strict(),
  z.object({ kind: z.literal('reservation'), programId: z.string().min(1).max(64) }).strict(),
]);

const CampaignBody = z
  .object({
    name: z.string().min(1).max(60),
    account: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
    startAt: IsoDateTime,
    endAt: IsoDateTime,
    referrers: z
      .object({
        tiers: z.array(z.string().min(1).max(32)).max(20).optional(),
        verification: z.string().min(1).max(40).optional(),
        audienceId: ObjectIdString.optional(),
      })
      .strict()
      .optional(),
    qualify: z.object({ action: z.enum(QUALIFYING_ACTIONS), withinDays: z.number().int().min(1).max(90) }).strict(),
    referrerReward: RewardBody,
    friendReward: RewardBody.optional(),
    milestones: z
      .array(z.object({ friends: z.number().int().min(2).max(1000), reward: RewardBody }).strict())
      .max(10)
      .optional(),
    capTotal: z.number().int().min(1).max(10_000),
    capPerDay: z.number().int().min(1).max(10_000),
    ipPerHour: z.number().int().min(1).max(10_000).optional(),
    codeKind: z.enum(['temporary', 'permanent']).optional(),
    keyword: z.string().min(1).max(20).optional(),
    menuKey: z.string().min(1).max(64).optional(),
  })
  .strict();

const CampaignParams = z.object({ id: z.string().regex(/^rf_[0-9a-f]{20}$/) }).strict();
const ReasonBody = z.object({ reason: z.string().min(1).max(200) }).strict();

const CampaignView = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  statusReason: z.string().optional(),
  account: z.string(),
  startAt: IsoDateTime,
  endAt: IsoDateTime,
  qualify: z.object({ action: z.string(), withinDays: z.number().int() }),
  capTotal: z.number().int(),
  capPerDay: z.number().int(),
  codeKind: z.string(),
  keyword: z.string(),
  milestones: z.array(z.object({ friends: z.number().int(), reward: z.object({ kind: z.string() }).loose() })),
  createdBy: z.string(),
  approvedBy: z.string().optional(),
});

function present(c: Campaign): z.input<typeof CampaignView> {
  return {
    id: c._id,
    name: c.name,
    status: c.status,
    ...(c.statusReason ? { statusReason: c.statusReason } : {}),
    account: c.account,
    startAt: c.startAt.toISOString(),
    endAt: c.endAt.toISOString(),
    qualify: c.qualify,
    capTotal: c.capTotal,
    capPerDay: c.capPerDay,
    codeKind: c.codeKind,
    keyword: c.keyword,
    milestones: c.milestones ?? [],
    createdBy: c.createdBy,
    ...(c.approvedBy ? { approvedBy: c.approvedBy } : {}),
  };
}

const Count = z.number().int();
const ReportView = z.object({
  campaignId: z.string(),
  referrers: Count,
  friends: Count,
  states: z.object({ pending: Count, confirmed: Count, rejected: Count }),
  rejectedByReason: z.record(z.string(), Count),
  scans: z.record(z.string(), Count),
  rewards: z.object({ granted: Count, failed: Count, byKind: z.record(z.string(), Count) }),
  depth: z.array(
    z.object({
      depth: Count,
      friends: Count,
      pending: Count,
      confirmed: Count,
      rejected: Count,
      conversion: z.number(),
    }),
  ),
  viral: z.array(z.object({ day: z.string(), friends: Count, referrers: Count, k: z.number() })),
  leaderboard: z.array(z.object({ rank: Count, name: z.string(), confirmed: Count, pending: Count })),
});

export function referralAdminRoutes(deps: ReferralDeps): AdminRoute[] {
  const tags = ['referrals'];
  const base = '/campaigns/referrals';
  const transition = (
    path: string,
    summary: string,
    permission: 'campaign:manage' | 'campaign:approve',
    action: string,
    run: (id: string, staffId: string, reason?: string) => Promise<Campaign>,
    withReason = false,
  ) =>
    adminRoute(
      {
        method: 'post',
        path: `${base}/:id/${path}`,
        permission,
        tags,
        summary,
        params: CampaignParams,
        ...(withReason ? { body: ReasonBody } : {}),
        response: CampaignView,
        audit: { action, targetType: 'referral_campaign' },
      },
      async (call) => {
        const reason = (call.body as { reason?: string } | undefined)?.reason;
        const campaign = await run(call.params.id, call.principal.staffId, reason);
        call.audit.after = { status: campaign.status };
        return present(campaign);
      },
    );
  return [
    adminRoute(
      {
        method: 'post',
        path: base,
        permission: 'campaign:manage',
        tags,
        summary: 'Create a draft referral campaign',
        body: CampaignBody,
        response: CampaignView,
        status: 201,
        audit: { action: 'referral.campaign.create', targetType: 'referral_campaign' },
      },
      async (call) => {
        const b = call.body;
        const campaign = await createCampaign(
          { ...b, startAt: new Date(b.startAt), endAt: new Date(b.endAt) },
          call.principal.staffId,
        );
        call.audit.targetId = campaign._id;
        call.audit.after = { name: campaign.name, account: campaign.account };
        return present(campaign);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: base,
        permission: 'campaign:manage',
        tags,
        summary: 'List referral campaigns, newest first',
        response: z.object({ items: z.array(CampaignView) }),
      },
      async () => ({
        items: (await ReferralCampaign.find({}).sort({ createdAt: -1 }).limit(100).lean<Campaign[]>()).map(present),
      }),
    ),
    adminRoute(
      {
        method: 'get',
        path: `${base}/:id`,
        permission: 'campaign:manage',
        tags,
        summary: 'One referral campaign',
        params: CampaignParams,
        response: CampaignView,
      },
      async (call) => present(await getCampaign(call.params.id)),
    ),
    transition(
      'approve',
      'Approve a draft (not by its creator)',
      'campaign:approve',
      'referral.campaign.approve',
      (id, by) => approveCampaign(id, by),
    ),
    transition('start', 'Start or resume a campaign', 'campaign:manage', 'referral.campaign.start', (id) =>
      startCampaign(id),
    ),
    transition(
      'pause',
      'Pause a running campaign',
      'campaign:manage',
      'referral.campaign.pause',
      (id, _by, reason) => pauseCampaign(id, reason ?? 'paused by staff'),
      true,
    ),
    transition(
      'end',
      'End a campaign',
      'campaign:manage',
      'referral.campaign.end',
      (id, _by, reason) => endCampaign(id, reason),
      true,
    ),
    adminRoute(
      {
        method: 'get',
        path: `${base}/:id/report`,
        permission: 'campaign:manage',
        tags,
        summary: 'Referrers, friends, states by reason, rewards, depth, viral coefficient per day, leaderboard',
        params: CampaignParams,
        response: ReportView,
      },
      async (call) => campaignReport(deps, call.params.id),
    ),
  ];
}
