/**
 * Audience admin API: size a condition before saving it, save an audience (dynamic condition, snapshot,
 * uploaded list or combination) and read one back with its current size and a masked preview. A push plan
 * names the audience it goes to by the id answered here.
 */
import { z } from 'zod';
import {
  adminRoute,
  IdParams,
  IsoDateTime,
  ObjectIdString,
  pageOf,
  PageQuery,
  type AdminRoute,
} from '../staff/index.js';
import { ConditionSchema } from './conditions.js';
import { AUDIENCE_KINDS, SET_OPS, type AudienceDoc } from './model.js';
import {
  createAudience,
  estimate,
  listAudiences,
  loadAudience,
  membersOf,
  preview,
  type AudienceDeps,
} from './service.js';

const Name = z.string().trim().min(1).max(80);

const AudienceBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('condition'), name: Name, condition: ConditionSchema }).strict(),
  z.object({ kind: z.literal('snapshot'), name: Name, condition: ConditionSchema }).strict(),
  z.object({ kind: z.literal('list'), name: Name, profileIds: z.array(ObjectIdString).min(1).max(50_000) }).strict(),
  z
    .object({
      kind: z.literal('combination'),
      name: Name,
      op: z.enum(SET_OPS),
      audienceIds: z.array(ObjectIdString).min(2).max(10),
    })
    .strict(),
]);

const MemberPreviewView = z.object({
  profileId: z.string(),
  name: z.string(),
  tier: z.string(),
  phone: z.string().optional(),
});

const AudienceSummaryView = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(AUDIENCE_KINDS),
    createdBy: z.string(),
    createdAt: IsoDateTime,
    frozenCount: z.number().int().optional(),
  })
  .meta({ id: 'AudienceSummary' });

const AudienceView = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(AUDIENCE_KINDS),
    condition: z.unknown().optional(),
    op: z.enum(SET_OPS).optional(),
    audienceIds: z.array(z.string()).optional(),
    frozenCount: z.number().int().optional(),
    frozenAt: IsoDateTime.optional(),
    createdBy: z.string(),
    createdAt: IsoDateTime,
    /** Members now (dynamic audiences are evaluated on each read). */
    size: z.number().int(),
    preview: z.array(MemberPreviewView),
  })
  .meta({ id: 'Audience' });

async function present(deps: AudienceDeps, a: AudienceDoc): Promise<z.input<typeof AudienceView>> {
  const members = await membersOf(deps, a._id.toString());
  return {
    id: a._id.toString(),
    name: a.name,
    kind: a.kind,
    ...(a.condition !== undefined ? { condition: a.condition } : {}),
    ...(a.op ? { op: a.op } : {}),
    ...(a.audienceIds ? { audienceIds: a.audienceIds.map(String) } : {}),
    ...(a.frozenCount !== undefined ? { frozenCount: a.frozenCount } : {}),
    ...(a.frozenAt ? { frozenAt: a.frozenAt.toISOString() } : {}),
    createdBy: a.createdBy,
    createdAt: a.createdAt.toISOString(),
    size: members.size,
    preview: await preview(members, 5),
  };
}

export function audienceAdminRoutes(deps: AudienceDeps): AdminRoute[] {
  const tags = ['audiences'];
  return [
    adminRoute(
      {
        method: 'post',
        path: '/audiences/estimate',
        permission: 'audience:manage',
        tags,
        summary: 'How many customers a condition selects now (nothing is saved)',
        body: z
          .object({
            condition: ConditionSchema,
            /** How many members to show, masked (0: none). */
            sample: z.number().int().min(0).max(20).default(0),
          })
          .strict(),
        response: z.object({ size: z.number().int(), tookMs: z.number().int(), sample: z.array(MemberPreviewView) }),
        // A POST is audited like every write, though it saves nothing: the entry records who sized what.
        audit: { action: 'audience.estimate', targetType: 'audience' },
      },
      async (call) => {
        const sized = await estimate(deps, call.body.condition, call.body.sample);
        call.audit.after = { size: sized.size };
        return sized;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/audiences',
        permission: 'audience:manage',
        tags,
        summary: 'Save an audience; snapshots and lists freeze their members now',
        body: AudienceBody,
        response: AudienceView,
        status: 201,
        audit: { action: 'audience.create', targetType: 'audience' },
      },
      async (call) => {
        const audience = await createAudience(deps, call.body, call.principal.staffId);
        call.audit.targetId = audience._id.toString();
        call.audit.after = { name: audience.name, kind: audience.kind, frozenCount: audience.frozenCount };
        return present(deps, audience);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/audiences',
        permission: 'audience:manage',
        tags,
        summary: 'Saved audiences, newest first (open one for its size and preview)',
        query: z.object({ ...PageQuery, kind: z.enum(AUDIENCE_KINDS).optional() }).strict(),
        response: pageOf(AudienceSummaryView),
      },
      async (call) => listAudiences(call.query),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/audiences/:id',
        permission: 'audience:manage',
        tags,
        summary: 'One audience with its size now and a masked preview of its members',
        params: IdParams,
        response: AudienceView,
      },
      async (call) => present(deps, await loadAudience(call.params.id)),
    ),
  ];
}
