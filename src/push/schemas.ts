/** Push plan admin API inputs and views (zod; reused for OpenAPI). */
import { z } from 'zod';
import { IsoDateTime, ObjectIdString } from '../staff/index.js';
import { PLAN_CHANNELS, PLAN_STATUSES, type PlanChannel } from './model.js';

const LandingUrl = z
  .string()
  .max(500)
  .regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL');
const Fen = z.number().int().nonnegative().max(1_000_000_000_00);

export const PlanContentBody = z
  .object({
    /** Tiers this content goes to; absent or empty: every tier no other content names. */
    tiers: z.array(z.string().min(1).max(32)).max(20).optional(),
    variant: z.enum(['A', 'B']).default('A'),
    /** The message template of a `template` plan. */
    kind: z
      .string()
      .regex(/^[a-z][a-z0-9_]{1,40}$/)
      .optional(),
    /** The text of a `wecom` or `customer_service` plan ({{variables}} from `vars`). */
    text: z.string().trim().min(1).max(2000).optional(),
    vars: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,39}$/), z.string().max(200)).default({}),
    url: LandingUrl.optional(),
  })
  .strict();

/** Five cron fields (minute hour day month weekday), read in Asia/Shanghai. */
const Cron = z.string().regex(/^(\S+\s+){4}\S+$/, 'a five-field cron expression');

export const ScheduleBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('now') }).strict(),
  z.object({ kind: z.literal('at'), at: IsoDateTime }).strict(),
  z.object({ kind: z.literal('cron'), cron: Cron }).strict(),
  z
    .object({
      kind: z.literal('event'),
      event: z.string().regex(/^[a-z][a-z0-9_.:-]{0,63}$/),
      waitMinutes: z
        .number()
        .int()
        .min(0)
        .max(366 * 24 * 60),
    })
    .strict(),
]);

export const ValuesBody = z
  .object({
    conversionFen: Fen.default(0),
    unfollowFen: Fen.default(0),
    costFen: Fen.default(0),
    costPerSendFen: Fen.default(0),
  })
  .strict();

const AccountKey = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/);
const CorpKey = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/);

/** A template plan's contents name a template; the text channels' contents carry their text. */
export function contentProblems(
  channel: PlanChannel,
  contents: { kind?: string | undefined; text?: string | undefined }[],
): string[] {
  return contents.flatMap((c, i) =>
    channel === 'template'
      ? c.kind
        ? []
        : [`content ${i}: a template plan's content names its template (kind)`]
      : c.text
        ? []
        : [`content ${i}: a ${channel} plan's content has a text`],
  );
}
const EventType = z.string().regex(/^[a-z][a-z0-9_.:-]{0,63}$/);
/** Share of profiles that get variant B, by a hash of plan and profile (0 = no A/B test). */
const SplitB = z.number().min(0).max(0.9);

export const PlanBody = z
  .object({
    /** Makes a retried create return the first plan (unique). */
    clientKey: z
      .string()
      .regex(/^[A-Za-z0-9_-]{8,64}$/)
      .optional(),
    name: z.string().trim().min(1).max(80),
    account: AccountKey.default('default'),
    audienceId: ObjectIdString,
    channel: z.enum(PLAN_CHANNELS).default('template'),
    /** The WeCom corp of a `wecom` plan (absent: the default corp). */
    corp: CorpKey.optional(),
    contents: z.array(PlanContentBody).min(1).max(20),
    splitB: SplitB.default(0),
    landingUrl: LandingUrl.optional(),
    schedule: ScheduleBody.default({ kind: 'now' }),
    conversionEvent: EventType.default('purchase'),
    values: ValuesBody.default({ conversionFen: 0, unfollowFen: 0, costFen: 0, costPerSendFen: 0 }),
  })
  .strict()
  .superRefine((plan, ctx) => {
    for (const message of contentProblems(plan.channel, plan.contents))
      ctx.addIssue({ code: 'custom', path: ['contents'], message });
    if (plan.corp && plan.channel !== 'wecom')
      ctx.addIssue({ code: 'custom', path: ['corp'], message: 'only a wecom plan names a corp' });
  });
export type PlanBody = z.infer<typeof PlanBody>;

/** A change names only what changes (no defaults: an absent field keeps its value). */
export const PlanUpdateBody = z
  .object({
    name: z.string().trim().min(1).max(80),
    account: AccountKey,
    audienceId: ObjectIdString,
    contents: z.array(PlanContentBody).min(1).max(20),
    splitB: SplitB,
    landingUrl: LandingUrl,
    schedule: ScheduleBody,
    conversionEvent: EventType,
    values: ValuesBody,
  })
  .partial()
  .strict();
export type PlanUpdateBody = z.infer<typeof PlanUpdateBody>;

const CountRow = z.record(z.string(), z.number());

export const PlanView = z
  .object({
    id: z.string(),
    clientKey: z.string(),
    name: z.string(),
    account: z.string(),
    audienceId: z.string(),
    channel: z.enum(PLAN_CHANNELS),
    corp: z.string().nullable(),
    contents: z.array(
      z.object({
        tiers: z.array(z.string()).optional(),
        variant: z.enum(['A', 'B']),
        kind: z.string().optional(),
        text: z.string().optional(),
        vars: z.record(z.string(), z.string()),
        url: z.string().optional(),
      }),
    ),
    splitB: z.number(),
    landingUrl: z.string().nullable(),
    schedule: z.object({
      kind: z.enum(['now', 'at', 'cron', 'event']),
      at: IsoDateTime.optional(),
      cron: z.string().optional(),
      event: z.string().optional(),
      waitMinutes: z.number().optional(),
    }),
    conversionEvent: z.string(),
    values: z.object({
      conversionFen: z.number(),
      unfollowFen: z.number(),
      costFen: z.number(),
      costPerSendFen: z.number(),
    }),
    status: z.enum(PLAN_STATUSES),
    audienceSize: z.number().nullable(),
    approvalId: z.string().nullable(),
    createdBy: z.string(),
    createdAt: IsoDateTime,
    progress: z
      .object({ runs: z.number(), targeted: z.number(), byState: CountRow, pendingTriggers: z.number() })
      .optional(),
  })
  .meta({ id: 'PushPlan' });

export const PlanList = z.object({ items: z.array(PlanView) });

export const ValidationView = z.object({
  ok: z.boolean(),
  problems: z.array(
    z.object({ content: z.number(), kind: z.string(), missing: z.array(z.string()), message: z.string() }),
  ),
});

export const ReportQuery = z.object({ runId: z.string().max(64).optional() }).strict();
