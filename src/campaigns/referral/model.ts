/**
 * Referral campaigns, each referrer's personal QR code, the referral relation (one per campaign and friend:
 * first touch wins), scans that earn no credit, and rewards (one per beneficiary and reason: a referral,
 * a friend's welcome, a milestone). Uniqueness carries every guarantee; status moves are gated in Redis.
 */
import mongoose, { Schema, type InferSchemaType } from 'mongoose';

export const CAMPAIGN_STATUSES = ['draft', 'approved', 'running', 'paused', 'ended'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];
export const QUALIFYING_ACTIONS = ['phone_verified', 'purchase', 'stay'] as const;
export type QualifyingAction = (typeof QUALIFYING_ACTIONS)[number];
export const REFERRAL_STATES = ['pending', 'confirmed', 'rejected'] as const;
export type ReferralState = (typeof REFERRAL_STATES)[number];

/** What a referrer or friend receives; money goes through a red-envelope campaign, never paid here. */
export type Reward =
  | { kind: 'points'; points: number }
  | { kind: 'tag'; tagId: string }
  | { kind: 'redenvelope'; campaignId: string }
  | { kind: 'reservation'; programId: string };

const campaignSchema = new Schema(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    account: { type: String, required: true },
    startAt: { type: Date, required: true },
    endAt: { type: Date, required: true },
    /** Who may refer: tiers, a valid verification, an audience (audiences/eligibility). */
    referrers: { type: Schema.Types.Mixed, default: {} },
    qualify: {
      action: { type: String, enum: QUALIFYING_ACTIONS, required: true },
      withinDays: { type: Number, required: true },
    },
    referrerReward: { type: Schema.Types.Mixed, required: true },
    friendReward: { type: Schema.Types.Mixed },
    milestones: [{ friends: Number, reward: Schema.Types.Mixed, _id: false }],
    capTotal: { type: Number, required: true },
    capPerDay: { type: Number, required: true },
    /** Attributions per IP per hour before the risk engine denies (when the entry knows the IP). */
    ipPerHour: { type: Number, required: true, default: 5 },
    codeKind: { type: String, enum: ['temporary', 'permanent'], required: true, default: 'temporary' },
    keyword: { type: String, required: true },
    menuKey: { type: String },
    status: { type: String, enum: CAMPAIGN_STATUSES, required: true, default: 'draft' },
    statusReason: { type: String },
    createdBy: { type: String, required: true },
    approvedBy: { type: String },
  },
  { timestamps: true, collection: 'referral_campaigns' },
);
campaignSchema.index({ status: 1, account: 1 }); // the chat's keyword lookup

const codeSchema = new Schema(
  {
    campaignId: { type: String, required: true },
    account: { type: String, required: true },
    referrerProfileId: { type: String, required: true },
    referrerOpenid: { type: String, required: true },
    /** The QR code's scene_str (≤ 64 characters): `rf.<campaign>.<profile>`. */
    scene: { type: String, required: true },
    kind: { type: String, enum: ['temporary', 'permanent'], required: true },
    ticket: { type: String, required: true },
    url: { type: String, required: true },
    expiresAt: { type: Date },
    /**
     * When the referrer got the code, on the domain's clock like the relations' `day` (the report's
     * "referrers holding a code by that day"); `createdAt` is always the wall clock.
     */
    issuedAt: { type: Date },
    /** When the renewal job makes a new ticket (temporary codes only). */
    renewAt: { type: Date },
  },
  { timestamps: true, collection: 'referral_codes' },
);
codeSchema.index({ campaignId: 1, referrerProfileId: 1 }, { unique: true }); // one code per referrer
codeSchema.index({ scene: 1 }, { unique: true }); // attribution by scene
codeSchema.index({ kind: 1, renewAt: 1 }); // the renewal job
codeSchema.index({ account: 1, kind: 1 }); // counting permanent codes

const referralSchema = new Schema(
  {
    campaignId: { type: String, required: true },
    account: { type: String, required: true },
    referrerProfileId: { type: String, required: true },
    referrerOpenid: { type: String, required: true },
    friendOpenid: { type: String, required: true },
    scene: { type: String, required: true },
    state: { type: String, enum: REFERRAL_STATES, required: true },
    reason: { type: String },
    subscribedAt: { type: Date, required: true },
    /** The qualifying window closes here; rewards wait for it. */
    holdUntil: { type: Date, required: true },
    settledAt: { type: Date },
    /** Asia/Shanghai day of the subscribe (per-day caps, the daily report). */
    day: { type: String, required: true },
    /** 1 for a referrer's own friend, 2 for a friend of that friend, … */
    depth: { type: Number, required: true },
    risk: { verdict: String, rules: [{ rule: String, verdict: String, detail: String, _id: false }] },
  },
  { timestamps: true, collection: 'referral_relations' },
);
referralSchema.index({ campaignId: 1, friendOpenid: 1 }, { unique: true }); // first touch wins
referralSchema.index({ state: 1, holdUntil: 1 }); // the settlement job
referralSchema.index({ account: 1, friendOpenid: 1, state: 1 }); // unsubscribes
referralSchema.index({ campaignId: 1, referrerProfileId: 1 }); // progress, report
referralSchema.index({ referrerOpenid: 1, friendOpenid: 1 }); // rings

const scanSchema = new Schema(
  {
    eventId: { type: String, required: true },
    campaignId: { type: String, required: true },
    referrerProfileId: { type: String, required: true },
    openid: { type: String, required: true },
    /** interest (a follower's SCAN), self, not_new, duplicate (already attributed). */
    outcome: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'referral_scans' },
);
scanSchema.index({ eventId: 1 }, { unique: true }); // a retried push is one scan
scanSchema.index({ campaignId: 1, outcome: 1 }); // the report

const rewardSchema = new Schema(
  {
    campaignId: { type: String, required: true },
    profileId: { type: String, required: true },
    account: { type: String, required: true },
    openid: { type: String, required: true },
    /** `referral:<id>`, `friend:<id>` or `milestone:<friends>`. */
    key: { type: String, required: true },
    reward: { type: Schema.Types.Mixed, required: true },
    state: { type: String, enum: ['granting', 'granted', 'failed'], required: true },
    detail: { type: String },
    lastError: { type: String },
    attempts: { type: Number, default: 0 },
  },
  { timestamps: true, collection: 'referral_rewards' },
);
rewardSchema.index({ campaignId: 1, profileId: 1, key: 1 }, { unique: true }); // each reward once
rewardSchema.index({ state: 1, updatedAt: 1 }); // the retry job

export type CampaignDoc = Omit<
  InferSchemaType<typeof campaignSchema>,
  'milestones' | 'qualify' | 'referrers' | 'referrerReward' | 'friendReward'
> & {
  _id: string;
  qualify: { action: QualifyingAction; withinDays: number };
  referrers?: { tiers?: string[]; verification?: string; audienceId?: string };
  referrerReward: Reward;
  friendReward?: Reward;
  milestones: { friends: number; reward: Reward }[];
};
export type CodeDoc = InferSchemaType<typeof codeSchema> & { _id: mongoose.Types.ObjectId };
export type ReferralDoc = InferSchemaType<typeof referralSchema> & {
  _id: mongoose.Types.ObjectId;
  createdAt: Date;
};
export type RewardDoc = Omit<InferSchemaType<typeof rewardSchema>, 'reward'> & {
  _id: mongoose.Types.ObjectId;
  reward: Reward;
};

export const ReferralCampaign = mongoose.model('ReferralCampaign', campaignSchema);
export const ReferralCode = mongoose.model('ReferralCode', codeSchema);
export const Referral = mongoose.model('Referral', referralSchema);
export const ReferralScan = mongoose.model('ReferralScan', scanSchema);
export const ReferralReward = mongoose.model('ReferralReward', rewardSchema);
