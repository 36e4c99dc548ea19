/**
 * Profile reads and edits for staff: the profile page, field edits, tier changes (recorded with a reason),
 * owner, identity verification, search and CSV export. Every read and write takes the caller's data scope
 * and applies it inside the query: a sales user cannot see or touch a profile outside it.
 */
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import { Types, type QueryFilter } from 'mongoose';
import { DomainError } from '../../infra/errors.js';
import { scopeFilter as staffScopeFilter } from '../../staff/index.js';
import type { CrmDeps, ProfileScope } from '../deps.js';
import { consentSummary } from '../consent/service.js';
import { Follower } from '../followers/model.js';
import { presentFollower, type PresentedFollower } from '../followers/service.js';
import { Identity, type IdentityKind } from '../identities/model.js';
import { attachIdentity, identitiesOf, identityOf, type PresentedIdentity } from '../identities/service.js';
import { mergesOf, type PresentedMerge } from '../identities/merge.js';
import { ProfileTag } from '../tags/model.js';
import { tagsOf, type PresentedTag } from '../tags/service.js';
import { listTimeline, type TimelinePage } from '../timeline/service.js';
import { appendTimeline } from '../timeline/service.js';
import { canonicalId, idsFilter, profileFamily } from './family.js';
import {
  Profile,
  TierChange,
  Verification,
  type Gender,
  type LifecycleStage,
  type ProfileDoc,
  type VerificationStatus,
} from './model.js';

export interface PresentedProfile {
  id: string;
  name?: string;
  gender?: Gender;
  region?: string;
  /** Always masked (138****1234). */
  phone?: string;
  phoneVerified?: boolean;
  tier: string;
  stage: LifecycleStage;
  ownerStaffId?: string;
  attributes: Record<string, unknown>;
  mergedInto?: string;
  source: string;
  lastInteractionAt?: string;
  createdAt: string;
}

export function presentProfile(p: ProfileDoc): PresentedProfile {
  return {
    id: p._id.toHexString(),
    name: p.name,
    gender: p.gender,
    region: p.region,
    phone: p.phone?.masked,
    phoneVerified: p.phone?.verified,
    tier: p.tier,
    stage: p.stage,
    ownerStaffId: p.ownerStaffId,
    attributes: p.attributes,
    mergedInto: p.mergedInto?.toHexString(),
    source: p.source,
    lastInteractionAt: p.lastInteractionAt?.toISOString(),
    createdAt: p.createdAt.toISOString(),
  };
}

/** The query filter of a data scope (empty for system callers); profiles keep ownerStaffId, region, tier. */
export function scopeFilter(scope: ProfileScope | undefined): QueryFilter<ProfileDoc> {
  return scope ? staffScopeFilter(scope) : {};
}

/** A current (unmerged) profile inside the scope, or not_found (never "forbidden": no existence leak). */
export async function scopedProfile(id: Types.ObjectId, scope: ProfileScope | undefined): Promise<ProfileDoc> {
  const canonical = await canonicalId(id);
  const doc = await Profile.findOne({ _id: canonical, ...scopeFilter(scope) }).lean();
  if (!doc) throw new DomainError('not_found', 'profile_not_found', 'No such profile.');
  return doc;
}

export interface ProfileView {
  profile: PresentedProfile;
  identities: PresentedIdentity[];
  followers: PresentedFollower[];
  tags: PresentedTag[];
  consent: Record<string, boolean>;
  verifications: PresentedVerification[];
  merges: PresentedMerge[];
  timeline: TimelinePage;
}

/** The profile page: fields, identities, follows, tags, consent, verifications, merges and the first timeline page. */
export async function profileView(
  deps: CrmDeps,
  input: { profileId: Types.ObjectId; scope?: ProfileScope },
): Promise<ProfileView> {
  const doc = await scopedProfile(input.profileId, input.scope);
  const family = await profileFamily(doc._id);
  const [identities, followers, tags, consent, verifications, merges, timeline] = await Promise.all([
    identitiesOf(deps, doc._id),
    Follower.find({ profileId: idsFilter(family) }).lean(),
    tagsOf(doc._id),
    consentSummary(deps, doc._id),
    currentVerifications(doc._id),
    mergesOf(doc._id),
    listTimeline(deps, { profileId: doc._id, limit: 20 }),
  ]);
  return {
    profile: presentProfile(doc),
    identities,
    followers: followers.map((f) => presentFollower(deps, f)),
    tags,
    consent,
    verifications,
    merges,
    timeline,
  };
}

export interface ProfilePatch {
  name?: string;
  gender?: Gender;
  region?: string;
  stage?: LifecycleStage;
  ownerStaffId?: string | null;
  phone?: { number: string; verified: boolean } | null;
}

/** Edits profile fields; a verified phone also becomes a linking identity (which may queue a review). */
export async function updateProfile(
  deps: CrmDeps,
  input: {
    profileId: Types.ObjectId;
    patch: ProfilePatch;
    by: string;
    scope?: ProfileScope;
    /** Who made the change, for the timeline and the identity (default `staff:<by>`; `customer` for self-service). */
    source?: string;
  },
): Promise<PresentedProfile> {
  const source = input.source ?? `staff:${input.by}`;
  const doc = await scopedProfile(input.profileId, input.scope);
  const set: Record<string, unknown> = {};
  const unset: Record<string, 1> = {};
  const { phone, ownerStaffId, ...plain } = input.patch;
  Object.assign(set, Object.fromEntries(Object.entries(plain).filter(([, v]) => v !== undefined)));
  if (ownerStaffId === null) unset.ownerStaffId = 1;
  else if (ownerStaffId !== undefined) set.ownerStaffId = ownerStaffId;
  if (phone === null) unset.phone = 1;
  else if (phone) {
    const stored = deps.phones.protect(phone.number);
    set.phone = { ...stored, verified: phone.verified };
  }
  await Profile.updateOne(
    { _id: doc._id },
    { ...(Object.keys(set).length ? { $set: set } : {}), ...(Object.keys(unset).length ? { $unset: unset } : {}) },
  );
  if (phone) {
    await attachIdentity(deps, identityOf.phone(deps, phone.number, phone.verified), doc._id, source);
  }
  await appendTimeline(deps, {
    profileId: doc._id,
    type: 'profile.updated',
    at: deps.now(),
    source,
    payload: { fields: [...Object.keys(set), ...Object.keys(unset)] },
  });
  return presentProfile((await Profile.findById(doc._id).lean())!);
}

/** Changes the tier (one of the configured tiers) and records who, when and why. */
export async function changeTier(
  deps: CrmDeps,
  input: { profileId: Types.ObjectId; tier: string; reason: string; by: string; scope?: ProfileScope },
): Promise<PresentedProfile> {
  if (!deps.config.tiers.includes(input.tier))
    throw new DomainError('invalid', 'unknown_tier', `Tiers are ${deps.config.tiers.join(', ')}.`);
  if (!input.reason.trim()) throw new DomainError('invalid', 'reason_required', 'A tier change needs a reason.');
  const doc = await scopedProfile(input.profileId, input.scope);
  if (doc.tier === input.tier) return presentProfile(doc);
  const at = deps.now();
  await TierChange.create({
    profileId: doc._id,
    from: doc.tier,
    to: input.tier,
    reason: input.reason,
    by: input.by,
    at,
  });
  await Profile.updateOne({ _id: doc._id }, { $set: { tier: input.tier } });
  await appendTimeline(deps, {
    profileId: doc._id,
    type: 'profile.tier_changed',
    at,
    source: input.by === 'system' ? 'crm' : `staff:${input.by}`,
    payload: { from: doc.tier, to: input.tier, reason: input.reason },
  });
  deps.onTierChanged?.({ profileId: doc._id.toHexString(), from: doc.tier, to: input.tier });
  return presentProfile({ ...doc, tier: input.tier });
}

export async function tierHistory(
  profileId: Types.ObjectId,
): Promise<{ from?: string; to: string; reason: string; by: string; at: string }[]> {
  const rows = await TierChange.find({ profileId }).sort({ at: -1 }).limit(200).lean();
  return rows.map((r) => ({ from: r.from, to: r.to, reason: r.reason, by: r.by, at: r.at.toISOString() }));
}

export interface PresentedVerification {
  kind: string;
  status: VerificationStatus;
  method: string;
  verifiedBy?: string;
  at: string;
  expiresAt?: string;
  /** verified and not past its expiry */
  valid: boolean;
}

/** Records an identity verification (e.g. qualified investor) outcome; the newest record per kind counts. */
export async function recordVerification(
  deps: CrmDeps,
  input: {
    profileId: Types.ObjectId;
    kind: string;
    status: VerificationStatus;
    method: string;
    by: string;
    expiresAt?: Date;
    scope?: ProfileScope;
    /** For the timeline (default `staff:<by>`; `customer` when the customer verified themselves). */
    source?: string;
  },
): Promise<PresentedVerification> {
  const doc = await scopedProfile(input.profileId, input.scope);
  const at = deps.now();
  const v = await Verification.create({
    profileId: doc._id,
    kind: input.kind,
    status: input.status,
    method: input.method,
    verifiedBy: input.by,
    at,
    expiresAt: input.expiresAt,
  });
  await appendTimeline(deps, {
    profileId: doc._id,
    type: 'profile.verification',
    at,
    source: input.source ?? `staff:${input.by}`,
    payload: { kind: input.kind, status: input.status, method: input.method },
  });
  return presentVerification(v.toObject(), at);
}

function presentVerification(
  v: { kind: string; status: VerificationStatus; method: string; verifiedBy?: string; at: Date; expiresAt?: Date },
  now: Date,
): PresentedVerification {
  return {
    kind: v.kind,
    status: v.status,
    method: v.method,
    verifiedBy: v.verifiedBy,
    at: v.at.toISOString(),
    expiresAt: v.expiresAt?.toISOString(),
    valid: v.status === 'verified' && (!v.expiresAt || v.expiresAt > now),
  };
}

/** The newest verification per kind. */
export async function currentVerifications(profileId: Types.ObjectId): Promise<PresentedVerification[]> {
  const family = await profileFamily(profileId);
  const rows = await Verification.find({ profileId: idsFilter(family) })
    .sort({ at: -1 })
    .limit(200)
    .lean();
  const seen = new Set<string>();
  const now = new Date();
  return rows.filter((r) => !seen.has(r.kind) && seen.add(r.kind)).map((r) => presentVerification(r, now));
}

export interface ProfileQuery {
  identity?: { kind: IdentityKind; value: string };
  /** Prefix match, case-sensitive. */
  name?: string;
  phone?: string;
  tagId?: Types.ObjectId;
  tier?: string;
  stage?: LifecycleStage;
  ownerStaffId?: string;
  region?: string;
  attribute?: { key: string; value: string | number | boolean };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The MongoDB filter for a search inside a scope (identity, phone and tag are resolved to ids first). */
async function searchFilter(
  deps: CrmDeps,
  query: ProfileQuery,
  scope: ProfileScope | undefined,
): Promise<QueryFilter<ProfileDoc> | undefined> {
  const and: QueryFilter<ProfileDoc>[] = [{ mergedInto: { $exists: false } }, scopeFilter(scope)];
  if (query.identity) {
    const key = query.identity.kind === 'phone' ? deps.phones.hashOf(query.identity.value) : query.identity.value;
    if (!key) return undefined;
    const found = await Identity.findOne({ kind: query.identity.kind, key }, { profileId: 1 }).lean();
    if (!found) return undefined;
    and.push({ _id: await canonicalId(found.profileId) });
  }
  if (query.phone) {
    const hash = deps.phones.hashOf(query.phone);
    if (!hash) return undefined;
    and.push({ 'phone.hash': hash });
  }
  if (query.name) and.push({ name: { $regex: `^${escapeRegex(query.name)}` } });
  if (query.tier) and.push({ tier: query.tier });
  if (query.stage) and.push({ stage: query.stage });
  if (query.ownerStaffId) and.push({ ownerStaffId: query.ownerStaffId });
  if (query.region) and.push({ region: query.region });
  if (query.attribute) {
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(query.attribute.key))
      throw new DomainError('invalid', 'invalid_attribute_key', 'Not an attribute key.');
    and.push({ [`attributes.${query.attribute.key}`]: query.attribute.value });
  }
  if (query.tagId) {
    // Tagged profiles may be many: the tag rows are read in pages by the caller's cursor below.
    const tagged = await ProfileTag.find({ tagId: query.tagId }, { profileId: 1 }).limit(50_000).lean();
    and.push({ _id: { $in: tagged.map((t) => t.profileId) } });
  }
  return { $and: and };
}

/** Searches current profiles inside the scope, newest first, with an id cursor. */
export async function searchProfiles(
  deps: CrmDeps,
  input: { query: ProfileQuery; scope?: ProfileScope; cursor?: string; limit?: number },
): Promise<{ profiles: PresentedProfile[]; nextCursor?: string }> {
  const limit = Math.min(Math.max(input.limit ?? 50, 1), 200);
  const filter = await searchFilter(deps, input.query, input.scope);
  if (!filter) return { profiles: [] };
  if (input.cursor) {
    if (!/^[0-9a-f]{24}$/.test(input.cursor)) throw new DomainError('invalid', 'invalid_cursor', 'Bad cursor.');
    (filter.$and as QueryFilter<ProfileDoc>[]).push({ _id: { $lt: new Types.ObjectId(input.cursor) } });
  }
  const rows = await Profile.find(filter)
    .sort({ _id: -1 })
    .limit(limit + 1)
    .lean();
  const page = rows.slice(0, limit);
  return {
    profiles: page.map(presentProfile),
    nextCursor: rows.length > limit ? page[page.length - 1]?._id.toHexString() : undefined,
  };
}

const EXPORT_COLUMNS = [
  'id',
  'name',
  'gender',
  'region',
  'phone',
  'tier',
  'stage',
  'ownerStaffId',
  'createdAt',
] as const;

/**
 * A filtered list as CSV, streamed from a cursor (memory stays flat for any size), phones masked.
 * The export is audited before the first byte goes out.
 */
export async function exportProfilesCsv(
  deps: CrmDeps,
  input: { query: ProfileQuery; scope?: ProfileScope; actor: string },
): Promise<Readable> {
  const filter = await searchFilter(deps, input.query, input.scope);
  await deps.audit?.record({
    actor: input.actor,
    action: 'crm.profiles.export',
    details: { query: { ...input.query, phone: input.query.phone ? '[filtered]' : undefined }, scope: input.scope },
  });
  deps.logger.info({ actor: input.actor }, 'crm: profile export started');
  const csv = stringify({ header: true, columns: [...EXPORT_COLUMNS] });
  if (!filter) {
    csv.end();
    return csv;
  }
  const cursor = Profile.find(filter).sort({ _id: -1 }).lean().cursor({ batchSize: 500 });
  const rows = Readable.from(
    (async function* () {
      for await (const doc of cursor) {
        const p = presentProfile(doc);
        yield { ...p, attributes: undefined };
      }
    })(),
  );
  rows.on('error', (err) => csv.destroy(err));
  return rows.pipe(csv);
}
