/**
 * Red-envelope campaigns, their prize decks, claims (the truth about what was promised) and risk decisions.
 * Claim uniqueness carries the guarantees: one claim per envelope (slot), per customer's nth claim, per
 * customer's nth claim of the day, and per request key. Payout state rides on the claim; WeChat Pay's
 * idempotency on out_bill_no (derived from the claim id) keeps a payout single however often it is driven.
 */
import mongoose, { Schema, type InferSchemaType } from 'mongoose';

export const CAMPAIGN_STATUSES = ['draft', 'approved', 'running', 'paused', 'ended'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];
export const ENTRY_POINTS = ['keyword', 'menu', 'qr', 'h5', 'api'] as const;
export type EntryPoint = (typeof ENTRY_POINTS)[number];
export const PAYOUT_STATES = ['pending', 'submitted', 'wait_user_confirm', 'success', 'failed'] as const;
export type PayoutState = (typeof PAYOUT_STATES)[number];
export const FINAL_PAYOUT_STATES: readonly PayoutState[] = ['success', 'failed'];

const campaignSchema = new Schema(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    accounts: { type: [String], required: true },
    startAt: { type: Date, required: true },
    endAt: { type: Date, required: true },
    budgetFen: { type: Number, required: true },
    prize: { type: Schema.Types.Mixed, required: true },
    /** Probability that a draw wins at all (1 = every eligible claim wins while envelopes last). */
    drawChance: { type: Number, required: true, default: 1 },
    perCustomerTotal: { type: Number, required: true, default: 1 },
    perCustomerPerDay: { type: Number, required: true, default: 1 },
    eligibility: { type: Schema.Types.Mixed, default: {} },
    entries: { type: [String], required: true },
    keyword: { type: String },
    menuKey: { type: String },
    status: { type: String, enum: CAMPAIGN_STATUSES, required: true, default: 'draft' },
    statusReason: { type: String },
    envelopes: { type: Number, required: true },
    /** Pause when claims in one minute pass this many (0 = off). */
    breakerClaimsPerMinute: { type: Number, default: 0 },
    /** Pause when this share of the last payouts failed (0 = off), over at least 20 payouts. */
    breakerFailureRate: { type: Number, default: 0 },
    createdBy: { type: String, required: true },
    approvedBy: { type: String },
  },
  { timestamps: true, collection: 'red_envelope_campaigns' },
);
campaignSchema.index({ status: 1, endAt: 1 });

const deckSchema = new Schema(
  { _id: { type: String, required: true }, amounts: { type: [Number], required: true } },
  { collection: 'red_envelope_decks' },
);

const claimSchema = new Schema(
  {
    campaignId: { type: String, required: true },
    profileId: { type: String, required: true },
    account: { type: String, required: true },
    openid: { type: String, required: true },
    entry: { type: String, enum: ENTRY_POINTS, required: true },
    requestKey: { type: String, required: true },
    /** `slot:<k>` for a win (envelope k of the deck), `lost:<id>` for a draw that did not win. */
    slotKey: { type: String, required: true },
    nth: { type: Number, required: true },
    /** Asia/Shanghai calendar day of the claim, for per-day limits. */
    day: { type: String, required: true },
    dayNth: { type: Number, required: true },
    outcome: { type: String, enum: ['won', 'lost'], required: true },
    amountFen: { type: Number, required: true },
    /**
     * The current bill number, also kept at the top level: FerretDB pushes equality on top-level fields down
     * to PostgreSQL but scans the collection for a dotted path (25 ms per lookup at 1,000 claims, growing
     * with the campaign), and every transfer callback looks its claim up by it.
     */
    outBillNo: { type: String },
    risk: {
      verdict: { type: String },
      rules: [{ rule: String, verdict: String, detail: String, _id: false }],
    },
    payout: {
      state: { type: String, enum: PAYOUT_STATES },
      outBillNo: { type: String },
      transferBillNo: { type: String },
      packageInfo: { type: String },
      attempts: { type: Number, default: 0 },
      lastError: { type: String },
      failReason: { type: String },
      nextAttemptAt: { type: Date },
      finalAt: { type: Date },
      caseState: { type: String, enum: ['open', 'resolved'] },
      // When the customer was told their payout failed: until then reconciliation keeps trying to tell them.
      failedToldAt: { type: Date },
      // When the customer waiting to confirm was told how: likewise re-sent by reconciliation until then.
      confirmToldAt: { type: Date },
    },
  },
  { timestamps: true, collection: 'red_envelope_claims' },
);
claimSchema.index({ campaignId: 1, slotKey: 1 }, { unique: true }); // each envelope won once
claimSchema.index({ campaignId: 1, profileId: 1, nth: 1 }, { unique: true }); // per-customer limit
claimSchema.index({ campaignId: 1, profileId: 1, day: 1, dayNth: 1 }, { unique: true }); // per-day limit
claimSchema.index({ campaignId: 1, requestKey: 1 }, { unique: true }); // a retried request is one claim
claimSchema.index({ 'payout.state': 1, 'payout.nextAttemptAt': 1 }); // the payout and reconciliation jobs
claimSchema.index({ profileId: 1, createdAt: -1 }); // "where is my red envelope"
claimSchema.index({ outBillNo: 1 }); // transfer callbacks

const decisionSchema = new Schema(
  {
    campaignId: { type: String, required: true },
    profileId: { type: String, required: true },
    account: { type: String, required: true },
    openid: { type: String, required: true },
    entry: { type: String, required: true },
    requestKey: { type: String, required: true },
    verdict: { type: String, enum: ['review', 'deny'], required: true },
    rules: [{ rule: String, verdict: String, detail: String, _id: false }],
    reviewState: { type: String, enum: ['pending', 'approved', 'rejected'] },
    reviewedBy: { type: String },
  },
  { timestamps: true, collection: 'red_envelope_risk_decisions' },
);
decisionSchema.index({ campaignId: 1, requestKey: 1 }, { unique: true });
decisionSchema.index({ campaignId: 1, reviewState: 1, createdAt: 1 }); // the review queue

export type CampaignDoc = InferSchemaType<typeof campaignSchema> & { _id: string };
export type ClaimDoc = InferSchemaType<typeof claimSchema> & {
  _id: mongoose.Types.ObjectId;
  createdAt: Date;
  updatedAt: Date;
};
export type DecisionDoc = InferSchemaType<typeof decisionSchema> & { _id: mongoose.Types.ObjectId };

export const RedEnvelopeCampaign = mongoose.model('RedEnvelopeCampaign', campaignSchema);
export const RedEnvelopeDeck = mongoose.model('RedEnvelopeDeck', deckSchema);
export const RedEnvelopeClaim = mongoose.model('RedEnvelopeClaim', claimSchema);
export const RedEnvelopeDecision = mongoose.model('RedEnvelopeDecision', decisionSchema);
