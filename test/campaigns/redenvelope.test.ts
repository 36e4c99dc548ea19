import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { Types } from 'mongoose';
import {
  approveCampaign,
  budgetReport,
  claimEnvelope,
  claimsOf,
  createCampaign,
  decideReview,
  describeClaims,
  getCampaign,
  onTransferUpdate,
  payClaim,
  reconcilePayouts,
  slotsLeft,
  startCampaign,
  type CampaignInput,
  type ClaimResult,
  type RedEnvelopeDeps,
  type TransferPort,
  type TransferState,
} from '../../src/campaigns/redenvelope/index.js';
import { RedEnvelopeClaim } from '../../src/campaigns/redenvelope/model.js';
import { deleteByPrefix } from '../../src/infra/redis.js';
import { PlatformError } from '../../src/platform/kernel/errors.js';
import { createRiskEngine, DEFAULT_POLICY, type RiskFacts } from '../../src/risk/engine.js';
import { fileScope, useTestApp } from '../support/app.js';

const testApp = useTestApp();

/**
 * WeChat Pay's transfer semantics, in memory: one bill per out_bill_no, a ledger of what was paid, and
 * scripted behaviour per openid. (The sandbox-backed payout test lives with the pay client.)
 */
function transferDouble() {
  const bills = new Map<string, TransferState & { openid: string; amountFen: number }>();
  const behaviour = new Map<string, 'success' | 'confirm' | 'processing' | 'not_enough' | 'flaky'>();
  let flakyLeft = 0;
  const port: TransferPort = {
    create(input) {
      const existing = bills.get(input.outBillNo);
      if (existing) return Promise.resolve(existing);
      const mode = behaviour.get(input.openid) ?? 'success';
      if (mode === 'not_enough')
        return Promise.reject(
          new PlatformError('wechatpay', 'transfer-bills', 'NOT_ENOUGH', 'balance', 'give_up', 403),
        );
      if (mode === 'flaky' && flakyLeft > 0) {
        flakyLeft -= 1;
        return Promise.reject(new PlatformError('wechatpay', 'transfer-bills', 'SYSTEM_ERROR', 'busy', 'retry', 500));
      }
      const state: TransferState['state'] =
        mode === 'confirm' ? 'WAIT_USER_CONFIRM' : mode === 'processing' ? 'PROCESSING' : 'SUCCESS';
      const bill = {
        state,
        transferBillNo: `TB${bills.size + 1}`,
        openid: input.openid,
        amountFen: input.amountFen,
        ...(state === 'WAIT_USER_CONFIRM' ? { packageInfo: `pkg-${input.outBillNo}` } : {}),
      };
      bills.set(input.outBillNo, bill);
      return Promise.resolve(bill);
    },
    // As WeChat Pay's query: the bill's state, never its package_info (only the create answers that).
    query(outBillNo) {
      const bill = bills.get(outBillNo);
      if (!bill) return Promise.resolve(undefined);
      const queried: TransferState = { state: bill.state };
      if (bill.transferBillNo) queried.transferBillNo = bill.transferBillNo;
      if (bill.failReason) queried.failReason = bill.failReason;
      return Promise.resolve(queried);
    },
  };
  return {
    port,
    bills,
    behaviour,
    flaky(n: number) {
      flakyLeft = n;
    },
  };
}

const pay = transferDouble();
const facts = new Map<string, RiskFacts>();
const notices: { claimId: string; kind: string; reason?: string }[] = [];
let notifierDown = false;
/** Runs `work` while every customer notice fails, as when WeChat is unreachable. */
async function whileNotifierDown<T>(work: () => Promise<T>): Promise<T> {
  notifierDown = true;
  try {
    return await work();
  } finally {
    notifierDown = false;
  }
}
let deps: RedEnvelopeDeps;
const scheduled: string[] = [];

beforeAll(() => {
  const infra = testApp().deps;
  deps = {
    redis: infra.redis,
    logger: infra.logger,
    metrics: infra.metrics,
    risk: createRiskEngine(infra.redis),
    riskPolicy: { ...DEFAULT_POLICY, newFollowerCooldownHours: 24, velocity: { ip: { limit: 5, windowSeconds: 60 } } },
    eligibility: { check: () => Promise.resolve({ eligible: true }) },
    riskFacts: (profileId) => Promise.resolve(facts.get(profileId) ?? {}),
    transfers: pay.port,
    notifier: {
      notify(n) {
        if (notifierDown) return Promise.reject(new Error('WeChat unreachable'));
        notices.push(n);
        return Promise.resolve();
      },
    },
    schedulePayout: (claimId) => {
      scheduled.push(claimId);
      return Promise.resolve();
    },
  };
});

function campaignInput(overrides: Partial<CampaignInput> = {}): CampaignInput {
  return {
    name: 'Spring red envelopes',
    accounts: ['default'],
    startAt: new Date(Date.now() - 60_000),
    endAt: new Date(Date.now() + 3_600_000),
    budgetFen: 100_000,
    prize: { kind: 'random', minFen: 30, maxFen: 200, count: 100 },
    entries: ['keyword', 'h5'],
    ...overrides,
  };
}

async function runningCampaign(overrides: Partial<CampaignInput> = {}) {
  const campaign = await createCampaign(campaignInput(overrides), 'marketer-1');
  await approveCampaign(campaign._id, 'manager-1');
  return startCampaign(deps.redis, campaign._id);
}

function claimFor(campaignId: string, profileId: string, extra: Partial<Parameters<typeof claimEnvelope>[1]> = {}) {
  return claimEnvelope(deps, {
    campaignId,
    profileId,
    account: 'default',
    openid: `o_${profileId}`,
    entry: 'keyword',
    requestKey: randomUUID(),
    ...extra,
  });
}

const codeOf = (r: PromiseSettledResult<unknown>) =>
  r.status === 'rejected' ? ((r.reason as { code?: string }).code ?? String(r.reason)) : 'ok';

describe('the claim flow', () => {
  it('lets exactly 1,000 of 5,000 simultaneous claims from 2,000 customers win, within budget and limits', async () => {
    const campaign = await runningCampaign({
      budgetFen: 150_000,
      prize: { kind: 'random', minFen: 30, maxFen: 300, count: 1000 },
      perCustomerTotal: 2,
      perCustomerPerDay: 2,
    });
    const customers = Array.from({ length: 2000 }, (_, i) => `c${i}_${randomUUID().slice(0, 6)}`);
    const attempts = Array.from({ length: 5000 }, (_, i) => customers[i % 2000]!);
    const results = await Promise.allSettled(attempts.map((p) => claimFor(campaign._id, p)));
    const won = results.filter(
      (r): r is PromiseFulfilledResult<ClaimResult> => r.status === 'fulfilled' && r.value.status === 'won',
    );
    expect(won).toHaveLength(1000);
    const refusals = new Set(results.filter((r) => r.status === 'rejected').map(codeOf));
    expect([...refusals].filter((c) => !['sold_out', 'limit_reached', 'daily_limit_reached'].includes(c))).toEqual([]);

    const claims = await RedEnvelopeClaim.find({ campaignId: campaign._id, outcome: 'won' }).lean();
    expect(claims).toHaveLength(1000);
    const perCustomer = new Map<string, number>();
    for (const c of claims) perCustomer.set(c.profileId, (perCustomer.get(c.profileId) ?? 0) + 1);
    expect(Math.max(...perCustomer.values())).toBeLessThanOrEqual(2);
    expect(new Set(claims.map((c) => c.slotKey)).size).toBe(1000);
    const report = await budgetReport(deps, campaign._id);
    expect(report.ok).toBe(true);
    expect(report.wonFen).toBe(report.deckFen);
    expect(report.wonFen).toBeLessThanOrEqual(150_000);
    expect(new Set(scheduled)).toEqual(expect.any(Set));
    expect(claims.every((c) => scheduled.includes(c._id.toString()))).toBe(true);
  }, 240_000);

  it('answers a retried request with the same claim', async () => {
    const campaign = await runningCampaign();
    const requestKey = randomUUID();
    const [a, b, c] = await Promise.all([
      claimFor(campaign._id, 'retry-1', { requestKey }),
      claimFor(campaign._id, 'retry-1', { requestKey }),
      claimFor(campaign._id, 'retry-1', { requestKey }),
    ]);
    expect(a.status).toBe('won');
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(await RedEnvelopeClaim.countDocuments({ campaignId: campaign._id })).toBe(1);

    // Later, and after Redis forgot the request (an hour on, or a flush): still the same claim, no second slot.
    expect(await claimFor(campaign._id, 'retry-1', { requestKey })).toEqual(a);
    await deps.redis.del(`re:{${campaign._id}}:req:${requestKey}`);
    expect(await claimFor(campaign._id, 'retry-1', { requestKey })).toEqual(a);
    expect(await RedEnvelopeClaim.countDocuments({ campaignId: campaign._id })).toBe(1);
    expect(await slotsLeft(deps.redis, campaign._id, campaign.envelopes)).toBe(campaign.envelopes - 1);
  });

  it('never over-issues when Redis loses its keys mid-campaign, and resumes after the rebuild', async () => {
    const campaign = await runningCampaign({ prize: { kind: 'fixed', amountFen: 100, count: 60 }, budgetFen: 6000 });
    const first = Array.from({ length: 40 }, (_, i) => claimFor(campaign._id, `flush-a${i}`));
    const flush = (async () => {
      await new Promise((r) => setTimeout(r, 30));
      await deleteByPrefix(deps.redis, `${fileScope().redisPrefix}re:`); // everything the campaign keeps in Redis
    })();
    await Promise.allSettled([...first, flush]);
    // After the rebuild, new customers keep claiming until the deck is spent (a claim that meets the rebuild
    // in progress is refused and may be repeated); then nothing more is won, however many try.
    const wonCount = () => RedEnvelopeClaim.countDocuments({ campaignId: campaign._id, outcome: 'won' });
    let fulfilled = 0;
    for (let wave = 0; wave < 10 && (await wonCount()) < 60; wave += 1) {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => claimFor(campaign._id, `flush-b${wave}-${i}`)),
      );
      fulfilled += results.filter((r) => r.status === 'fulfilled').length;
    }
    expect(fulfilled).toBeGreaterThan(0);
    await Promise.allSettled(Array.from({ length: 20 }, (_, i) => claimFor(campaign._id, `flush-c${i}`)));
    expect(await wonCount()).toBe(60);
    expect((await budgetReport(deps, campaign._id)).wonFen).toBe(6000);
  }, 60_000);

  it('skips a slot Redis hands out twice (behind MongoDB after a rebuild) instead of handing it back', async () => {
    const campaign = await runningCampaign({ prize: { kind: 'fixed', amountFen: 100, count: 5 }, budgetFen: 500 });
    const first = await claimFor(campaign._id, `twice-a-${randomUUID()}`);
    expect(first.status).toBe('won');
    // As if a rebuild raced an in-flight claim: the free list offers slot 1, which a claim already holds.
    await deps.redis.rpush(`re:{${campaign._id}}:free`, '1');
    const results = [];
    for (let i = 0; i < 4; i += 1) results.push(await claimFor(campaign._id, `twice-b${i}-${randomUUID()}`));
    expect(results.map((r) => r.status)).toEqual(['won', 'won', 'won', 'won']);
    const claims = await RedEnvelopeClaim.find({ campaignId: campaign._id }).lean();
    expect(new Set(claims.map((c) => c.slotKey)).size).toBe(5);
    await expect(claimFor(campaign._id, `twice-c-${randomUUID()}`)).rejects.toMatchObject({ code: 'sold_out' });
  });

  it('refuses claims outside the window, from other entries, and drafts that were never approved', async () => {
    const draft = await createCampaign(campaignInput(), 'marketer-1');
    await expect(claimFor(draft._id, 'x1')).rejects.toMatchObject({ code: 'campaign_not_running' });
    await expect(approveCampaign(draft._id, 'marketer-1')).rejects.toMatchObject({
      code: 'approval_needs_other_staff',
    });
    const running = await runningCampaign();
    await expect(claimFor(running._id, 'x2', { entry: 'qr' })).rejects.toMatchObject({ code: 'entry_not_allowed' });
    await expect(createCampaign(campaignInput({ budgetFen: 100 }), 'm')).rejects.toMatchObject({
      code: 'campaign_invalid',
    });
  });
});

describe('risk controls', () => {
  it('denies blacklisted customers, holds graylisted ones for review, and pays after approval', async () => {
    const campaign = await runningCampaign();
    await deps.risk.addToList({ list: 'black', kind: 'openid', value: 'o_risk-black', reason: 'fraud', addedBy: 's1' });
    await deps.risk.addToList({ list: 'gray', kind: 'profile', value: 'risk-gray', reason: 'odd', addedBy: 's1' });
    await expect(claimFor(campaign._id, 'risk-black')).rejects.toMatchObject({
      code: 'risk_denied',
      details: { rules: ['blacklist.openid'] },
    });
    const held = await claimFor(campaign._id, 'risk-gray');
    expect(held.status).toBe('review');
    const approved = await decideReview(deps, held.status === 'review' ? held.decisionId : '', 'approved', 'staff-9');
    expect(approved?.status).toBe('won');
  });

  it('denies farming, brand-new followers and IP velocity', async () => {
    const campaign = await runningCampaign();
    facts.set('farmer', { subscribesLast30Days: 6 });
    await expect(claimFor(campaign._id, 'farmer')).rejects.toMatchObject({
      details: { rules: ['resubscribe_farming'] },
    });
    facts.set('newbie', { followedAt: new Date(Date.now() - 3_600_000) });
    await expect(claimFor(campaign._id, 'newbie')).rejects.toMatchObject({
      details: { rules: ['new_follower_cooldown'] },
    });
    const ip = `10.1.2.${Math.floor(Math.random() * 200)}`;
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => claimFor(campaign._id, `ipuser${i}`, { subject: { ip } })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(results.filter((r) => codeOf(r) === 'risk_denied')).toHaveLength(3);
  });

  it('pauses a campaign whose claims per minute spike', async () => {
    const campaign = await runningCampaign({ breakerClaimsPerMinute: 10 });
    const results = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => claimFor(campaign._id, `spike${i}`)));
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(10);
    expect((await getCampaign(campaign._id)).status).toBe('paused');
    expect(testApp().logs.some((l) => l.includes('claim spike'))).toBe(true);
  });
});

describe('payouts', () => {
  it('pays each won claim once however often it is driven, and tells the customer the truth', async () => {
    const campaign = await runningCampaign({ prize: { kind: 'fixed', amountFen: 88, count: 10 }, budgetFen: 880 });
    pay.behaviour.set('o_pay-ok', 'success');
    pay.behaviour.set('o_pay-confirm', 'confirm');
    pay.behaviour.set('o_pay-slow', 'processing');
    pay.behaviour.set('o_pay-broke', 'not_enough');
    const ids: Record<string, string> = {};
    for (const who of ['pay-ok', 'pay-confirm', 'pay-slow', 'pay-broke']) {
      const r = await claimFor(campaign._id, who);
      if (r.status !== 'won') throw new Error('expected a win');
      ids[who] = r.claimId;
    }
    await Promise.all(Object.values(ids).flatMap((id) => [payClaim(deps, id), payClaim(deps, id), payClaim(deps, id)]));
    const paidBills = [...pay.bills.values()].filter((b) => b.openid === 'o_pay-ok');
    expect(paidBills).toHaveLength(1);

    const status = await claimsOf('pay-confirm');
    expect(status[0]).toMatchObject({ state: 'wait_user_confirm', amountFen: 88 });
    expect(status[0]?.packageInfo).toMatch(/^pkg-/);
    expect((await claimsOf('pay-slow'))[0]?.state).toBe('submitted');
    expect((await claimsOf('pay-ok'))[0]?.state).toBe('success');
    const broke = (await claimsOf('pay-broke'))[0];
    expect(broke).toMatchObject({ state: 'failed', failReason: '商户资金不足' });
    expect(describeClaims(await claimsOf('pay-broke'))).toContain('发放失败');
    expect(notices.filter((n) => n.claimId === ids['pay-broke'])).toEqual([
      expect.objectContaining({ kind: 'failed', reason: '商户资金不足' }),
    ]);
    expect(notices.filter((n) => n.claimId === ids['pay-ok']).map((n) => n.kind)).toEqual(['paid']);

    // The slow one finishes through the callback; the user confirms the other one.
    const slowBill = [...pay.bills.entries()].find(([, b]) => b.openid === 'o_pay-slow')!;
    await onTransferUpdate(deps, { outBillNo: slowBill[0], state: 'SUCCESS' });
    expect((await claimsOf('pay-slow'))[0]?.state).toBe('success');
    const confirmBill = [...pay.bills.entries()].find(([, b]) => b.openid === 'o_pay-confirm')!;
    confirmBill[1].state = 'SUCCESS';
    await RedEnvelopeClaim.updateOne({ _id: ids['pay-confirm'] }, { 'payout.nextAttemptAt': new Date(0) });
    expect(await reconcilePayouts(deps)).toBeGreaterThanOrEqual(1);
    expect((await claimsOf('pay-confirm'))[0]?.state).toBe('success');

    const report = await budgetReport(deps, campaign._id);
    expect(report).toMatchObject({ ok: true, wonFen: 352, paidFen: 264, failedFen: 88, inFlightFen: 0 });
  });

  it('tells a customer their payout failed even when the first message could not go out', async () => {
    const campaign = await runningCampaign({ prize: { kind: 'fixed', amountFen: 66, count: 2 }, budgetFen: 132 });
    pay.behaviour.set('o_pay-untold', 'not_enough');
    const r = await claimFor(campaign._id, 'pay-untold');
    if (r.status !== 'won') throw new Error('expected a win');
    await whileNotifierDown(() => payClaim(deps, r.claimId));
    expect((await claimsOf('pay-untold'))[0]?.state).toBe('failed');
    expect(notices.filter((n) => n.claimId === r.claimId)).toEqual([]);
    // Reconciliation re-drives the untold failure once it is a minute old, and only until it is told.
    await RedEnvelopeClaim.updateOne({ _id: r.claimId }, { 'payout.finalAt': new Date(Date.now() - 120_000) });
    await reconcilePayouts(deps);
    await reconcilePayouts(deps);
    expect(notices.filter((n) => n.claimId === r.claimId)).toEqual([
      expect.objectContaining({ kind: 'failed', reason: '商户资金不足' }),
    ]);
  });

  it('tells a customer how to confirm their transfer even when the first message could not go out', async () => {
    const campaign = await runningCampaign({ prize: { kind: 'fixed', amountFen: 77, count: 2 }, budgetFen: 154 });
    pay.behaviour.set('o_ask-untold', 'confirm');
    const r = await claimFor(campaign._id, 'ask-untold');
    if (r.status !== 'won') throw new Error('expected a win');
    expect(await whileNotifierDown(() => payClaim(deps, r.claimId))).toBe('wait_user_confirm');
    expect(notices.filter((n) => n.claimId === r.claimId)).toEqual([]);
    expect((await RedEnvelopeClaim.findById(r.claimId).lean())?.payout?.confirmToldAt).toBeUndefined();
    // Too fresh: a notice may still be on its way.
    await reconcilePayouts(deps);
    expect(notices.filter((n) => n.claimId === r.claimId)).toEqual([]);
    // Half a minute on, reconciliation tells them, with the package, and only once.
    await RedEnvelopeClaim.collection.updateOne(
      { _id: new Types.ObjectId(r.claimId) },
      { $set: { updatedAt: new Date(Date.now() - 60_000) } },
    );
    await reconcilePayouts(deps);
    await reconcilePayouts(deps);
    expect(notices.filter((n) => n.claimId === r.claimId)).toEqual([
      expect.objectContaining({ kind: 'confirm_needed', packageInfo: expect.stringMatching(/^pkg-/) as unknown }),
    ]);
    expect((await RedEnvelopeClaim.findById(r.claimId).lean())?.payout?.confirmToldAt).toBeInstanceOf(Date);
    // Still waiting an hour later, its in-flight marker long gone: re-driven, but not messaged again.
    await deps.redis.del(`re:notice:${r.claimId}:confirm_needed`);
    await RedEnvelopeClaim.updateOne({ _id: r.claimId }, { 'payout.nextAttemptAt': new Date(0) });
    expect(await reconcilePayouts(deps)).toBeGreaterThanOrEqual(1);
    expect((await claimsOf('ask-untold'))[0]?.state).toBe('wait_user_confirm');
    expect(notices.filter((n) => n.claimId === r.claimId)).toHaveLength(1);
  });

  it('keeps the package a customer confirms with, and recovers one a crash lost, though queries never carry it', async () => {
    const campaign = await runningCampaign();
    pay.behaviour.set('o_pkg-kept', 'confirm');
    pay.behaviour.set('o_pkg-lost', 'confirm');
    const kept = await claimFor(campaign._id, 'pkg-kept');
    const lost = await claimFor(campaign._id, 'pkg-lost');
    if (kept.status !== 'won' || lost.status !== 'won') throw new Error('expected wins');

    // Waiting for the customer; reconciliation asks WeChat Pay again later: the package must survive it.
    expect(await payClaim(deps, kept.claimId)).toBe('wait_user_confirm');
    const pkg = (await claimsOf('pkg-kept'))[0]?.packageInfo;
    expect(pkg).toMatch(/^pkg-/);
    await RedEnvelopeClaim.updateOne({ _id: kept.claimId }, { 'payout.nextAttemptAt': new Date(0) });
    await reconcilePayouts(deps);
    await onTransferUpdate(deps, {
      outBillNo: (await RedEnvelopeClaim.findById(kept.claimId).lean())!.outBillNo!,
      state: 'WAIT_USER_CONFIRM',
    });
    expect((await claimsOf('pkg-kept'))[0]).toMatchObject({ state: 'wait_user_confirm', packageInfo: pkg });

    // WeChat Pay accepted the other bill, then the worker died before recording the answer (its attempt was
    // counted first): the next run finds the bill by query, without a package, and asks for it again.
    const doc = (await RedEnvelopeClaim.findById(lost.claimId).lean())!;
    await pay.port.create({
      account: 'default',
      outBillNo: doc.outBillNo!,
      openid: doc.openid,
      amountFen: doc.amountFen,
      remark: '活动红包',
    });
    await RedEnvelopeClaim.updateOne({ _id: lost.claimId }, { 'payout.attempts': 1 });
    expect(await payClaim(deps, lost.claimId)).toBe('wait_user_confirm');
    expect((await claimsOf('pkg-lost'))[0]).toMatchObject({
      state: 'wait_user_confirm',
      packageInfo: `pkg-${doc.outBillNo!}`,
    });
    expect([...pay.bills.values()].filter((b) => b.openid === 'o_pkg-lost')).toHaveLength(1);
    expect(notices.filter((n) => n.claimId === lost.claimId).map((n) => n.kind)).toEqual(['confirm_needed']);
  });

  it('retries transient failures with backoff until the transfer goes through', async () => {
    const campaign = await runningCampaign();
    pay.behaviour.set('o_flaky-1', 'flaky');
    pay.flaky(3);
    const r = await claimFor(campaign._id, 'flaky-1');
    if (r.status !== 'won') throw new Error('expected a win');
    for (let i = 0; i < 3; i += 1) {
      expect(await payClaim(deps, r.claimId)).toBe('pending');
      await RedEnvelopeClaim.updateOne({ _id: r.claimId }, { 'payout.nextAttemptAt': new Date(0) });
    }
    await reconcilePayouts(deps);
    expect((await claimsOf('flaky-1'))[0]?.state).toBe('success');
    expect([...pay.bills.values()].filter((b) => b.openid === 'o_flaky-1')).toHaveLength(1);
  });
});
