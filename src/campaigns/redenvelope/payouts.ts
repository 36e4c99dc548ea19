/**
 * Payouts: every won claim is driven to "paid" or to an explained failure, however often it is driven.
 * - The out_bill_no is fixed per claim, and a claim that was ever sent is first looked up by it, so a crash
 *   between WeChat Pay accepting a transfer and us recording it never pays twice.
 * - Transient errors back off and retry; final errors close the claim as failed, tell the customer why and
 *   open a case for staff. WAIT_USER_CONFIRM sends the customer what they need to confirm.
 * - Reconciliation re-drives every claim not final after a while; transfer callbacks apply states early.
 */
import { isPlatformError, backoffMs } from '../../platform/kernel/errors.js';
import { RedEnvelopeCampaign, RedEnvelopeClaim, RedEnvelopeDeck, type ClaimDoc, type PayoutState } from './model.js';
import { pauseCampaign, type ClaimNoticeKind, type RedEnvelopeDeps, type TransferState } from './service.js';

const NON_FINAL: PayoutState[] = ['pending', 'submitted', 'wait_user_confirm'];
const FAIL_REASONS: Record<string, string> = {
  NOT_ENOUGH: '商户资金不足',
  REAL_NAME_CHECK_FAIL: '收款人未实名认证',
  NAME_NOT_CORRECT: '收款人姓名校验不通过',
  OPENID_INVALID: '收款账户无效',
  TRANSFER_QUOTA_EXCEED: '超过单日收款限额',
  DAY_RECEIVED_QUOTA_EXCEED: '超过单日收款限额',
  ACCOUNT_FROZEN: '收款账户已冻结',
  ACCOUNT_NOT_EXIST: '收款账户不存在',
  TRANSFER_RISK: '转账存在风险，已被拦截',
  USER_NOT_CONFIRM: '超时未确认收款',
  OVERDUE_CLOSE: '转账超时未完成，已关闭',
  CANCELLED: '转账已撤销',
};

/** Notices whose sending is recorded on the claim (under `payout`), for reconciliation to repeat until sent. */
const TOLD_AT: Partial<Record<ClaimNoticeKind, 'failedToldAt' | 'confirmToldAt'>> = {
  failed: 'failedToldAt',
  confirm_needed: 'confirmToldAt',
};

function reasonText(code: string | undefined): string {
  return (code && FAIL_REASONS[code]) ?? '发放失败';
}

/**
 * Sends a notice at most once per claim and kind (a Redis marker; a lost marker only risks a repeat message).
 * A send that fails clears the marker for the next drive to retry.
 */
async function notifyOnce(
  deps: RedEnvelopeDeps,
  claim: ClaimDoc,
  kind: ClaimNoticeKind,
  extra: { packageInfo?: string; reason?: string },
) {
  const marker = `re:notice:${claim._id.toString()}:${kind}`;
  // A failure or confirmation notice is also recorded on the claim once sent (failedToldAt, confirmToldAt) and
  // re-driven by reconciliation until then, so its marker only guards a send in flight: one left by a killed
  // worker expires soon.
  const told = TOLD_AT[kind];
  // Told already (the durable record): a claim re-driven while it waits must not message its customer again.
  if (told && claim.payout?.[told]) return;
  const ttl = told ? 600 : 30 * 86_400;
  const fresh = await deps.redis.set(marker, '1', 'EX', ttl, 'NX');
  if (fresh !== 'OK') {
    deps.logger.debug({ claimId: claim._id.toString(), kind }, 'claim notice already sent or in flight');
    return;
  }
  await deps.notifier
    .notify({
      claimId: claim._id.toString(),
      kind,
      profileId: claim.profileId,
      account: claim.account,
      openid: claim.openid,
      amountFen: claim.amountFen,
      ...extra,
    })
    .then(async () => {
      if (told) await RedEnvelopeClaim.updateOne({ _id: claim._id }, { $set: { [`payout.${told}`]: new Date() } });
    })
    .catch(async (err: unknown) => {
      // Not sent: the marker goes, so the claim's next drive (reconciliation re-drives a claim waiting for
      // its customer) tries again rather than leaving the customer untold.
      await deps.redis.del(marker).catch(() => undefined);
      deps.logger.warn({ claimId: claim._id.toString(), kind, err: { message: String(err) } }, 'claim notice failed');
    });
}

async function applyState(deps: RedEnvelopeDeps, claim: ClaimDoc, transfer: TransferState): Promise<PayoutState> {
  const id = claim._id;
  const now = deps.now?.() ?? new Date();
  const guard = { _id: id, 'payout.state': { $in: NON_FINAL } };
  switch (transfer.state) {
    case 'SUCCESS':
      await RedEnvelopeClaim.updateOne(guard, {
        $set: { 'payout.state': 'success', 'payout.finalAt': now, 'payout.transferBillNo': transfer.transferBillNo },
        $unset: { 'payout.nextAttemptAt': 1 },
      });
      deps.metrics.counter('red_envelope_payouts_total', 'Payout outcomes', ['state']).inc({ state: 'success' });
      await notifyOnce(deps, claim, 'paid', {});
      return 'success';
    case 'FAIL':
    case 'CANCELLED':
      await failClaim(deps, claim, transfer.failReason ?? transfer.state);
      return 'failed';
    case 'WAIT_USER_CONFIRM':
      await RedEnvelopeClaim.updateOne(guard, {
        $set: {
          'payout.state': 'wait_user_confirm',
          // A query never carries package_info (only the create's answer does): keep the one we have.
          ...(transfer.packageInfo ? { 'payout.packageInfo': transfer.packageInfo } : {}),
          'payout.transferBillNo': transfer.transferBillNo,
          'payout.nextAttemptAt': new Date(now.getTime() + 5 * 60_000),
        },
      });
      await notifyOnce(
        deps,
        claim,
        'confirm_needed',
        transfer.packageInfo ? { packageInfo: transfer.packageInfo } : {},
      );
      return 'wait_user_confirm';
    default:
      await RedEnvelopeClaim.updateOne(guard, {
        $set: {
          'payout.state': 'submitted',
          'payout.transferBillNo': transfer.transferBillNo,
          'payout.nextAttemptAt': new Date(now.getTime() + 60_000),
        },
      });
      return 'submitted';
  }
}

async function failClaim(deps: RedEnvelopeDeps, claim: ClaimDoc, code: string): Promise<void> {
  const now = deps.now?.() ?? new Date();
  await RedEnvelopeClaim.updateOne(
    { _id: claim._id, 'payout.state': { $in: NON_FINAL } },
    {
      $set: {
        'payout.state': 'failed',
        'payout.failReason': reasonText(code),
        'payout.lastError': code,
        'payout.finalAt': now,
        'payout.caseState': 'open',
      },
      $unset: { 'payout.nextAttemptAt': 1 },
    },
  );
  deps.metrics.counter('red_envelope_payouts_total', 'Payout outcomes', ['state']).inc({ state: 'failed' });
  deps.logger.warn({ claimId: claim._id.toString(), reason: code }, 'payout failed: case opened');
  await notifyOnce(deps, claim, 'failed', { reason: reasonText(code) });
  await tripBreakerOnFailures(deps, claim.campaignId, true);
}

async function tripBreakerOnFailures(deps: RedEnvelopeDeps, campaignId: string, failed: boolean): Promise<void> {
  const campaign = await RedEnvelopeCampaign.findById(campaignId, { breakerFailureRate: 1, status: 1 }).lean<{
    breakerFailureRate?: number;
    status: string;
  }>();
  if (!campaign?.breakerFailureRate || campaign.status !== 'running') return;
  const window = Math.floor(Date.now() / 600_000);
  const total = await deps.redis.incr(`re:{${campaignId}}:payouts:${window}`);
  const failures = failed
    ? await deps.redis.incr(`re:{${campaignId}}:failures:${window}`)
    : Number((await deps.redis.get(`re:{${campaignId}}:failures:${window}`)) ?? 0);
  await deps.redis.expire(`re:{${campaignId}}:payouts:${window}`, 1200);
  await deps.redis.expire(`re:{${campaignId}}:failures:${window}`, 1200);
  if (total >= 20 && failures / total > campaign.breakerFailureRate) {
    deps.logger.warn({ campaignId, failures, total }, 'payout failure spike: campaign paused');
    await pauseCampaign(campaignId, `circuit breaker: ${failures} of ${total} payouts failed`).catch(() => undefined);
  }
}

/**
 * Drives one claim's payout one step: looks the bill up if it may exist, creates it otherwise, and records
 * what WeChat Pay says. Idempotent and safe to run concurrently (the bill number is fixed).
 */
export async function payClaim(deps: RedEnvelopeDeps, claimId: string): Promise<PayoutState | undefined> {
  const claim = await RedEnvelopeClaim.findById(claimId).lean<ClaimDoc>();
  if (!claim || claim.outcome !== 'won' || !claim.payout?.state || !claim.payout.outBillNo) return undefined;
  if (!NON_FINAL.includes(claim.payout.state)) return claim.payout.state;
  const outBillNo = claim.payout.outBillNo;
  const attempts = claim.payout.attempts ?? 0;
  // Count the attempt before calling out: a crash after WeChat Pay accepted the bill makes the next run look it up.
  await RedEnvelopeClaim.updateOne({ _id: claim._id }, { $set: { 'payout.attempts': attempts + 1 } });
  const createBill = () =>
    deps.transfers.create({
      account: claim.account,
      outBillNo,
      openid: claim.openid,
      amountFen: claim.amountFen,
      remark: '活动红包',
    });
  try {
    let transfer = attempts > 0 || claim.payout.state !== 'pending' ? await deps.transfers.query(outBillNo) : undefined;
    // The bill waits for the customer but the package they confirm with was lost (a crash after WeChat Pay
    // accepted the bill, before we recorded its answer): only the create answers package_info, and the same
    // create again (same number, same parameters) answers the original bill with it.
    if (transfer?.state === 'WAIT_USER_CONFIRM' && !transfer.packageInfo && !claim.payout.packageInfo)
      transfer = await createBill();
    transfer ??= await createBill();
    const state = await applyState(deps, claim, transfer);
    if (state === 'success') await tripBreakerOnFailures(deps, claim.campaignId, false);
    return state;
  } catch (err) {
    if (isPlatformError(err) && err.disposition === 'give_up') {
      // A refusal can mean a concurrent run created the bill first: believe the bill if there is one.
      const existing = await deps.transfers.query(outBillNo).catch(() => undefined);
      if (existing) return applyState(deps, claim, existing);
      await failClaim(deps, claim, String(err.errcode));
      return 'failed';
    }
    const now = deps.now?.() ?? new Date();
    const delay = Math.max(1000, backoffMs(attempts, 2000, 10 * 60_000));
    await RedEnvelopeClaim.updateOne(
      { _id: claim._id, 'payout.state': { $in: NON_FINAL } },
      {
        $set: {
          'payout.lastError': err instanceof Error ? err.message.slice(0, 300) : String(err),
          'payout.nextAttemptAt': new Date(now.getTime() + delay),
        },
      },
    );
    deps.logger.warn({ claimId, attempts: attempts + 1, err: { message: String(err) } }, 'payout will be retried');
    return claim.payout.state;
  }
}

/** Applies a verified transfer callback from WeChat Pay to its claim. */
export async function onTransferUpdate(
  deps: RedEnvelopeDeps,
  update: { outBillNo: string } & TransferState,
): Promise<PayoutState | undefined> {
  // Claims written before the top-level copy existed are found by the (scanning) dotted path.
  const claim =
    (await RedEnvelopeClaim.findOne({ outBillNo: update.outBillNo }).lean<ClaimDoc>()) ??
    (await RedEnvelopeClaim.findOne({ 'payout.outBillNo': update.outBillNo }).lean<ClaimDoc>());
  if (!claim) return undefined;
  if (!claim.payout?.state || !NON_FINAL.includes(claim.payout.state)) return claim.payout?.state ?? undefined;
  return applyState(deps, claim, update);
}

/**
 * The reconciliation job: re-drives every claim whose payout is not final and is due (its retry time came,
 * or it has not moved for `staleAfterMs`). Returns how many claims it drove.
 */
export async function reconcilePayouts(
  deps: RedEnvelopeDeps,
  options: { staleAfterMs?: number; untoldAfterMs?: number; limit?: number; concurrency?: number } = {},
) {
  const now = deps.now?.() ?? new Date();
  const stale = new Date(now.getTime() - (options.staleAfterMs ?? 60_000));
  const due = await RedEnvelopeClaim.find(
    {
      'payout.state': { $in: NON_FINAL },
      $or: [
        { 'payout.nextAttemptAt': { $lte: now } },
        { 'payout.nextAttemptAt': { $exists: false }, updatedAt: { $lte: stale } },
      ],
    },
    { _id: 1 },
  )
    .limit(options.limit ?? 500)
    .lean<{ _id: { toString(): string } }[]>();
  // A few claims at a time: each one waits mostly on WeChat Pay and storage, and payClaim is safe to run
  // concurrently (one bill number per claim).
  let next = 0;
  const lane = async () => {
    while (next < due.length) await payClaim(deps, due[next++]!._id.toString());
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, due.length) }, lane));
  // Failed payouts whose customer was not told yet (the notice failed, Redis lost its marker mid-send, or the
  // worker died between the failure and the message): tell them now.
  const untold = await RedEnvelopeClaim.find({
    'payout.state': 'failed',
    'payout.failedToldAt': { $exists: false },
    'payout.finalAt': { $lte: stale },
  })
    .limit(options.limit ?? 500)
    .lean<ClaimDoc[]>();
  for (const claim of untold)
    await notifyOnce(deps, claim, 'failed', { reason: claim.payout?.failReason ?? reasonText(undefined) });
  // Bills waiting for their customer who was never told how to confirm (the notice failed or was cut short).
  const unasked = await RedEnvelopeClaim.find({
    'payout.state': 'wait_user_confirm',
    'payout.confirmToldAt': { $exists: false },
    updatedAt: { $lte: new Date(now.getTime() - (options.untoldAfterMs ?? 30_000)) },
  })
    .limit(options.limit ?? 500)
    .lean<ClaimDoc[]>();
  for (const claim of unasked)
    await notifyOnce(
      deps,
      claim,
      'confirm_needed',
      claim.payout?.packageInfo ? { packageInfo: claim.payout.packageInfo } : {},
    );
  return due.length;
}

/** Staff retry a failed payout after fixing its cause: a bill that failed at WeChat Pay gets a new number. */
export async function retryFailedPayout(deps: RedEnvelopeDeps, claimId: string, staffId: string): Promise<void> {
  const claim = await RedEnvelopeClaim.findById(claimId).lean<ClaimDoc>();
  if (!claim?.payout || claim.payout.state !== 'failed' || !claim.payout.outBillNo) return;
  const existing = await deps.transfers.query(claim.payout.outBillNo);
  const retries = Number(/R(\d+)$/.exec(claim.payout.outBillNo)?.[1] ?? 0);
  const outBillNo = existing ? `${claim.payout.outBillNo.slice(0, 28)}R${retries + 1}` : claim.payout.outBillNo;
  await RedEnvelopeClaim.updateOne(
    { _id: claim._id, 'payout.state': 'failed' },
    {
      $set: {
        'payout.state': 'pending',
        outBillNo,
        'payout.outBillNo': outBillNo,
        'payout.attempts': 0,
        'payout.caseState': 'resolved',
      },
      $unset: { 'payout.failReason': 1, 'payout.finalAt': 1, 'payout.failedToldAt': 1 },
    },
  );
  await deps.redis.del(`re:notice:${claimId}:failed`);
  deps.logger.info({ claimId, staffId }, 'failed payout retried by staff');
  await deps.schedulePayout(claimId);
}

export interface BudgetReport {
  campaignId: string;
  budgetFen: number;
  deckFen: number;
  wonFen: number;
  paidFen: number;
  inFlightFen: number;
  failedFen: number;
  wonCount: number;
  /** won = paid + in flight + failed, and won ≤ deck ≤ budget. */
  ok: boolean;
}

/** The budget invariant, recomputed from the claims (the job exposes it as metrics). */
export async function budgetReport(deps: RedEnvelopeDeps, campaignId: string): Promise<BudgetReport> {
  const campaign = await RedEnvelopeCampaign.findById(campaignId, { budgetFen: 1 }).lean<{ budgetFen: number }>();
  const deck = await RedEnvelopeDeck.findById(campaignId).lean<{ amounts: number[] }>();
  // One accumulator per $group: FerretDB computes only the first of several (the others come back as 0).
  const match = { $match: { campaignId, outcome: 'won' } };
  const [sums, counts] = await Promise.all([
    RedEnvelopeClaim.aggregate<{ _id: PayoutState; fen: number }>([
      match,
      { $group: { _id: '$payout.state', fen: { $sum: '$amountFen' } } },
    ]),
    RedEnvelopeClaim.aggregate<{ _id: PayoutState; count: number }>([
      match,
      { $group: { _id: '$payout.state', count: { $sum: 1 } } },
    ]),
  ]);
  const groups = sums.map((g) => ({ ...g, count: counts.find((c) => c._id === g._id)?.count ?? 0 }));
  const fen = (states: PayoutState[]) => groups.filter((g) => states.includes(g._id)).reduce((s, g) => s + g.fen, 0);
  const wonFen = groups.reduce((s, g) => s + g.fen, 0);
  const report: BudgetReport = {
    campaignId,
    budgetFen: campaign?.budgetFen ?? 0,
    deckFen: (deck?.amounts ?? []).reduce((s, a) => s + a, 0),
    wonFen,
    paidFen: fen(['success']),
    inFlightFen: fen(NON_FINAL),
    failedFen: fen(['failed']),
    wonCount: groups.reduce((s, g) => s + g.count, 0),
    ok: false,
  };
  report.ok =
    report.wonFen === report.paidFen + report.inFlightFen + report.failedFen &&
    report.wonFen <= report.deckFen &&
    report.deckFen <= report.budgetFen;
  const gauge = deps.metrics.gauge('red_envelope_budget_fen', 'Red-envelope money by state', ['campaign', 'state']);
  gauge.set({ campaign: campaignId, state: 'budget' }, report.budgetFen);
  gauge.set({ campaign: campaignId, state: 'paid' }, report.paidFen);
  gauge.set({ campaign: campaignId, state: 'in_flight' }, report.inFlightFen);
  gauge.set({ campaign: campaignId, state: 'failed' }, report.failedFen);
  deps.metrics
    .gauge('red_envelope_budget_invariant_ok', '1 when claims = paid + in flight + failed ≤ budget', ['campaign'])
    .set({ campaign: campaignId }, report.ok ? 1 : 0);
  if (!report.ok) deps.logger.error({ report }, 'red-envelope budget invariant broken');
  return report;
}
