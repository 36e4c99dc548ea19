/**
 * The `customer_service` channel of a push plan: a free-text customer-service message, only to followers
 * inside their 48-hour window. The reach ledger is the one place that knows the window: it is asked (and
 * spends one send of the window) before anything else is taken; a closed window is a skip with its reason.
 * WeChat's customer-service API has no client_msg_id, so a send interrupted by a crash is never repeated:
 * at most once, recorded as failed `interrupted`.
 */
import { isDuplicateKey } from '../infra/errors.js';
import { backoffMs, isPlatformError } from '../platform/kernel/errors.js';
import type { ReachLedger, ReachRequest } from '../reach/index.js';
import type { PushDeps } from './delivery.js';
import { capsOf, spendFrequencyCap, takeToken } from './limits.js';
import { PushSend, type PushPlanDoc } from './model.js';
import { contentFor, marketingRefusal, variantOf, type Recipient } from './recipients.js';
import { renderText } from './templates.js';

export interface CustomerServicePort {
  ledger: Pick<ReachLedger, 'reserve' | 'release'>;
  /** Sends a text customer-service message (`message/custom/send`). */
  send(input: { account: string; openid: string; text: string }): Promise<void>;
}

/** Delivers one member of a customer-service run: sent, skipped with the reason, or failed. */
export async function deliverCustomerService(
  deps: PushDeps,
  plan: PushPlanDoc,
  runId: string,
  r: Recipient,
  at: Date,
): Promise<'sent' | 'skipped' | 'failed'> {
  const port = deps.customerService;
  if (!port) throw new Error('the customer_service channel is not configured');
  const variant = variantOf(plan._id.toString(), r.profileId, plan.splitB);
  const base = { planId: plan._id, runId, profileId: r.profileId, account: plan.account, variant, attempts: 0, at };
  const skip = async (reason: string): Promise<'skipped'> => {
    await PushSend.create({ ...base, state: 'skipped', reason }).catch((err: unknown) => {
      if (!isDuplicateKey(err)) throw err;
    });
    return 'skipped';
  };

  const earlier = await PushSend.findOne({ planId: plan._id, runId, profileId: r.profileId }, { state: 1 }).lean();
  if (earlier) {
    // Reserved by a pass that died before it knew whether WeChat took the message: never a second copy.
    if (earlier.state === 'reserved')
      await PushSend.updateOne({ _id: earlier._id, state: 'reserved' }, { state: 'failed', reason: 'interrupted' });
    return 'skipped';
  }
  if (!r.openid) return skip('not_follower');
  const content = contentFor(plan, r.tier, variant);
  if (!content?.text) return skip('no_content_for_tier');
  const refusal = await marketingRefusal(deps, r);
  if (refusal) return skip(refusal);
  const text = renderText(content.text, content.vars);

  let sendId: string;
  try {
    sendId = (await PushSend.create({ ...base, openid: r.openid, state: 'reserved' }))._id.toString();
  } catch (err) {
    if (isDuplicateKey(err)) return 'skipped'; // another worker has this one
    throw err;
  }
  const request: ReachRequest = {
    account: plan.account,
    openid: r.openid,
    profileId: r.profileId,
    tier: r.tier,
    channel: 'customer_service',
    class: 'marketing',
    key: `push:${sendId}`,
    at,
  };
  const decision = await port.ledger.reserve(request);
  if (decision.verdict !== 'allow') {
    await PushSend.updateOne({ _id: sendId }, { state: 'skipped', reason: `reach_${decision.reason}` });
    return 'skipped';
  }
  // Our own cap across plans and channels (the template channel's counters) comes after the window: a
  // closed window must not spend it. A refusal gives the window's send back.
  const capped = await spendFrequencyCap(deps.redis, capsOf(deps.policy, r.tier), r.profileId, at);
  if (capped) {
    await port.ledger.release(request, decision);
    await PushSend.updateOne({ _id: sendId }, { state: 'skipped', reason: capped });
    return 'skipped';
  }

  for (let attempt = 0; ; attempt += 1) {
    await takeToken(deps, plan.account);
    try {
      await port.send({ account: plan.account, openid: r.openid, text });
      await PushSend.updateOne({ _id: sendId }, { state: 'sent', attempts: attempt + 1 });
      await deps.redis.set(`push:last:${r.profileId}`, plan._id.toString(), 'EX', 7 * 86_400);
      return 'sent';
    } catch (err) {
      if (isPlatformError(err) && err.disposition === 'retry' && attempt < 3) {
        await PushSend.updateOne({ _id: sendId }, { attempts: attempt + 1 });
        await (deps.sleep ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms))))(
          backoffMs(attempt, 500, 10_000),
        );
        continue;
      }
      await port.ledger.release(request, decision);
      // 45015: WeChat says the window is closed after all (our ledger missed an event).
      const reason = isPlatformError(err)
        ? err.errcode === 45015
          ? 'cs_window_closed'
          : err.errcode === 43004
            ? 'not_subscribed'
            : `errcode_${err.errcode}`
        : 'error';
      await PushSend.updateOne({ _id: sendId }, { state: 'failed', reason, attempts: attempt + 1 });
      return 'failed';
    }
  }
}
