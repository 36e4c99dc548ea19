/**
 * Eligibility of one customer for a program or campaign: tier, a valid identity verification (e.g. a
 * qualified investor), membership of an audience, or an event such as a purchase of at least N fen in a
 * window. Used by reservations and red envelopes; reads the CRM, caches audience members for a few seconds.
 */
import mongoose, { Types } from 'mongoose';
import { resolveDate } from './conditions.js';
import { membersOf, type AudienceDeps } from './service.js';

export interface EligibilityRule {
  tiers?: string[];
  verification?: string;
  audienceId?: string;
  event?: { type: string; minAmountFen?: number; from?: string; until?: string };
}

export type Verdict = { eligible: true } | { eligible: false; reason: string };

export interface Eligibility {
  check(profileId: string, rule: EligibilityRule): Promise<Verdict>;
}

export interface EligibilityDeps extends AudienceDeps {
  /** The profile's verifications that are valid now, by kind (the CRM's currentVerifications). */
  validVerifications(profileId: Types.ObjectId): Promise<string[]>;
  audienceCacheMs?: number;
}

export function createEligibility(deps: EligibilityDeps): Eligibility {
  const cache = new Map<string, { members: Set<string>; at: number }>();
  const ttl = deps.audienceCacheMs ?? 10_000;

  async function inAudience(audienceId: string, profileId: string): Promise<boolean> {
    const hit = cache.get(audienceId);
    if (hit && Date.now() - hit.at < ttl) return hit.members.has(profileId);
    const members = await membersOf(deps, audienceId);
    cache.set(audienceId, { members, at: Date.now() });
    return members.has(profileId);
  }

  return {
    async check(profileId, rule) {
      if (!Types.ObjectId.isValid(profileId)) return { eligible: false, reason: 'unknown customer' };
      const oid = new Types.ObjectId(profileId);
      const db = mongoose.connection.db;
      if (!db) throw new Error('mongo is not connected');
      // The profile is read only when the rule names tiers (the claim path of an open campaign reads nothing).
      if (rule.tiers && rule.tiers.length > 0) {
        const profile = await db.collection('crm_profiles').findOne({ _id: oid }, { projection: { tier: 1 } });
        if (!profile) return { eligible: false, reason: 'unknown customer' };
        if (!rule.tiers.includes(String(profile.tier)))
          return { eligible: false, reason: `tier ${String(profile.tier)} is not eligible` };
      }
      if (rule.verification && !(await deps.validVerifications(oid)).includes(rule.verification))
        return { eligible: false, reason: `needs a valid ${rule.verification} verification` };
      if (rule.audienceId && !(await inAudience(rule.audienceId, profileId)))
        return { eligible: false, reason: 'not in the audience' };
      if (rule.event) {
        const now = deps.now?.() ?? new Date();
        const at: Record<string, Date> = {};
        if (rule.event.from) at.$gte = resolveDate(rule.event.from, now);
        if (rule.event.until) at.$lt = resolveDate(rule.event.until, now);
        const found = await db.collection('crm_timeline').findOne(
          {
            profileId: oid,
            type: rule.event.type,
            ...(Object.keys(at).length > 0 ? { at } : {}),
            ...(rule.event.minAmountFen !== undefined
              ? { 'payload.amountFen': { $gte: rule.event.minAmountFen } }
              : {}),
          },
          { projection: { _id: 1 } },
        );
        if (!found) return { eligible: false, reason: `no qualifying ${rule.event.type}` };
      }
      return { eligible: true };
    },
  };
}
