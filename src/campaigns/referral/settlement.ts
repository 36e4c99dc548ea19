/**
 * Settlement: a pending referral is decided once its qualifying window closes — confirmed when the friend
 * is still subscribed, did the qualifying action within the window and is still neither the referrer nor a
 * customer known before (what the CRM learned meanwhile is asked again), otherwise rejected with the reason.
 * Every state move passes one Redis gate per referral (SET NX), so concurrent jobs and unsubscribes decide
 * it once. A confirmation grants the referrer's reward, the friend's, and each milestone reached; each grant
 * is a reward record under a unique index, so none is given twice however often settlement runs.
 */
import { isDuplicateKey } from '../../infra/errors.js';
import { Referral, ReferralReward, type ReferralDoc, type Reward, type RewardDoc } from './model.js';
import { getCampaign, type ReferralDeps } from './service.js';

const gateKey = (referral: ReferralDoc) => `rf:{${referral.campaignId}}:settled:${referral._id.toString()}`;
const confirmedKey = (campaignId: string, profileId: string) => `rf:{${campaignId}}:confirmed:${profileId}`;

async function takeGate(deps: ReferralDeps, referral: ReferralDoc): Promise<boolean> {
  return (await deps.redis.set(gateKey(referral), '1', 'EX', 90 * 86_400, 'NX')) === 'OK';
}

/** Rejects a pending referral (once); false when it was already decided. */
export async function rejectReferral(deps: ReferralDeps, referral: ReferralDoc, reason: string): Promise<boolean> {
  if (!(await takeGate(deps, referral))) return false;
  await Referral.updateOne(
    { _id: referral._id, state: 'pending' },
    { $set: { state: 'rejected', reason, settledAt: deps.now() } },
  );
  deps.metrics.counter('referral_settled_total', 'Settled referrals', ['state']).inc({ state: 'rejected' });
  deps.logger.info({ referralId: referral._id.toString(), reason }, 'referral rejected');
  return true;
}

export type Settlement = 'confirmed' | 'rejected' | 'waiting' | 'already';

/** Decides one referral if its window has closed. */
export async function settleReferral(deps: ReferralDeps, referralId: string): Promise<Settlement> {
  const referral = await Referral.findById(referralId).lean<ReferralDoc>();
  if (!referral || referral.state !== 'pending') return 'already';
  const at = deps.now();
  if (at < referral.holdUntil) return 'waiting';
  const campaign = await getCampaign(referral.campaignId);

  const subscribed = await deps.friends.isSubscribed(referral.account, referral.friendOpenid);
  if (subscribed === false) return (await rejectReferral(deps, referral, 'unsubscribed')) ? 'rejected' : 'already';
  const friendProfile = await deps.friends.profileOf(referral.account, referral.friendOpenid);
  if (!friendProfile) return (await rejectReferral(deps, referral, 'not_qualified')) ? 'rejected' : 'already';
  const notOwed = await selfOrKnown(deps, referral, friendProfile);
  if (notOwed) return (await rejectReferral(deps, referral, notOwed)) ? 'rejected' : 'already';
  const action = campaign.qualify.action;
  if (
    action !== 'stay' &&
    !(await deps.friends.didQualify(friendProfile, action, referral.subscribedAt, referral.holdUntil))
  )
    return (await rejectReferral(deps, referral, 'not_qualified')) ? 'rejected' : 'already';

  if (!(await takeGate(deps, referral))) return 'already';
  await Referral.updateOne({ _id: referral._id, state: 'pending' }, { $set: { state: 'confirmed', settledAt: at } });
  deps.metrics.counter('referral_settled_total', 'Settled referrals', ['state']).inc({ state: 'confirmed' });
  const id = referral._id.toString();
  const referrer = {
    profileId: referral.referrerProfileId,
    account: referral.account,
    openid: referral.referrerOpenid,
  };
  await grantOnce(deps, {
    campaignId: campaign._id,
    ...referrer,
    key: `referral:${id}`,
    reward: campaign.referrerReward,
  });
  if (campaign.friendReward)
    await grantOnce(deps, {
      campaignId: campaign._id,
      profileId: friendProfile,
      account: referral.account,
      openid: referral.friendOpenid,
      key: `friend:${id}`,
      reward: campaign.friendReward,
    });
  // The nth confirmation of this referrer (atomic): every milestone at or below n is due; its reward record
  // is unique per referrer and milestone, so concurrent confirmations grant it exactly once.
  let n = await deps.redis.incr(confirmedKey(campaign._id, referral.referrerProfileId));
  if (n === 1) {
    // A fresh counter after a Redis loss: catch up from MongoDB (milestone records keep grants single).
    const counted = await Referral.countDocuments({
      campaignId: campaign._id,
      referrerProfileId: referral.referrerProfileId,
      state: 'confirmed',
    });
    if (counted > n) {
      n = counted;
      await deps.redis.set(confirmedKey(campaign._id, referral.referrerProfileId), String(counted));
    }
  }
  for (const m of campaign.milestones ?? [])
    if (m.friends <= n)
      await grantOnce(deps, { campaignId: campaign._id, ...referrer, key: `milestone:${m.friends}`, reward: m.reward });
  deps.logger.info({ referralId: id, campaignId: campaign._id, confirmed: n }, 'referral confirmed');
  return 'confirmed';
}

/**
 * What the CRM learned during the window that makes the credit not owed: the friend turned out to be the
 * referrer (the CRM merged them, or their unionid is the referrer's), a customer known before the follow (the
 * unionid came with another account or WeCom), or someone sharing an identity with the referrer that staff have
 * not told apart (one verified phone on two WeChat users) — the last judged by the shared risk engine.
 */
async function selfOrKnown(
  deps: ReferralDeps,
  referral: ReferralDoc,
  friendProfile: string,
): Promise<string | undefined> {
  const referrer = referral.referrerProfileId;
  if (friendProfile === referrer) return 'self';
  const knownAs = await deps.friends.knownElsewhere(referral.account, referral.friendOpenid, referral.subscribedAt);
  if (knownAs) return knownAs === referrer ? 'self' : 'not_new';
  const shared = await deps.friends.sharedIdentities(friendProfile, referrer);
  if (shared.length === 0) return undefined;
  const risk = await deps.risk.assess(
    `referral-settle:${referral.campaignId}`,
    { profileId: referrer, openid: referral.referrerOpenid },
    { sharedWithCounterpart: shared },
    // Settling is not an attempt: no velocity counting here.
    { ...deps.riskPolicy, velocity: {} },
  );
  const denied = risk.rules.find((r) => r.verdict === 'deny');
  return denied ? `risk:${denied.rule}` : undefined;
}

/** The settlement job: every pending referral whose window has closed (bounded batch). */
export async function settleDue(deps: ReferralDeps, batch = 200): Promise<Record<Settlement, number>> {
  const due = await Referral.find({ state: 'pending', holdUntil: { $lte: deps.now() } }, { _id: 1 })
    .sort({ holdUntil: 1 })
    .limit(batch)
    .lean<{ _id: { toString(): string } }[]>();
  const counts: Record<Settlement, number> = { confirmed: 0, rejected: 0, waiting: 0, already: 0 };
  for (const r of due) counts[await settleReferral(deps, r._id.toString())] += 1;
  return counts;
}

interface GrantInput {
  campaignId: string;
  profileId: string;
  account: string;
  openid: string;
  key: string;
  reward: Reward;
}

/** Records the reward once (unique index) and grants it through its domain; a failure is retried by a job. */
export async function grantOnce(deps: ReferralDeps, input: GrantInput): Promise<boolean> {
  let record: RewardDoc;
  try {
    record = (await ReferralReward.create({ ...input, state: 'granting', attempts: 0 })).toObject();
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
  await drive(deps, record);
  return true;
}

async function drive(deps: ReferralDeps, record: RewardDoc): Promise<void> {
  try {
    const detail = await deps.rewards.grant({
      // Unique across campaigns: the other domain's idempotency key.
      key: `referral:${record.campaignId}:${record.profileId}:${record.key}`,
      reward: record.reward,
      profileId: record.profileId,
      account: record.account,
      openid: record.openid,
    });
    await ReferralReward.updateOne({ _id: record._id }, { $set: { state: 'granted', detail }, $inc: { attempts: 1 } });
    deps.metrics
      .counter('referral_rewards_total', 'Referral rewards granted', ['kind'])
      .inc({ kind: record.reward.kind });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    deps.logger.warn({ rewardId: record._id.toString(), err: { message } }, 'referral reward not granted; retried');
    await ReferralReward.updateOne(
      { _id: record._id },
      { $set: { state: 'failed', lastError: message.slice(0, 200) }, $inc: { attempts: 1 } },
    );
  }
}

/** The retry job: rewards that failed, or were left half-way by a crash, are driven again (idempotent). */
export async function retryRewards(deps: ReferralDeps, batch = 100): Promise<number> {
  const stale = new Date(deps.now().getTime() - 60_000);
  const records = await ReferralReward.find({
    $or: [{ state: 'failed' }, { state: 'granting', updatedAt: { $lte: stale } }],
    attempts: { $lt: 10 },
  })
    .limit(batch)
    .lean<RewardDoc[]>();
  for (const r of records) await drive(deps, r);
  return records.length;
}
