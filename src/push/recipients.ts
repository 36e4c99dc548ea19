/**
 * Who a push run reaches and what each person gets: tiers, follower openids and consent read in batches, the
 * content for a tier and variant, and the rules every marketing send passes first on any channel.
 */
import { createHash } from 'node:crypto';
import mongoose, { Types } from 'mongoose';
import type { Redis } from '../infra/redis.js';
import { isListed, type ListKind } from '../risk/engine.js';
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
  if (!r.consent) return 'consent';
  const listed: [ListKind, string][] = [['profile', r.profileId]];
  if (r.openid) listed.push(['openid', r.openid]);
  if (await isListed(deps.redis, 'black', listed)) return 'blacklist';
  if (await deps.redis.exists(`push:cooldown:${r.profileId}`)) return 'unfollow_cooldown';
  return undefined;
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
      .sort({ at: 1 })
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
