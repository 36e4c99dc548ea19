/**
 * Attribution from the gateway's events. A subscribe through `qrscene_rf.…` credits the code's referrer
 * once per campaign and friend (unique index: first touch wins) unless the friend is the referrer, is not a
 * new customer, closes a ring, trips the risk engine (bursts from one IP, lists) or passes the referrer's
 * caps; those are stored as rejected relations with their reason, or as scans that earn nothing. A friend
 * is new when this account never saw them and their unionid was not known before (another account, WeCom).
 * A SCAN by a follower records interest only. An unsubscribe inside the window drops a pending credit.
 */
import { isDuplicateKey } from '../../infra/errors.js';
import { codeOfScene } from './codes.js';
import { Referral, ReferralScan, type CodeDoc, type ReferralDoc } from './model.js';
import { dayOf, getCampaign, isLive, type ReferralDeps } from './service.js';
import { rejectReferral } from './settlement.js';

export interface SubscribeInput {
  /** The gateway's dedup key for the push (a retried push is one attribution). */
  eventId: string;
  account: string;
  openid: string;
  scene: string;
  at: Date;
  /** Known only on entries that see the friend's network (H5, API); WeChat pushes carry none. */
  network?: { ip?: string; device?: string };
}

export type Attribution =
  | { outcome: 'credited'; referralId: string }
  | { outcome: 'rejected'; referralId: string; reason: string }
  | { outcome: 'ignored'; reason: 'unknown_scene' | 'campaign_not_running' | 'wrong_account' }
  | { outcome: 'refused'; reason: 'self' | 'not_new' | 'duplicate' };

const capKey = (campaignId: string, profileId: string, day?: string) =>
  `rf:{${campaignId}}:cap:${profileId}${day ? `:${day}` : ''}`;

async function recordScan(
  input: { eventId: string; openid: string; at: Date },
  code: CodeDoc,
  outcome: string,
): Promise<void> {
  try {
    await ReferralScan.create({
      eventId: input.eventId,
      campaignId: code.campaignId,
      referrerProfileId: code.referrerProfileId,
      openid: input.openid,
      outcome,
      at: input.at,
    });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
}

async function liveCode(
  account: string,
  scene: string,
  at: Date,
): Promise<
  { code: CodeDoc; withinDays: number; ipPerHour: number; capTotal: number; capPerDay: number } | Attribution
> {
  const code = await codeOfScene(scene);
  if (!code) return { outcome: 'ignored', reason: 'unknown_scene' };
  if (code.account !== account) return { outcome: 'ignored', reason: 'wrong_account' };
  const campaign = await getCampaign(code.campaignId);
  if (!isLive(campaign, at)) return { outcome: 'ignored', reason: 'campaign_not_running' };
  return {
    code,
    withinDays: campaign.qualify.withinDays,
    ipPerHour: campaign.ipPerHour,
    capTotal: campaign.capTotal,
    capPerDay: campaign.capPerDay,
  };
}

/** A subscribe through a referral code: credits the referrer once, or says why not. */
export async function attributeSubscribe(deps: ReferralDeps, input: SubscribeInput): Promise<Attribution> {
  const found = await liveCode(input.account, input.scene, input.at);
  if ('outcome' in found) return found;
  const { code } = found;

  if (input.openid === code.referrerOpenid) {
    await recordScan(input, code, 'self');
    return { outcome: 'refused', reason: 'self' };
  }
  const existing = await Referral.findOne({
    campaignId: code.campaignId,
    friendOpenid: input.openid,
  }).lean<ReferralDoc>();
  if (existing) {
    await recordScan(input, code, 'duplicate');
    return { outcome: 'refused', reason: 'duplicate' };
  }
  if (await deps.friends.knownBefore(input.account, input.openid, input.at)) {
    await recordScan(input, code, 'not_new');
    return { outcome: 'refused', reason: 'not_new' };
  }
  // The unionid was known before this follow: the referrer themself (one WeChat user), or a customer we
  // already had through another account, WeCom or an import.
  const knownAs = await deps.friends.knownElsewhere(input.account, input.openid, input.at);
  if (knownAs) {
    const self = knownAs === code.referrerProfileId;
    await recordScan(input, code, self ? 'self' : 'not_new');
    return { outcome: 'refused', reason: self ? 'self' : 'not_new' };
  }
  // Same person behind both accounts: the CRM joined them into one profile (same unionid or phone).
  const friendProfile = await deps.friends.profileOf(input.account, input.openid);
  if (friendProfile && friendProfile === code.referrerProfileId) {
    await recordScan(input, code, 'self');
    return { outcome: 'refused', reason: 'self' };
  }

  let reason: string | undefined;
  if (await closesRing(input.account, code.referrerOpenid, input.openid)) reason = 'ring';

  const risk = await deps.risk.assess(
    `referral:${code.campaignId}`,
    { profileId: code.referrerProfileId, openid: code.referrerOpenid, ...input.network },
    {
      sharedWithCounterpart: [
        ...(friendProfile ? await deps.friends.sharedIdentities(friendProfile, code.referrerProfileId) : []),
        ...(await sharedNetwork(deps, code.referrerProfileId, input.network)),
      ],
    },
    { ...deps.riskPolicy, velocity: { ip: { limit: found.ipPerHour, windowSeconds: 3600 } } },
  );
  if (!reason && risk.verdict === 'deny')
    reason = `risk:${risk.rules.find((r) => r.verdict === 'deny')?.rule ?? 'deny'}`;

  const parent = await Referral.findOne(
    { campaignId: code.campaignId, friendOpenid: code.referrerOpenid },
    { depth: 1 },
  ).lean<{ depth: number }>();
  const day = dayOf(input.at);
  let referral: ReferralDoc;
  try {
    const created = await Referral.create({
      campaignId: code.campaignId,
      account: input.account,
      referrerProfileId: code.referrerProfileId,
      referrerOpenid: code.referrerOpenid,
      friendOpenid: input.openid,
      scene: code.scene,
      state: reason ? 'rejected' : 'pending',
      ...(reason ? { reason, settledAt: input.at } : {}),
      subscribedAt: input.at,
      holdUntil: new Date(input.at.getTime() + found.withinDays * 86_400_000),
      day,
      depth: (parent?.depth ?? 0) + 1,
      risk: { verdict: risk.verdict, rules: risk.rules },
    });
    referral = created.toObject();
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    await recordScan(input, code, 'duplicate');
    return { outcome: 'refused', reason: 'duplicate' };
  }
  const referralId = referral._id.toString();
  if (reason) {
    deps.logger.info({ referralId, campaignId: code.campaignId, reason }, 'referral rejected');
    return { outcome: 'rejected', referralId, reason };
  }

  // Caps per referrer: Redis counters (atomic), taken only by relations that were actually created.
  const total = await deps.redis.incr(capKey(code.campaignId, code.referrerProfileId));
  const today = await deps.redis.incr(capKey(code.campaignId, code.referrerProfileId, day));
  if (today === 1) await deps.redis.expire(capKey(code.campaignId, code.referrerProfileId, day), 2 * 86_400);
  const capped = total > found.capTotal ? 'cap_total' : today > found.capPerDay ? 'cap_day' : undefined;
  if (capped) {
    await deps.redis.decr(capKey(code.campaignId, code.referrerProfileId));
    await deps.redis.decr(capKey(code.campaignId, code.referrerProfileId, day));
    await rejectReferral(deps, referral, capped);
    return { outcome: 'rejected', referralId, reason: capped };
  }
  deps.metrics
    .counter('referral_credits_total', 'Referral credits by outcome', ['outcome'])
    .inc({ outcome: 'pending' });
  deps.logger.info({ referralId, campaignId: code.campaignId, depth: referral.depth }, 'referral credited (pending)');
  return { outcome: 'credited', referralId };
}

/** A follower scanned a referral code: interest only (or a refused self-scan), never a credit. */
export async function recordFollowerScan(
  deps: ReferralDeps,
  input: { eventId: string; account: string; openid: string; scene: string; at: Date },
): Promise<Attribution> {
  const found = await liveCode(input.account, input.scene, input.at);
  if ('outcome' in found) return found;
  if (input.openid === found.code.referrerOpenid) {
    await recordScan(input, found.code, 'self');
    return { outcome: 'refused', reason: 'self' };
  }
  await recordScan(input, found.code, 'interest');
  return { outcome: 'refused', reason: 'not_new' };
}

/** The friend unfollowed: a pending credit whose window is still open is dropped. */
export async function onUnsubscribe(
  deps: ReferralDeps,
  input: { account: string; openid: string; at: Date },
): Promise<number> {
  const pending = await Referral.find({
    account: input.account,
    friendOpenid: input.openid,
    state: 'pending',
    holdUntil: { $gt: input.at },
  }).lean<ReferralDoc[]>();
  let dropped = 0;
  for (const referral of pending) if (await rejectReferral(deps, referral, 'unsubscribed')) dropped += 1;
  return dropped;
}

const networkKey = (profileId: string, kind: 'ip' | 'device') => `rf:${kind}s:${profileId}`;

/** Remembers a network the referrer used (H5/API entries), for the self-referral rule. */
export async function rememberReferrerNetwork(
  deps: ReferralDeps,
  profileId: string,
  network: { ip?: string; device?: string },
): Promise<void> {
  for (const kind of ['ip', 'device'] as const) {
    const value = network[kind];
    if (!value) continue;
    await deps.redis.sadd(networkKey(profileId, kind), value);
    await deps.redis.expire(networkKey(profileId, kind), 30 * 86_400);
  }
}

/** The friend's IP or device seen on the referrer before (when the entry knows them). */
async function sharedNetwork(
  deps: ReferralDeps,
  referrerProfileId: string,
  network: SubscribeInput['network'],
): Promise<('ip' | 'device')[]> {
  const shared: ('ip' | 'device')[] = [];
  for (const kind of ['ip', 'device'] as const) {
    const value = network?.[kind];
    if (value && (await deps.redis.sismember(networkKey(referrerProfileId, kind), value))) shared.push(kind);
  }
  return shared;
}

/** How far up the chain that brought the referrer a ring is looked for. */
const RING_HOPS = 4;

/**
 * A ring: the friend is among those who brought the referrer — their referrer, that one's referrer, … (in any
 * campaign of the account), so the two would be crediting each other.
 */
async function closesRing(account: string, referrerOpenid: string, friendOpenid: string): Promise<boolean> {
  const seen = new Set([referrerOpenid]);
  let frontier = [referrerOpenid];
  for (let hop = 0; hop < RING_HOPS && frontier.length > 0; hop += 1) {
    const next: string[] = [];
    for (const openid of frontier) {
      // One relation per campaign: a follower has few; the index { account, friendOpenid, state } serves it.
      const ups = await Referral.find({ account, friendOpenid: openid }, { referrerOpenid: 1 })
        .limit(20)
        .lean<{ referrerOpenid: string }[]>();
      for (const up of ups) {
        if (up.referrerOpenid === friendOpenid) return true;
        if (!seen.has(up.referrerOpenid)) {
          seen.add(up.referrerOpenid);
          next.push(up.referrerOpenid);
        }
      }
    }
    frontier = next;
  }
  return false;
}
