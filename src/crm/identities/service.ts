/**
 * Linking identities to profiles. Correctness rests on the unique (kind, key) index: the first insert of
 * an identity decides its owner; everyone who loses reads that owner. Rules (issue 6):
 *  - the same unionid is the same person (across accounts and WeCom): profiles are merged automatically;
 *  - a verified phone or a customer number links too, when the two profiles hold no contradicting
 *    strong identity (a different unionid, customer number or verified phone);
 *  - anything else that would join two profiles goes to the review queue, never a silent merge.
 */
import { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import type { CrmDeps } from '../deps.js';
import {
  canonicalId,
  ensureProfile,
  profileFamily,
  idsFilter,
  survivorOf,
  type ProfileSeed,
} from '../profiles/family.js';
import { Identity, LinkReview, Merge, type IdentityKind } from './model.js';
import { mergeProfiles } from './merge.js';

export interface IdentityInput {
  kind: IdentityKind;
  /** See IdentityDoc.key; build with the identity* helpers below. */
  key: string;
  verified?: boolean;
  /** What staff may see of it in the review queue (masked for phones). */
  label?: string;
}

export const identityOf = {
  openid: (account: string, openid: string): IdentityInput => ({
    kind: 'openid',
    key: `${account}:${openid}`,
    verified: true,
  }),
  unionid: (unionid: string): IdentityInput => ({ kind: 'unionid', key: unionid, verified: true }),
  externalUser: (corp: string, externalUserId: string): IdentityInput => ({
    kind: 'external_userid',
    key: `${corp}:${externalUserId}`,
    verified: true,
  }),
  customerNo: (customerNo: string): IdentityInput => ({ kind: 'customer_no', key: customerNo, verified: true }),
  phone: (deps: Pick<CrmDeps, 'phones'>, raw: string, verified: boolean): IdentityInput => {
    const stored = deps.phones.protect(raw);
    return { kind: 'phone', key: stored.hash, verified, label: stored.masked };
  },
};

const STRENGTH: Record<IdentityKind, number> = {
  unionid: 0,
  customer_no: 1,
  phone: 2,
  openid: 3,
  external_userid: 4,
};

function isLinking(i: IdentityInput): boolean {
  return i.kind === 'unionid' || i.kind === 'customer_no' || (i.kind === 'phone' && (i.verified ?? false));
}

function rank(i: Pick<IdentityInput, 'kind' | 'verified'>): number {
  return STRENGTH[i.kind] + (i.kind === 'phone' && !i.verified ? 10 : 0);
}

export interface Resolution {
  profileId: Types.ObjectId;
  created: boolean;
}

export interface ResolveInput {
  identities: IdentityInput[];
  /** Who reports these identities, e.g. 'wechat:fund'. */
  source: string;
  /** Fields of a profile created for unknown identities. */
  seed: Omit<ProfileSeed, 'source'>;
}

/** Finds the profile these identities belong to, creating one (from `seed`) when none is known, and links them all. */
export async function resolveProfile(deps: CrmDeps, input: ResolveInput): Promise<Resolution> {
  if (input.identities.length === 0)
    throw new DomainError('invalid', 'no_identity', 'At least one identity is needed.');
  const wanted = [...input.identities].sort((a, b) => rank(a) - rank(b));
  for (let attempt = 0; attempt < 4; attempt += 1) {
    // One equality look-up per identity (FerretDB uses the unique index for equality, not for $or/$in).
    const existing = (
      await Promise.all(wanted.map((i) => Identity.findOne({ kind: i.kind, key: i.key }).lean()))
    ).filter((e): e is NonNullable<typeof e> => e !== null);
    const find = (i: IdentityInput) => existing.find((e) => e.kind === i.kind && e.key === i.key);
    // A phone decides which profile this is only when both sides verified it, or when nothing else was given.
    const onlyPhones = wanted.every((w) => w.kind === 'phone');
    const decisive = wanted.find((i) => {
      const e = find(i);
      return e !== undefined && (i.kind !== 'phone' || onlyPhones || (e.verified && (i.verified ?? false)));
    });
    let target: Types.ObjectId;
    let created = false;
    let anchor: IdentityInput | undefined;
    if (!decisive) {
      anchor = wanted.find((i) => find(i) === undefined)!;
      const fresh = new Types.ObjectId();
      try {
        await insertIdentity(anchor, fresh, input.source);
      } catch (err) {
        if (isDuplicateKey(err)) continue; // someone linked it first: read their profile
        throw err;
      }
      await ensureProfile(fresh, { ...input.seed, source: input.source }, deps.config.tiers[0]!);
      target = fresh;
      created = true;
    } else {
      const survivor = await survivorOf(find(decisive)!.profileId);
      target = survivor.id;
      // The identity is written before its profile, so a process that died in between left an identity whose
      // profile never came: every later event would resolve to a profile no one can read or update. It is
      // created now (idempotent: a creator still on its way finds it there and carries on).
      if (!survivor.exists) await ensureProfile(target, { ...input.seed, source: input.source }, deps.config.tiers[0]!);
    }
    for (const identity of wanted) {
      if (identity === anchor) continue;
      const have = find(identity);
      if (have) {
        const owner = await canonicalId(have.profileId);
        if (owner.equals(target)) continue;
        // A channel identity (openid, external_userid) owned elsewhere is joined to this profile by the
        // event's strongest linking identity (unionid, customer number, verified phone), if it has one.
        const channel = identity.kind === 'openid' || identity.kind === 'external_userid';
        const via = (channel && wanted.find(isLinking)) || identity;
        target = await reconcile(deps, target, owner, via, via === identity ? have : (find(via) ?? via));
      } else {
        target = await attachIdentity(deps, identity, target, input.source);
      }
    }
    return { profileId: target, created };
  }
  throw new DomainError('unavailable', 'identity_contention', 'The identity is being linked concurrently; retry.');
}

/** Looks a profile up by one identity, without creating anything. */
export async function findByIdentity(
  identity: Pick<IdentityInput, 'kind' | 'key'>,
): Promise<Types.ObjectId | undefined> {
  const doc = await Identity.findOne({ kind: identity.kind, key: identity.key }, { profileId: 1 }).lean();
  return doc ? canonicalId(doc.profileId) : undefined;
}

async function insertIdentity(identity: IdentityInput, profileId: Types.ObjectId, source: string): Promise<void> {
  await Identity.create({
    kind: identity.kind,
    key: identity.key,
    profileId,
    verified: identity.verified ?? false,
    source,
  });
}

/** Links one identity to `target`; when another profile owns it, reconciles. Returns the profile to go on with. */
export async function attachIdentity(
  deps: CrmDeps,
  identity: IdentityInput,
  target: Types.ObjectId,
  source: string,
): Promise<Types.ObjectId> {
  try {
    await insertIdentity(identity, target, source);
    return target;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
  const owner = await Identity.findOne({ kind: identity.kind, key: identity.key }).lean();
  if (!owner) throw new DomainError('unavailable', 'identity_contention', 'The identity moved while linking; retry.');
  const ownerProfile = await canonicalId(owner.profileId);
  if (ownerProfile.equals(target)) return target;
  return reconcile(deps, target, ownerProfile, identity, owner);
}

const STRONG_KINDS: IdentityKind[] = ['unionid', 'customer_no', 'phone'];

/** Two profiles claim one person through `via`: merge when the rules allow, else queue a review. */
async function reconcile(
  deps: CrmDeps,
  target: Types.ObjectId,
  other: Types.ObjectId,
  via: IdentityInput,
  owned: { verified?: boolean },
): Promise<Types.ObjectId> {
  const linking =
    via.kind === 'unionid' ||
    (via.kind === 'customer_no' && (owned.verified ?? false) && (via.verified ?? false)) ||
    (via.kind === 'phone' && (owned.verified ?? false) && (via.verified ?? false));
  const reason = linking ? await contradiction(target, other) : `${via.kind} already belongs to another profile`;
  const undone =
    linking && !reason
      ? await Merge.exists({
          undoneAt: { $exists: true },
          $or: [
            { sourceId: target, targetId: other },
            { sourceId: other, targetId: target },
          ],
        })
      : null;
  if (linking && !reason && !undone) {
    // The older profile survives: a deterministic choice, so racing links agree on the direction.
    const [older, newer] = target.toHexString() <= other.toHexString() ? [target, other] : [other, target];
    try {
      await mergeProfiles(deps, { sourceId: newer, targetId: older, reason: `same ${via.kind}`, by: 'system' });
    } catch (err) {
      if (!(err instanceof DomainError && err.code === 'already_merged')) throw err;
    }
    return canonicalId(older);
  }
  await queueReview(deps, {
    profileIds: [target, other],
    identity: via,
    reason: reason ?? (undone ? 'staff unmerged these profiles before' : `${via.kind} conflict`),
  });
  return target;
}

/** Names a strong identity kind on which the two profiles disagree, if any. */
async function contradiction(a: Types.ObjectId, b: Types.ObjectId): Promise<string | undefined> {
  const [famA, famB] = await Promise.all([profileFamily(a), profileFamily(b)]);
  const strong = await Identity.find(
    { profileId: { $in: [...famA, ...famB] }, kind: { $in: STRONG_KINDS } },
    { kind: 1, key: 1, profileId: 1, verified: 1 },
  ).lean();
  const inA = new Set(famA.map(String));
  for (const kind of STRONG_KINDS) {
    const ofKind = strong.filter((s) => s.kind === kind && (kind !== 'phone' || s.verified));
    const keysA = new Set(ofKind.filter((s) => inA.has(String(s.profileId))).map((s) => s.key));
    const keysB = new Set(ofKind.filter((s) => !inA.has(String(s.profileId))).map((s) => s.key));
    if (keysA.size > 0 && keysB.size > 0 && ![...keysA].some((k) => keysB.has(k)))
      return `the profiles have different ${kind === 'phone' ? 'verified phones' : `${kind}s`}`;
  }
  return undefined;
}

/** Queues a possible link for staff; the same conflict is queued once. */
export async function queueReview(
  deps: CrmDeps,
  input: { profileIds: [Types.ObjectId, Types.ObjectId]; identity: IdentityInput; reason: string },
): Promise<void> {
  const [low, high] = input.profileIds.map(String).sort();
  const dedupKey = `${input.identity.kind}:${input.identity.key}:${low}:${high}`;
  try {
    await LinkReview.create({
      dedupKey,
      profileIds: input.profileIds,
      identityKind: input.identity.kind,
      identityLabel: input.identity.kind === 'phone' ? (input.identity.label ?? 'phone') : input.identity.key,
      reason: input.reason,
    });
    deps.logger.info(
      { profileIds: [low, high], identityKind: input.identity.kind },
      'crm: conflicting link queued for review',
    );
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
}

export interface PresentedIdentity {
  kind: IdentityKind;
  /** Phones show masked; other keys as stored. */
  value: string;
  verified: boolean;
  source: string;
  linkedAt: string;
}

/** A profile's identities (including merged profiles'), phones masked. */
export async function identitiesOf(deps: CrmDeps, profileId: Types.ObjectId): Promise<PresentedIdentity[]> {
  const family = await profileFamily(profileId);
  const rows = await Identity.find({ profileId: idsFilter(family) })
    .sort({ createdAt: 1 })
    .lean();
  return rows.map((r) => ({
    kind: r.kind,
    value: r.kind === 'phone' ? '[phone]' : r.key,
    verified: r.verified,
    source: r.source,
    linkedAt: r.createdAt.toISOString(),
  }));
}

/** The unionid a profile (or a profile merged into it) holds, if the CRM knows one. */
export async function unionidOf(profileId: Types.ObjectId): Promise<string | undefined> {
  const family = await profileFamily(await canonicalId(profileId));
  const row = await Identity.findOne({ profileId: idsFilter(family), kind: 'unionid' }, { key: 1 }).lean();
  return row?.key;
}

/**
 * The profile that holds `identity` (a follower's unionid), when that profile was known before `before` through
 * anything but this follower: another account's follower, a WeCom contact, an import, another openid. What the
 * follower's own account linked for the follower (its openid, the unionid its enrichment found) does not count.
 */
export async function ownerKnownBefore(
  identity: Pick<IdentityInput, 'kind' | 'key'>,
  before: Date,
  follower: { account: string; openid: string },
): Promise<Types.ObjectId | undefined> {
  const owner = await findByIdentity(identity);
  if (!owner) return undefined;
  const family = await profileFamily(owner);
  const earlier = await Identity.find(
    { profileId: idsFilter(family), createdAt: { $lt: before } },
    { kind: 1, key: 1, source: 1 },
  )
    .limit(100)
    .lean();
  const own = identityOf.openid(follower.account, follower.openid);
  const ownSource = `wechat:${follower.account}`;
  const elsewhere = earlier.some(
    (e) =>
      !(e.kind === own.kind && e.key === own.key) &&
      !(e.kind === identity.kind && e.key === identity.key && e.source === ownSource),
  );
  return elsewhere ? owner : undefined;
}

/**
 * The strong identity kinds two profiles are claimed to share while staff have not decided: an open link
 * review between them (e.g. one verified phone on two WeChat users with different unionids). Two profiles the
 * CRM merged are one profile; callers compare canonical ids for that.
 */
export async function contestedBetween(a: Types.ObjectId, b: Types.ObjectId): Promise<IdentityKind[]> {
  const [famA, famB] = await Promise.all([canonicalId(a).then(profileFamily), canonicalId(b).then(profileFamily)]);
  const inB = new Set(famB.map(String));
  // Bounded: a profile sits in few reviews; the filter on the other side runs here.
  const open = await LinkReview.find(
    { profileIds: idsFilter(famA), status: 'open' },
    { profileIds: 1, identityKind: 1 },
  )
    .limit(200)
    .lean();
  const kinds = open.filter((r) => r.profileIds.some((id) => inB.has(String(id)))).map((r) => r.identityKind);
  return [...new Set(kinds)];
}
