/**
 * Data scopes: which customers a staff member may see. The scope is a typed value on the staff record;
 * services turn it into a query filter with `scopeFilter` (applied INSIDE the query, never by filtering
 * responses) and check single documents with `inScope` before changing them.
 */
import { Types } from 'mongoose';
import { z } from 'zod';

const Code = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'a short code of A-Z a-z 0-9 _ -');

/** Each constraint narrows further (they combine with AND); `{}` means every customer. */
export const DataScopeSchema = z
  .object({
    /** Only customers whose owner is this staff member. */
    own: z.boolean().optional(),
    /** Only customers in one of these regions. */
    regions: z.array(Code).min(1).max(100).optional(),
    /** Only customers in one of these tiers. */
    tiers: z.array(Code).min(1).max(20).optional(),
  })
  .strict();
export type DataScope = z.infer<typeof DataScopeSchema>;

/** A scope bound to the staff member it belongs to (what services receive from the principal). */
export interface ScopeOf {
  staffId: string;
  scope: DataScope;
}

/** Where a collection keeps the scoped fields; defaults match the CRM profile. */
export interface ScopeFields {
  owner?: string;
  region?: string;
  tier?: string;
  /** How the owner is stored: the staff id as a string (default) or as an ObjectId. */
  ownerType?: 'string' | 'objectId';
}

const DEFAULT_FIELDS = { owner: 'ownerStaffId', region: 'region', tier: 'tier', ownerType: 'string' } as const;

/** Whether the scope restricts anything at all. */
export function isUnrestricted(scope: DataScope): boolean {
  return !scope.own && !scope.regions && !scope.tiers;
}

/**
 * The Mongo filter that keeps a query inside the scope: `{}` when unrestricted. Combine with a
 * domain filter through `withinScope(filter, who)` so a caller's own keys can never widen it.
 */
export function scopeFilter(who: ScopeOf, fields: ScopeFields = {}): Record<string, unknown> {
  const f = { ...DEFAULT_FIELDS, ...fields };
  const filter: Record<string, unknown> = {};
  if (who.scope.own) filter[f.owner] = f.ownerType === 'objectId' ? new Types.ObjectId(who.staffId) : who.staffId;
  if (who.scope.regions) filter[f.region] = { $in: who.scope.regions };
  if (who.scope.tiers) filter[f.tier] = { $in: who.scope.tiers };
  return filter;
}

/** `filter` AND the scope; `$and` keeps a domain condition on the same field from replacing the scope's. */
export function withinScope<F extends Record<string, unknown>>(
  filter: F,
  who: ScopeOf,
  fields: ScopeFields = {},
): Record<string, unknown> {
  const scoped = scopeFilter(who, fields);
  if (Object.keys(scoped).length === 0) return filter;
  if (Object.keys(filter).length === 0) return scoped;
  return { $and: [filter, scoped] };
}

/** Whether one document (e.g. before an update, or a new record) falls inside the scope. */
export function inScope(who: ScopeOf, doc: Record<string, unknown>, fields: ScopeFields = {}): boolean {
  const f = { ...DEFAULT_FIELDS, ...fields };
  if (who.scope.own && idText(doc[f.owner]) !== who.staffId) return false;
  if (who.scope.regions && !who.scope.regions.includes(idText(doc[f.region]))) return false;
  if (who.scope.tiers && !who.scope.tiers.includes(idText(doc[f.tier]))) return false;
  return true;
}

/** A stored string or ObjectId as text; anything else matches nothing. */
function idText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Types.ObjectId) return value.toHexString();
  return '\u0000';
}
