/**
 * The reach domain's public surface: the ledger (may this message go now, on this channel, and what is left),
 * the gateway feed, the guarded senders, and holdouts. Other domains import only this file.
 */
import { WECHAT_INBOUND } from '../gateway/events.js';
import type { EventBus } from '../infra/events.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import { DEFAULT_HOLDOUT_POLICY, type HoldoutPolicy } from './holdouts.js';
import { applyInbound } from './inbound.js';
import { createReachLedger, type ReachLedger } from './ledger.js';
import { createReachHistory } from './model.js';
import { DEFAULT_REACH_POLICY, type ReachPolicy } from './policy.js';

export {
  DEFAULT_HOLDOUT_POLICY,
  bucketOf,
  inGlobalControl,
  inPlanHoldout,
  liftReport,
  marketingLift,
  planLift,
  type HoldoutPolicy,
  type LiftReport,
  type Outcomes,
} from './holdouts.js';
export { applyInbound } from './inbound.js';
export {
  createReachLedger,
  type DenyReason,
  type QuotaLeft,
  type ReachDecision,
  type ReachLedger,
  type ReachRequest,
} from './ledger.js';
export {
  createReachHistory,
  readReachHistory,
  type ReachEventDoc,
  type ReachHistory,
  type ReachHistoryFilter,
} from './model.js';
export {
  DEFAULT_REACH_POLICY,
  REACH_CHANNELS,
  REACH_CLASSES,
  inQuietHours,
  nextAllowedTime,
  type ReachChannel,
  type ReachClass,
  type ReachPolicy,
  type WindowKind,
} from './policy.js';
export { guardCustomerService, isReachRefused, reserveFirst, ReachRefused } from './senders.js';

/** Builds the ledger and subscribes it to the gateway's `wechat.inbound` events. */
export function createReach(deps: {
  redis: Redis;
  logger: Logger;
  events: EventBus;
  policy?: ReachPolicy;
  holdout?: HoldoutPolicy;
  now?: () => Date;
}): ReachLedger {
  const ledger = createReachLedger({
    redis: deps.redis,
    logger: deps.logger,
    policy: deps.policy ?? DEFAULT_REACH_POLICY,
    history: createReachHistory(deps.logger),
    holdout: deps.holdout ?? DEFAULT_HOLDOUT_POLICY,
    ...(deps.now ? { now: deps.now } : {}),
  });
  deps.events.subscribe(WECHAT_INBOUND, (event) => applyInbound(ledger, event));
  return ledger;
}
