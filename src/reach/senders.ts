/**
 * Senders that ask the reach ledger first: the customer-service sender the gateway uses for late replies (and
 * that other domains share through deps.customerService) spends one send of the follower's window before
 * calling WeChat, and gives it back when WeChat did not take the message. A closed window means no attempt.
 */
import type { CustomerServiceSender } from '../gateway/customer-service.js';
import type { Logger } from '../infra/logger.js';
import type { ReachDecision, ReachLedger, ReachRequest } from './ledger.js';
import type { ReachClass } from './policy.js';

/** Raised instead of calling WeChat when the ledger refuses a customer-service send. */
export class ReachRefused extends Error {
  constructor(readonly decision: Exclude<ReachDecision, { verdict: 'allow' }>) {
    super(`reach refused: ${decision.reason}`);
    this.name = 'ReachRefused';
  }
}

export function isReachRefused(err: unknown): err is ReachRefused {
  return err instanceof ReachRefused;
}

/** Wraps a customer-service sender: reserve in the ledger, send, release when the send throws. */
export function guardCustomerService(
  sender: CustomerServiceSender,
  ledger: ReachLedger,
  logger: Logger,
  sendClass: ReachClass = 'reply',
  /**
   * Waits for inbound events still being applied (the bus delivers after the publisher's turn): a late reply to
   * the message that opened the window must not race the window's opening. Bounded to one second.
   */
  settle?: () => Promise<void>,
): CustomerServiceSender {
  // Spread first: a recording sender (tests) keeps its `kind` and `sent` list behind the guard.
  return {
    ...sender,
    async send(account, openid, reply) {
      const request: ReachRequest = { account, openid, channel: 'customer_service', class: sendClass };
      let decision = await ledger.reserve(request);
      if (decision.verdict === 'deny' && decision.reason === 'cs_window_closed' && settle) {
        await Promise.race([settle(), new Promise((r) => setTimeout(r, 1000).unref())]);
        decision = await ledger.reserve(request);
      }
      if (decision.verdict !== 'allow') {
        logger.info({ account, reason: decision.reason }, 'customer-service send refused by the reach ledger');
        throw new ReachRefused(decision);
      }
      try {
        await sender.send(account, openid, reply);
      } catch (err) {
        await ledger.release(request, decision);
        throw err;
      }
    },
  };
}

/**
 * The first channel of `channels` the ledger allows now, reserved; or the last refusal (with every reason) when
 * none is. E.g. ['customer_service', 'template']: free text while the window is open, a template after.
 */
export async function reserveFirst(
  ledger: ReachLedger,
  request: Omit<ReachRequest, 'channel'>,
  channels: ReachRequest['channel'][],
): Promise<{ channel?: ReachRequest['channel']; decision: ReachDecision; refused: string[] }> {
  const refused: string[] = [];
  let last: ReachDecision | undefined;
  for (const channel of channels) {
    const decision = await ledger.reserve({
      ...request,
      channel,
      ...(request.key ? { key: `${request.key}:${channel}` } : {}),
    });
    if (decision.verdict === 'allow') return { channel, decision, refused };
    refused.push(`${channel}:${decision.reason}`);
    last = decision;
    // A deferral (quiet hours) applies to every channel: wait rather than try the next one.
    if (decision.verdict === 'defer') break;
  }
  if (!last) throw new Error('no channel to try');
  return { decision: last, refused };
}
