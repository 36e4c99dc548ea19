/**
 * Who a push run reaches and what each person gets: tiers, follower openids and consent read in batches, the
 * content for a tier and variant, and the rules every marketing send passes first on any channel.
 */
import { createHash } from 'node:crypto';
import mongoose, { Types } from 'mongoose';
import type { Redis } from '../infra/redis.js';
import { listedEach, type ListKind } from '../risk/engine.js';
import type { PlanContent, PushPlanDoc } from './model.js';

/** Deterministic A/B split: the same profile lands in the same variant of a plan every time. */
export function variantOf(planId: string, profileId: string, splitB: number): 'A' | 'B' {
  if (splitB <= 0) return 'A';
  const bucket = createHash('sha256').update(`${planId}:${profileId}`).digest().readUInt32BE(0) / 0x1_0000_0000;
  return bucket < splitB ? 'B' : 'A';
}

export function contentFor(plan: PushPlanDoc, tier: string, variant: 'A' | 'B'): PlanContent | undefined {
  const ofVariant = plan.contents.filter((c) => c.variant === variant);
  const pool = ofVariant.length > 0 ? ofVariant : plan.contents.filter((c) => c.variant === 'A');
  return pool.find((c) => c.tiers?.includes(tier)) ?? pool.find((c) => !c.tiers || c.tiers.length === 0);
}

export interface Recipient {
  profileId: string;
  tier: string;
  openid?: string;
  consent: boolean;
}

/** The rules every marketing send passes first, on any channel: consent, the blacklist, the unfollow cool-down. */
export async function marketingRefusal(deps: { redis: Redis }, r: Recipient): Promise<string | undefined> {
  const [refusal] = await marketingRefusals(deps, [r]);
  return refusal;
}

/** marketingRefusal for many recipients at once: two Redis round trips for the lot. */
export async function marketingRefusals(
  deps: { redis: Redis },
  rs: readonly Recipient[],
): Promise<(string | undefined)[]> {
  const listed = await listedEach(
    deps.redis,
    'black',
    rs.map((r): [ListKind, string][] =>
      r.openid
        ? [
            ['profile', r.profileId],
            ['openid', r.openid],
          ]
        : [['profile', r.profileId]],
    ),
  );
  const pipeline = deps.redis.pipeline();
  for (const r of rs) pipeline.exists(`push:cooldown:${r.profileId}`);
  const cooling = rs.length > 0 ? ((await pipeline.exec()) ?? []) : [];
  return rs.map((r, i) =>
    !r.consent ? 'consent' : listed[i] ? 'blacklist' : cooling[i]?.[1] === 1 ? 'unfollow_cooldown' : undefined,
  );
}

/** Reads recipients for a run's batches: by lookups, or from one streamed pass (see recipientSource). */
export interface RecipientSource {
  /** How this run reads them, for the log. */
  readonly mode: 'lookup' | 'scan';
  of(profileIds: string[]): Promise<Recipient[]>;
}

/**
 * Chooses how a run reads its recipients. A batch lookup (`$in` over 200 ids) is an index read on MongoDB, but
 * FerretDB 1.24 does not push `$in` down to PostgreSQL: every batch reads the whole profile, follower and
 * consent collections, so a run over N members costs N²/200 rows (a 200,000-member push: 200 billion). A large
 * run therefore streams the three collections once, with cursors and projections, and keeps only its members'
 * tier, openid and consent (about 150 bytes each). Small runs, and runs over a small share of a MongoDB
 * collection, keep the lookups.
 */
export async function recipientSource(
  account: string,
  members: readonly string[],
  consentChannel: 'wechat' | 'wecom',
  storage: { flavor: 'mongodb' | 'ferretdb' },
  options: { consentRefreshMs?: number } = {},
): Promise<RecipientSource> {
  const refreshMs = options.consentRefreshMs ?? CONSENT_REFRESH_MS;
  const lookup: RecipientSource = { mode: 'lookup', of: (ids) => recipients(account, ids, consentChannel) };
  if (members.length <= 200) return lookup;
  if (storage.flavor === 'mongodb') {
    const db = mongoose.connection.db;
    if (!db) throw new Error('mongo is not connected');
    const followers = await db.collection('crm_followers').estimatedDocumentCount();
    if (members.length * 10 < followers) return lookup;
  }
  const memberSet = new Set(members);
  const known = await scanRecipients(account, memberSet);
  let consent = await scanConsents(memberSet, consentChannel);
  let consentsReadAt = Date.now();
  return {
    mode: 'scan',
    async of(ids) {
      // A withdrawal during a long run is honoured within `refreshMs`: the consent log is read again.
      if (Date.now() - consentsReadAt > refreshMs) {
        consent = await scanConsents(memberSet, consentChannel);
        consentsReadAt = Date.now();
      }
      return ids.map((profileId) => ({
        profileId,
        tier: '',
        ...known.get(profileId),
        consent: consent.get(profileId) !== false,
      }));
    },
  };
}

/** How stale a streamed run's consents may get before they are read again. */
const CONSENT_REFRESH_MS = 30_000;

async function scanRecipients(
  account: string,
  members: Set<string>,
): Promise<Map<string, { tier: string; openid?: string }>> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const known = new Map<string, { tier: string; openid?: string }>();
  for await (const p of db.collection('crm_profiles').find({}, { projection: { tier: 1 }, batchSize: 2000 })) {
    const id = String(p._id);
    if (members.has(id)) known.set(id, { tier: String(p.tier ?? '') });
  }
  const followers = db
    .collection('crm_followers')
    .find({ account, subscribed: true }, { projection: { _id: 0, profileId: 1, openid: 1 }, batchSize: 2000 });
  for await (const f of followers) {
    const id = String(f.profileId);
    if (!members.has(id)) continue;
    const r = known.get(id);
    if (r) r.openid = String(f.openid);
    else known.set(id, { tier: '', openid: String(f.openid) });
  }
  return known;
}

/** Each member's newest consent decision on the channel, folded from the log without a sort. */
async function scanConsents(members: Set<string>, consentChannel: 'wechat' | 'wecom'): Promise<Map<string, boolean>> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const latest = new Map<string, { at: number; id: string; allowed: boolean }>();
  const consents = db
    .collection('crm_consents')
    .find(
      { channel: { $in: [consentChannel, 'all'] } },
      { projection: { profileId: 1, allowed: 1, at: 1 }, batchSize: 2000 },
    );
  for await (const c of consents) {
    const id = String(c.profileId);
    if (!members.has(id)) continue;
    const at = c.at instanceof Date ? c.at.getTime() : 0;
    const record = String(c._id);
    const seen = latest.get(id);
    // Newest `at` wins, ties broken by the record id (ObjectIds grow with time), as the consent service reads.
    if (seen && (seen.at > at || (seen.at === at && seen.id > record))) continue;
    latest.set(id, { at, id: record, allowed: Boolean(c.allowed) });
  }
  return new Map([...latest].map(([id, v]) => [id, v.allowed]));
}

/**
 * The members' tiers, their follower openid on the account, and their marketing consent on the channel
 * (`wechat` for the service account, `wecom` for staff group sends).
 */
export async function recipients(
  account: string,
  profileIds: string[],
  consentChannel: 'wechat' | 'wecom' = 'wechat',
): Promise<Recipient[]> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const oids = profileIds.filter((id) => Types.ObjectId.isValid(id)).map((id) => new Types.ObjectId(id));
  const [profiles, followers, consents] = await Promise.all([
    db
      .collection('crm_profiles')
      .find({ _id: { $in: oids } }, { projection: { tier: 1 } })
      .toArray(),
    db
      .collection('crm_followers')
      .find({ account, profileId: { $in: oids }, subscribed: true }, { projection: { profileId: 1, openid: 1 } })
      .toArray(),
    db
      .collection('crm_consents')
      .find(
        { profileId: { $in: oids }, channel: { $in: [consentChannel, 'all'] } },
        { projection: { profileId: 1, allowed: 1, at: 1 } },
      )
      .sort({ at: 1, _id: 1 })
      .toArray(),
  ]);
  const tier = new Map(profiles.map((p) => [String(p._id), String(p.tier ?? '')]));
  const openid = new Map(followers.map((f) => [String(f.profileId), String(f.openid)]));
  const consent = new Map<string, boolean>();
  for (const c of consents) consent.set(String(c.profileId), Boolean(c.allowed));
  return profileIds.map((profileId) => ({
    profileId,
    tier: tier.get(profileId) ?? '',
    ...(openid.has(profileId) ? { openid: openid.get(profileId)! } : {}),
    consent: consent.get(profileId) !== false,
  }));
}
