/**
 * Admin API inputs and outputs of the CRM (zod, strict): reused by the routes and the OpenAPI document.
 */
import { z } from 'zod';
import { IsoDateTime, ObjectIdString, PageQuery } from '../staff/index.js';
import { CONSENT_CHANNELS } from './consent/model.js';
import { IDENTITY_KINDS } from './identities/model.js';
import { CONDITION_OPS } from './rules/model.js';
import { ATTRIBUTE_TYPES } from './attributes/model.js';
import { GENDERS, LIFECYCLE_STAGES, VERIFICATION_STATUSES } from './profiles/model.js';

const Code = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
const AttrKey = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/);

export const ProfileFilters = {
  identityKind: z.enum(IDENTITY_KINDS).optional(),
  identity: z.string().min(1).max(128).optional(),
  name: z.string().min(1).max(100).optional(),
  phone: z.string().min(5).max(32).optional(),
  tagId: ObjectIdString.optional(),
  tier: Code.optional(),
  stage: z.enum(LIFECYCLE_STAGES).optional(),
  ownerStaffId: z.string().min(1).max(64).optional(),
  region: Code.optional(),
  attrKey: AttrKey.optional(),
  attrValue: z.string().max(200).optional(),
};

export const ProfileSearchQuery = z
  .object({ ...PageQuery, ...ProfileFilters })
  .strict()
  .refine((q) => !q.identity === !q.identityKind, { message: 'identity and identityKind go together' })
  .refine((q) => !q.attrKey === (q.attrValue === undefined), { message: 'attrKey and attrValue go together' });
export type ProfileSearchQuery = z.infer<typeof ProfileSearchQuery>;

export const ExportQuery = z
  .object(ProfileFilters)
  .strict()
  .refine((q) => !q.identity === !q.identityKind, { message: 'identity and identityKind go together' });

export const ProfileItem = z.object({
  id: z.string(),
  name: z.string().optional(),
  gender: z.enum(GENDERS).optional(),
  region: z.string().optional(),
  phone: z.string().optional().meta({ description: 'always masked, e.g. 138****1234' }),
  phoneVerified: z.boolean().optional(),
  tier: z.string(),
  stage: z.enum(LIFECYCLE_STAGES),
  ownerStaffId: z.string().optional(),
  attributes: z.record(z.string(), z.unknown()),
  mergedInto: z.string().optional(),
  source: z.string(),
  lastInteractionAt: z.string().optional(),
  createdAt: IsoDateTime,
});

export const ProfileViewSchema = z.object({
  profile: ProfileItem,
  identities: z.array(z.record(z.string(), z.unknown())),
  followers: z.array(z.record(z.string(), z.unknown())),
  tags: z.array(z.record(z.string(), z.unknown())),
  consent: z.record(z.string(), z.boolean()),
  verifications: z.array(z.record(z.string(), z.unknown())),
  merges: z.array(z.record(z.string(), z.unknown())),
  timeline: z.object({ events: z.array(z.record(z.string(), z.unknown())), nextCursor: z.string().optional() }),
});

export const TimelineQuery = z
  .object({ ...PageQuery, types: z.string().max(500).optional().meta({ description: 'comma-separated event types' }) })
  .strict();
export const TimelinePageSchema = z.object({
  items: z.array(z.record(z.string(), z.unknown())),
  nextCursor: z.string().nullable(),
});

export const UpdateProfileBody = z
  .object({
    name: z.string().min(1).max(100).optional(),
    gender: z.enum(GENDERS).optional(),
    region: Code.optional(),
    stage: z.enum(LIFECYCLE_STAGES).optional(),
    ownerStaffId: z.string().min(1).max(64).nullable().optional(),
    phone: z
      .object({ number: z.string().min(5).max(32), verified: z.boolean() })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();

export const TierBody = z.object({ tier: Code, reason: z.string().min(1).max(500) }).strict();
export const TagBody = z.object({ tagId: ObjectIdString }).strict();
export const ProfileTagParams = z.object({ id: ObjectIdString, tagId: ObjectIdString }).strict();
export const AttributesBody = z
  .object({ values: z.record(AttrKey, z.union([z.string().max(500), z.number(), z.boolean(), z.null()])) })
  .strict();
export const VerificationBody = z
  .object({
    kind: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/),
    status: z.enum(VERIFICATION_STATUSES),
    method: z.string().min(1).max(100),
    expiresAt: IsoDateTime.optional(),
  })
  .strict();
export const ConsentBody = z
  .object({
    channel: z.enum([...CONSENT_CHANNELS, 'all']),
    allowed: z.boolean(),
    reason: z.string().max(200).optional(),
  })
  .strict();

export const MergeBody = z
  .object({ sourceId: ObjectIdString, targetId: ObjectIdString, reason: z.string().min(1).max(200) })
  .strict();
export const ReviewQuery = z.object({ status: z.enum(['open', 'merged', 'dismissed']).default('open') }).strict();
export const DecideBody = z
  .object({ decision: z.enum(['merge', 'dismiss']), targetId: ObjectIdString.optional() })
  .strict();

export const TagGroupBody = z.object({ name: z.string().min(1).max(40), exclusive: z.boolean().optional() }).strict();
export const CreateTagBody = z.object({ groupId: ObjectIdString, name: z.string().min(1).max(40) }).strict();
export const WechatTagBody = z.object({ account: Code, wechatTagId: z.number().int().positive().optional() }).strict();

export const AttributeDefBody = z
  .object({
    key: AttrKey,
    label: z.string().min(1).max(60),
    type: z.enum(ATTRIBUTE_TYPES),
    allowedValues: z.array(z.string().min(1).max(60)).min(1).max(100).optional(),
  })
  .strict();

const Condition = z
  .object({
    path: z.string().regex(/^(type|source|payload(\.[A-Za-z0-9_]{1,40}){1,5})$/),
    op: z.enum(CONDITION_OPS),
    value: z
      .union([
        z.string().max(200),
        z.number(),
        z.boolean(),
        z.array(z.union([z.string().max(200), z.number()])).max(50),
      ])
      .optional(),
  })
  .strict();
const Action = z.discriminatedUnion('type', [
  z.object({ type: z.literal('add_tag'), tagId: ObjectIdString }).strict(),
  z.object({ type: z.literal('remove_tag'), tagId: ObjectIdString }).strict(),
  z
    .object({
      type: z.literal('set_attribute'),
      key: AttrKey,
      value: z.union([z.string().max(500), z.number(), z.boolean()]),
    })
    .strict(),
]);
export const RuleBody = z
  .object({
    name: z.string().min(1).max(80),
    active: z.boolean().optional(),
    eventType: z.string().regex(/^(\*|[a-z][a-z0-9_.]{0,63})$/),
    conditions: z.array(Condition).max(20),
    actions: z.array(Action).min(1).max(10),
  })
  .strict();
export const RulePatchBody = z
  .object({
    name: z.string().min(1).max(80).optional(),
    active: z.boolean().optional(),
    eventType: z
      .string()
      .regex(/^(\*|[a-z][a-z0-9_.]{0,63})$/)
      .optional(),
    conditions: z.array(Condition).max(20).optional(),
    actions: z.array(Action).min(1).max(10).optional(),
  })
  .strict();
export const RuleView = z.object({
  id: z.string(),
  name: z.string(),
  active: z.boolean(),
  eventType: z.string(),
  conditions: z.array(z.record(z.string(), z.unknown())),
  actions: z.array(z.record(z.string(), z.unknown())),
});

export const SourceBody = z.object({ name: z.string().regex(/^[a-z][a-z0-9_-]{1,39}$/) }).strict();

export const CreateImportBody = z
  .object({
    mapping: z.record(z.string().min(1).max(64), z.string().min(1).max(45)).refine((m) => Object.keys(m).length <= 60),
    kind: z.enum(['customer', 'lead']),
    dryRun: z.boolean().default(false),
  })
  .strict();
export const ChunkBody = z
  .object({ seq: z.number().int().nonnegative().max(100_000), data: z.string().min(1).max(900_000) })
  .strict();
export const ImportReportQuery = z
  .object({
    afterRow: z.coerce.number().int().nonnegative().optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    outcome: z.enum(['invalid', 'matched']).optional(),
  })
  .strict();
export const ImportReportView = z.object({
  id: z.string(),
  state: z.string(),
  dryRun: z.boolean(),
  checkpoint: z.number(),
  counts: z.object({ rows: z.number(), created: z.number(), matched: z.number(), invalid: z.number() }),
  error: z.string().optional(),
  issues: z.array(z.object({ row: z.number(), outcome: z.string(), reasons: z.array(z.string()) })),
  nextRow: z.number().optional(),
});

/** A CSV body streamed to the client (text/csv). */
export { CsvStream } from '../staff/index.js';
