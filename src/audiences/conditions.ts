/**
 * The audience condition language: JSON, validated by a strict schema, and compiled from a whitelist.
 * No field name, operator or key chosen by a caller reaches MongoDB: fields map to fixed paths, operators
 * to fixed query operators, attribute keys must match a declared attribute, values are typed by the field.
 *
 *   { "all": [ { "field": "tier", "op": "in", "value": ["gold", "vip"] },
 *              { "follows": "default", "since": "T-30" },
 *              { "not": { "tag": "churn-risk" } },
 *              { "event": "purchase", "from": "T-7", "count": { "op": "gte", "value": 1 } },
 *              { "not": { "wecomGroup": "main", "chat": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA" } } ] }
 *
 * Relative dates are whole days in Asia/Shanghai: "T" is today's start, "T-1" yesterday's start, "T+2"
 * the day after tomorrow's start; ISO timestamps are accepted as they are.
 */
import { z } from 'zod';

const RelativeDate = z
  .string()
  .regex(/^(T([+-]\d{1,4})?|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?)$/, {
    message: 'a relative date (T, T-N, T+N in days) or an ISO date',
  });
export type RelativeDate = z.infer<typeof RelativeDate>;

/** Profile fields a condition may name, with the type their values must have. */
export const PROFILE_FIELDS = {
  tier: 'string',
  stage: 'string',
  region: 'string',
  gender: 'string',
  ownerStaffId: 'string',
  source: 'string',
  createdAt: 'date',
  lastInteractionAt: 'date',
  phoneVerified: 'boolean',
} as const;
type ProfileField = keyof typeof PROFILE_FIELDS;
const FIELD_PATHS: Record<ProfileField, string> = {
  tier: 'tier',
  stage: 'stage',
  region: 'region',
  gender: 'gender',
  ownerStaffId: 'ownerStaffId',
  source: 'source',
  createdAt: 'createdAt',
  lastInteractionAt: 'lastInteractionAt',
  phoneVerified: 'phone.verified',
};

const Scalar = z.union([z.string().max(200), z.number().finite(), z.boolean()]);
const Comparison = z.enum(['eq', 'ne', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'exists']);
type Comparison = z.infer<typeof Comparison>;
const Count = z
  .object({ op: z.enum(['eq', 'gt', 'gte', 'lt', 'lte']), value: z.number().int().nonnegative() })
  .strict();

const FieldLeaf = z
  .object({
    field: z.enum(Object.keys(PROFILE_FIELDS) as [ProfileField, ...ProfileField[]]),
    op: Comparison,
    value: z.union([Scalar, z.array(Scalar).max(500), RelativeDate]).optional(),
  })
  .strict();
const AttributeLeaf = z
  .object({
    attribute: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/),
    op: Comparison,
    value: z.union([Scalar, z.array(Scalar).max(500)]).optional(),
  })
  .strict();
const TagLeaf = z.object({ tag: z.string().min(1).max(64) }).strict();
const ConsentLeaf = z.object({ consent: z.enum(['wechat', 'wecom', 'sms', 'email']), allowed: z.boolean() }).strict();
const FollowsLeaf = z
  .object({
    follows: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
    /** Followed (first subscribe) at or after / before these days. */
    since: RelativeDate.optional(),
    until: RelativeDate.optional(),
    /** false: used to follow and left. */
    subscribed: z.boolean().optional(),
  })
  .strict();
const EventLeaf = z
  .object({
    event: z.string().regex(/^[a-z][a-z0-9_.:-]{0,63}$/),
    from: RelativeDate.optional(),
    until: RelativeDate.optional(),
    /** How many such events (default: at least one). */
    count: Count.optional(),
    /** Sum of payload.amountFen over the window. */
    sumFen: Count.optional(),
  })
  .strict();
const AudienceLeaf = z.object({ audience: z.string().regex(/^[0-9a-f]{24}$/) }).strict();
/** Customers who are members of a WeCom customer group (one chat, or any group of the corp). */
const WecomGroupLeaf = z
  .object({
    wecomGroup: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
    chat: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .optional(),
  })
  .strict();

export type Condition =
  | z.infer<typeof FieldLeaf>
  | z.infer<typeof AttributeLeaf>
  | z.infer<typeof TagLeaf>
  | z.infer<typeof ConsentLeaf>
  | z.infer<typeof FollowsLeaf>
  | z.infer<typeof EventLeaf>
  | z.infer<typeof AudienceLeaf>
  | z.infer<typeof WecomGroupLeaf>
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

export const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(ConditionSchema).min(1).max(50) }).strict(),
    z.object({ any: z.array(ConditionSchema).min(1).max(50) }).strict(),
    z.object({ not: ConditionSchema }).strict(),
    FieldLeaf,
    AttributeLeaf,
    TagLeaf,
    ConsentLeaf,
    FollowsLeaf,
    EventLeaf,
    AudienceLeaf,
    WecomGroupLeaf,
  ]),
);

const SHANGHAI_OFFSET_MS = 8 * 3_600_000; // Asia/Shanghai has no daylight saving time

/** Resolves T±N (days, Asia/Shanghai midnight) or an ISO date to a UTC instant. */
export function resolveDate(value: string, now: Date): Date {
  const relative = /^T([+-]\d{1,4})?$/.exec(value);
  if (relative) {
    const local = now.getTime() + SHANGHAI_OFFSET_MS;
    const midnight = local - (local % 86_400_000) - SHANGHAI_OFFSET_MS;
    return new Date(midnight + Number(relative[1] ?? 0) * 86_400_000);
  }
  // A bare date means that day's start in Asia/Shanghai.
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return new Date(`${value}T00:00:00+08:00`);
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new Error(`not a date: ${value}`);
  return parsed;
}

export interface AttributeDef {
  key: string;
  type: 'string' | 'number' | 'boolean' | 'date' | 'enum';
  values?: string[];
}

export class ConditionError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

type Filter = Record<string, unknown>;
const MONGO_OPS: Record<Exclude<Comparison, 'exists'>, string> = {
  eq: '$eq',
  ne: '$ne',
  in: '$in',
  nin: '$nin',
  gt: '$gt',
  gte: '$gte',
  lt: '$lt',
  lte: '$lte',
};

function typedValue(type: string, value: unknown, path: string, now: Date, values?: string[]): unknown {
  const one = (v: unknown): unknown => {
    if (type === 'date') {
      if (typeof v !== 'string') throw new ConditionError(path, 'expects a date');
      return resolveDate(v, now);
    }
    if (type === 'enum') {
      if (typeof v !== 'string' || !(values ?? []).includes(v))
        throw new ConditionError(path, `expects one of ${(values ?? []).join(', ')}`);
      return v;
    }
    if (typeof v !== type) throw new ConditionError(path, `expects a ${type}`);
    return v;
  };
  return Array.isArray(value) ? value.map(one) : one(value);
}

function comparison(
  path: string,
  dbPath: string,
  type: string,
  op: Comparison,
  value: unknown,
  now: Date,
  values?: string[],
): Filter {
  if (op === 'exists') {
    if (value !== undefined && typeof value !== 'boolean') throw new ConditionError(path, 'exists takes true or false');
    return { [dbPath]: { $exists: value !== false } };
  }
  if (value === undefined) throw new ConditionError(path, `${op} needs a value`);
  const isList = op === 'in' || op === 'nin';
  if (isList !== Array.isArray(value))
    throw new ConditionError(path, isList ? `${op} takes a list` : `${op} takes one value`);
  if ((op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte') && !['number', 'date'].includes(type))
    throw new ConditionError(path, `${op} needs a number or a date field`);
  return { [dbPath]: { [MONGO_OPS[op]]: typedValue(type, value, path, now, values) } };
}

/** A compiled condition: a tree whose leaves are fixed queries on fixed collections. */
export type Plan =
  | { kind: 'profiles'; filter: Filter }
  | { kind: 'tag'; tagName: string }
  | { kind: 'consent'; channel: string; allowed: boolean }
  | { kind: 'follows'; filter: Filter }
  | {
      kind: 'event';
      type: string;
      from?: Date;
      until?: Date;
      count?: z.infer<typeof Count>;
      sumFen?: z.infer<typeof Count>;
    }
  | { kind: 'audience'; audienceId: string }
  | { kind: 'wecomGroup'; corp: string; chatId?: string }
  | { kind: 'and'; parts: Plan[] }
  | { kind: 'or'; parts: Plan[] }
  | { kind: 'not'; part: Plan };

/**
 * Compiles a validated condition into a plan; attribute conditions are checked against the declared
 * attribute schema. Throws ConditionError naming the offending path.
 */
export function compileCondition(input: unknown, attributes: readonly AttributeDef[], now: Date): Plan {
  const parsed = ConditionSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConditionError(issue?.path.join('.') || '(root)', issue?.message ?? 'invalid condition');
  }
  const walk = (c: Condition, path: string): Plan => {
    if ('all' in c) {
      const parts = c.all.map((p, i) => walk(p, `${path}.all.${i}`));
      // Profile-field conditions under one "all" become one query.
      const profileFilters = parts.filter((p): p is { kind: 'profiles'; filter: Filter } => p.kind === 'profiles');
      const rest = parts.filter((p) => p.kind !== 'profiles');
      const merged: Plan[] =
        profileFilters.length > 1
          ? [{ kind: 'profiles', filter: { $and: profileFilters.map((p) => p.filter) } }]
          : profileFilters;
      const all = [...merged, ...rest];
      return all.length === 1 ? all[0]! : { kind: 'and', parts: all };
    }
    if ('any' in c) return { kind: 'or', parts: c.any.map((p, i) => walk(p, `${path}.any.${i}`)) };
    if ('not' in c) return { kind: 'not', part: walk(c.not, `${path}.not`) };
    if ('field' in c) {
      const type = PROFILE_FIELDS[c.field];
      return { kind: 'profiles', filter: comparison(`${path}.field`, FIELD_PATHS[c.field], type, c.op, c.value, now) };
    }
    if ('attribute' in c) {
      const def = attributes.find((a) => a.key === c.attribute);
      if (!def) throw new ConditionError(`${path}.attribute`, `no declared attribute "${c.attribute}"`);
      return {
        kind: 'profiles',
        filter: comparison(`${path}.attribute`, `attributes.${def.key}`, def.type, c.op, c.value, now, def.values),
      };
    }
    if ('tag' in c) return { kind: 'tag', tagName: c.tag };
    if ('consent' in c) return { kind: 'consent', channel: c.consent, allowed: c.allowed };
    if ('follows' in c) {
      const filter: Filter = { account: c.follows };
      if (c.subscribed !== undefined) filter.subscribed = c.subscribed;
      const range: Filter = {};
      if (c.since) range.$gte = resolveDate(c.since, now);
      if (c.until) range.$lt = resolveDate(c.until, now);
      if (Object.keys(range).length > 0) filter.firstSubscribedAt = range;
      return { kind: 'follows', filter };
    }
    if ('event' in c) {
      return {
        kind: 'event',
        type: c.event,
        ...(c.from ? { from: resolveDate(c.from, now) } : {}),
        ...(c.until ? { until: resolveDate(c.until, now) } : {}),
        ...(c.count ? { count: c.count } : {}),
        ...(c.sumFen ? { sumFen: c.sumFen } : {}),
      };
    }
    if ('wecomGroup' in c) return { kind: 'wecomGroup', corp: c.wecomGroup, ...(c.chat ? { chatId: c.chat } : {}) };
    return { kind: 'audience', audienceId: c.audience };
  };
  return walk(parsed.data, 'condition');
}
