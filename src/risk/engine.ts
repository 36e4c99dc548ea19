/**
 * The risk engine shared by red envelopes and referrals: assess(action, subject, facts) runs every rule and
 * answers allow / review / deny with the rules that fired, to be stored with the claim or reward it judged.
 *
 * Lists (black, gray) live in MongoDB as the record of who put an entry there and why, mirrored into Redis
 * sets for the hot path; velocity counters are Redis INCRs in fixed windows. Facts about the customer's
 * history (when they followed, how often they resubscribed, how many accounts share their unionid or phone)
 * come from the CRM through the caller, so the engine reads nothing from other domains.
 */
import mongoose, { Schema } from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import type { Redis } from '../infra/redis.js';

export type Verdict = 'allow' | 'review' | 'deny';
export const LIST_KINDS = ['openid', 'unionid', 'phone', 'ip', 'device', 'profile'] as const;
export type ListKind = (typeof LIST_KINDS)[number];

export interface RiskSubject {
  profileId: string;
  openid?: string;
  unionid?: string;
  /** The keyed hash of the phone (never the number itself). */
  phoneHash?: string;
  ip?: string;
  device?: string;
}

export interface RiskFacts {
  followedAt?: Date;
  /** Subscribe events of this follower over the last 30 days (subscribe–unsubscribe–resubscribe farming). */
  subscribesLast30Days?: number;
  /** Distinct profiles or followers sharing this customer's unionid or phone. */
  accountsSharingIdentity?: number;
  /**
   * Two-sided actions (a referral: the subject brings the counterpart): what the caller found the two sides to
   * share — one profile, a unionid, a customer number, a verified phone, a device, an IP. Any of them is one
   * person on both sides.
   */
  sharedWithCounterpart?: readonly SharedIdentifier[];
}

export const SHARED_IDENTIFIERS = ['profile', 'unionid', 'customer_no', 'phone', 'device', 'ip'] as const;
export type SharedIdentifier = (typeof SHARED_IDENTIFIERS)[number];

export interface RiskPolicy {
  newFollowerCooldownHours: number;
  maxSubscribesLast30Days: number;
  maxAccountsSharingIdentity: number;
  /** Attempts per subject kind within a window; exceeding denies. */
  velocity: Partial<Record<'profile' | 'ip' | 'device', { limit: number; windowSeconds: number }>>;
}

export const DEFAULT_POLICY: RiskPolicy = {
  newFollowerCooldownHours: 0,
  maxSubscribesLast30Days: 3,
  maxAccountsSharingIdentity: 3,
  velocity: { profile: { limit: 20, windowSeconds: 60 }, ip: { limit: 60, windowSeconds: 60 } },
};

export interface FiredRule {
  rule: string;
  verdict: Exclude<Verdict, 'allow'>;
  detail: string;
}

export interface RiskDecision {
  verdict: Verdict;
  rules: FiredRule[];
}

const listSchema = new Schema(
  {
    list: { type: String, enum: ['black', 'gray'], required: true },
    kind: { type: String, enum: LIST_KINDS, required: true },
    value: { type: String, required: true },
    reason: { type: String, required: true },
    addedBy: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'risk_list_entries' },
);
listSchema.index({ list: 1, kind: 1, value: 1 }, { unique: true });
export const RiskListEntry = mongoose.model('RiskListEntry', listSchema);

const listKey = (list: 'black' | 'gray', kind: ListKind) => `risk:list:${list}:${kind}`;

/** Whether any of the values is on the list (one Redis round trip; the lists' mirror is kept by the engine). */
export async function isListed(
  redis: Redis,
  list: 'black' | 'gray',
  values: readonly (readonly [ListKind, string])[],
): Promise<boolean> {
  if (values.length === 0) return false;
  const [listed] = await listedEach(redis, list, [values]);
  return listed === true;
}

/** For each item, whether any of its values is on the list: one Redis round trip for the lot. */
export async function listedEach(
  redis: Redis,
  list: 'black' | 'gray',
  items: readonly (readonly (readonly [ListKind, string])[])[],
): Promise<boolean[]> {
  const pipeline = redis.pipeline();
  for (const values of items) for (const [kind, value] of values) pipeline.sismember(listKey(list, kind), value);
  const answers = items.length > 0 ? ((await pipeline.exec()) ?? []) : [];
  let i = 0;
  return items.map((values) => {
    let listed = false;
    for (let j = 0; j < values.length; j += 1) if (answers[i++]?.[1] === 1) listed = true;
    return listed;
  });
}

export interface RiskEngine {
  assess(action: string, subject: RiskSubject, facts: RiskFacts, policy?: RiskPolicy): Promise<RiskDecision>;
  addToList(entry: {
    list: 'black' | 'gray';
    kind: ListKind;
    value: string;
    reason: string;
    addedBy: string;
  }): Promise<void>;
  removeFromList(list: 'black' | 'gray', kind: ListKind, value: string): Promise<void>;
  /** Reloads the Redis mirror from MongoDB (after a Redis loss; run at start by the worker). */
  syncLists(): Promise<number>;
}

function subjectValues(subject: RiskSubject): [ListKind, string][] {
  const pairs: [ListKind, string | undefined][] = [
    ['profile', subject.profileId],
    ['openid', subject.openid],
    ['unionid', subject.unionid],
    ['phone', subject.phoneHash],
    ['ip', subject.ip],
    ['device', subject.device],
  ];
  return pairs.filter((p): p is [ListKind, string] => typeof p[1] === 'string' && p[1].length > 0);
}

export function createRiskEngine(redis: Redis, now: () => Date = () => new Date()): RiskEngine {
  return {
    async assess(action, subject, facts, policy = DEFAULT_POLICY) {
      const rules: FiredRule[] = [];
      const values = subjectValues(subject);

      const pipeline = redis.pipeline();
      for (const [kind, value] of values) {
        pipeline.sismember(listKey('black', kind), value);
        pipeline.sismember(listKey('gray', kind), value);
      }
      const listed = (await pipeline.exec()) ?? [];
      values.forEach(([kind], i) => {
        if (listed[i * 2]?.[1] === 1)
          rules.push({ rule: `blacklist.${kind}`, verdict: 'deny', detail: `${kind} is blacklisted` });
        if (listed[i * 2 + 1]?.[1] === 1)
          rules.push({ rule: `graylist.${kind}`, verdict: 'review', detail: `${kind} is graylisted` });
      });

      const at = now();
      if (policy.newFollowerCooldownHours > 0 && facts.followedAt) {
        const hours = (at.getTime() - facts.followedAt.getTime()) / 3_600_000;
        if (hours < policy.newFollowerCooldownHours)
          rules.push({
            rule: 'new_follower_cooldown',
            verdict: 'deny',
            detail: `followed ${hours.toFixed(1)} h ago (< ${policy.newFollowerCooldownHours} h)`,
          });
      }
      if ((facts.subscribesLast30Days ?? 0) > policy.maxSubscribesLast30Days)
        rules.push({
          rule: 'resubscribe_farming',
          verdict: 'deny',
          detail: `${facts.subscribesLast30Days} subscribes in 30 days`,
        });
      if ((facts.accountsSharingIdentity ?? 0) > policy.maxAccountsSharingIdentity)
        rules.push({
          rule: 'shared_identity',
          verdict: 'review',
          detail: `${facts.accountsSharingIdentity} accounts share a unionid or phone`,
        });

      for (const kind of new Set(facts.sharedWithCounterpart ?? []))
        rules.push({
          rule: `self_dealing.${kind}`,
          verdict: 'deny',
          detail: `the counterpart shares the subject's ${kind}`,
        });

      for (const [kind, limits] of Object.entries(policy.velocity) as [
        'profile' | 'ip' | 'device',
        { limit: number; windowSeconds: number },
      ][]) {
        const value = kind === 'profile' ? subject.profileId : kind === 'ip' ? subject.ip : subject.device;
        if (!value) continue;
        const bucket = Math.floor(at.getTime() / 1000 / limits.windowSeconds);
        const key = `risk:velocity:${action}:${kind}:${value}:${bucket}`;
        const count = await redis.incr(key);
        if (count === 1) await redis.expire(key, limits.windowSeconds * 2);
        if (count > limits.limit)
          rules.push({
            rule: `velocity.${kind}`,
            verdict: 'deny',
            detail: `${count} attempts in ${limits.windowSeconds} s (limit ${limits.limit})`,
          });
      }

      const verdict: Verdict = rules.some((r) => r.verdict === 'deny')
        ? 'deny'
        : rules.some((r) => r.verdict === 'review')
          ? 'review'
          : 'allow';
      return { verdict, rules };
    },

    async addToList(entry) {
      try {
        await RiskListEntry.create({ ...entry, at: now() });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      await redis.sadd(listKey(entry.list, entry.kind), entry.value);
    },

    async removeFromList(list, kind, value) {
      await RiskListEntry.deleteOne({ list, kind, value });
      await redis.srem(listKey(list, kind), value);
    },

    async syncLists() {
      const entries = await RiskListEntry.find({}).lean<{ list: 'black' | 'gray'; kind: ListKind; value: string }[]>();
      const pipeline = redis.pipeline();
      for (const list of ['black', 'gray'] as const) for (const kind of LIST_KINDS) pipeline.del(listKey(list, kind));
      for (const e of entries) pipeline.sadd(listKey(e.list, e.kind), e.value);
      await pipeline.exec();
      return entries.length;
    },
  };
}
