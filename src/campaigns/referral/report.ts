/**
 * What referrers and staff read: a referrer's progress (pending vs confirmed, the next milestone) and the
 * campaign report (referrers, friends, states and reasons, rewards, depth, viral coefficient per day, the
 * leaderboard with masked names). Folded in code from bounded reads: FerretDB's aggregation is too thin.
 */
import { Referral, ReferralCampaign, ReferralCode, ReferralReward, ReferralScan } from './model.js';
import { dayOf, getCampaign, isLive, type Campaign, type ReferralDeps } from './service.js';

export interface Progress {
  campaignId: string;
  campaignName: string;
  pending: number;
  confirmed: number;
  rejected: number;
  nextMilestone?: { friends: number; missing: number };
}

/** A referrer's progress in one campaign. */
export async function progressOf(campaignId: string, profileId: string): Promise<Progress> {
  const campaign = await getCampaign(campaignId);
  const rows = await Referral.find({ campaignId, referrerProfileId: profileId }, { state: 1 }).lean<
    { state: string }[]
  >();
  const count = (state: string) => rows.filter((r) => r.state === state).length;
  const confirmed = count('confirmed');
  const next = (campaign.milestones ?? []).find((m) => m.friends > confirmed);
  return {
    campaignId,
    campaignName: campaign.name,
    pending: count('pending'),
    confirmed,
    rejected: count('rejected'),
    ...(next ? { nextMilestone: { friends: next.friends, missing: next.friends - confirmed } } : {}),
  };
}

/** The chat's answer to "my referrals". */
export function describeProgress(progress: Progress[]): string {
  if (progress.length === 0) return '您还没有邀请过好友。回复“邀请好友”获取您的专属二维码。';
  return progress
    .map((p) => {
      const next = p.nextMilestone
        ? `，再成功邀请 ${p.nextMilestone.missing} 位即可获得 ${p.nextMilestone.friends} 人奖励`
        : '';
      return `${p.campaignName}：已成功邀请 ${p.confirmed} 位，待确认 ${p.pending} 位${next}。`;
    })
    .join('\n');
}

/** Progress in the account's live campaigns where the customer has a code. */
export async function progressIn(deps: ReferralDeps, account: string, profileId: string): Promise<Progress[]> {
  const codes = await ReferralCode.find({ account, referrerProfileId: profileId }, { campaignId: 1 }).lean<
    { campaignId: string }[]
  >();
  const campaigns = await ReferralCampaign.find({ _id: { $in: codes.map((c) => c.campaignId) } }).lean<Campaign[]>();
  const at = deps.now();
  const shown = campaigns.filter((c) => isLive(c, at) || c.status === 'ended');
  return Promise.all(shown.map((c) => progressOf(c._id, profileId)));
}

/** 张三 → 张*; 王小明 → 王*明; a name we do not know → 微信用户. */
export function maskName(name: string | undefined): string {
  const chars = [...(name ?? '').trim()];
  if (chars.length === 0) return '微信用户';
  if (chars.length <= 2) return `${chars[0]}*`;
  return `${chars[0]}${'*'.repeat(chars.length - 2)}${chars[chars.length - 1]}`;
}

export interface CampaignReport {
  campaignId: string;
  referrers: number;
  friends: number;
  states: { pending: number; confirmed: number; rejected: number };
  rejectedByReason: Record<string, number>;
  scans: Record<string, number>;
  rewards: { granted: number; failed: number; byKind: Record<string, number> };
  /** Per depth (1 = a referrer's own friends, 2 = theirs, …): friends by state; conversion = confirmed ÷ friends. */
  depth: { depth: number; friends: number; pending: number; confirmed: number; rejected: number; conversion: number }[];
  /** Per Asia/Shanghai day: new friends ÷ referrers holding a code by that day. */
  viral: { day: string; friends: number; referrers: number; k: number }[];
  leaderboard: { rank: number; name: string; confirmed: number; pending: number }[];
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : Math.round((a / b) * 1000) / 1000);

/** The campaign report (reads at most 50,000 relations). */
export async function campaignReport(deps: ReferralDeps, campaignId: string): Promise<CampaignReport> {
  await getCampaign(campaignId);
  const [relations, codes, rewards, scans] = await Promise.all([
    Referral.find({ campaignId }, { referrerProfileId: 1, state: 1, reason: 1, depth: 1, day: 1 })
      .limit(50_000)
      .lean<{ referrerProfileId: string; state: string; reason?: string; depth: number; day: string }[]>(),
    ReferralCode.find({ campaignId }, { referrerProfileId: 1, issuedAt: 1, createdAt: 1 }).lean<
      { referrerProfileId: string; issuedAt?: Date; createdAt: Date }[]
    >(),
    ReferralReward.find({ campaignId }, { state: 1, reward: 1 }).lean<{ state: string; reward: { kind: string } }[]>(),
    ReferralScan.find({ campaignId }, { outcome: 1 }).lean<{ outcome: string }[]>(),
  ]);
  const states = { pending: 0, confirmed: 0, rejected: 0 };
  const rejectedByReason: Record<string, number> = {};
  const byDepth = new Map<number, { friends: number; pending: number; confirmed: number; rejected: number }>();
  const byDay = new Map<string, number>();
  const byReferrer = new Map<string, { confirmed: number; pending: number }>();
  for (const r of relations) {
    if (r.state === 'pending' || r.state === 'confirmed' || r.state === 'rejected') states[r.state] += 1;
    if (r.state === 'rejected')
      rejectedByReason[r.reason ?? 'unknown'] = (rejectedByReason[r.reason ?? 'unknown'] ?? 0) + 1;
    const d = byDepth.get(r.depth) ?? { friends: 0, pending: 0, confirmed: 0, rejected: 0 };
    d.friends += 1;
    if (r.state === 'pending' || r.state === 'confirmed' || r.state === 'rejected') d[r.state] += 1;
    byDepth.set(r.depth, d);
    if (r.state !== 'rejected') byDay.set(r.day, (byDay.get(r.day) ?? 0) + 1);
    const who = byReferrer.get(r.referrerProfileId) ?? { confirmed: 0, pending: 0 };
    if (r.state === 'confirmed') who.confirmed += 1;
    if (r.state === 'pending') who.pending += 1;
    byReferrer.set(r.referrerProfileId, who);
  }
  // Codes made before `issuedAt` existed only have the wall clock's createdAt.
  const codeDays = codes.map((c) => dayOf(c.issuedAt ?? c.createdAt)).sort();
  const viral = [...byDay.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([day, friends]) => {
      const referrers = codeDays.filter((d) => d <= day).length;
      return { day, friends, referrers, k: ratio(friends, referrers) };
    });
  const top = [...byReferrer.entries()]
    .filter(([, v]) => v.confirmed + v.pending > 0)
    .sort(([, a], [, b]) => b.confirmed - a.confirmed || b.pending - a.pending)
    .slice(0, 10);
  const leaderboard = await Promise.all(
    top.map(async ([profileId, v], i) => ({
      rank: i + 1,
      name: maskName(await deps.friends.nameOf(profileId)),
      confirmed: v.confirmed,
      pending: v.pending,
    })),
  );
  const byKind: Record<string, number> = {};
  for (const r of rewards) if (r.state === 'granted') byKind[r.reward.kind] = (byKind[r.reward.kind] ?? 0) + 1;
  const scanOutcomes: Record<string, number> = {};
  for (const s of scans) scanOutcomes[s.outcome] = (scanOutcomes[s.outcome] ?? 0) + 1;
  return {
    campaignId,
    referrers: new Set(relations.map((r) => r.referrerProfileId)).size,
    friends: relations.length,
    states,
    rejectedByReason,
    scans: scanOutcomes,
    rewards: {
      granted: rewards.filter((r) => r.state === 'granted').length,
      failed: rewards.filter((r) => r.state === 'failed').length,
      byKind,
    },
    depth: [...byDepth.entries()]
      .sort(([a], [b]) => a - b)
      .map(([depth, d]) => ({ depth, ...d, conversion: ratio(d.confirmed, d.friends) })),
    viral,
    leaderboard,
  };
}
