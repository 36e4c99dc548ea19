/**
 * The limits every push channel shares: the per-account token bucket (WeChat's rate limit, shared by every
 * worker) and the per-profile frequency cap across plans and channels (service-account pushes, WeCom group
 * sends, customer-service pushes), both in Redis and changed only by Lua.
 */
import { redisScript, type Redis } from '../infra/redis.js';
import type { PushDeps, PushPolicy } from './delivery.js';

/** Sleeps through the test seam when a test gave one. */
export const sleepOf = (deps: Pick<PushDeps, 'sleep'>) =>
  deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

/** Takes one token from the account's bucket, waiting as long as the bucket says (see TAKE_TOKENS). */
export async function takeToken(deps: Pick<PushDeps, 'redis' | 'policy' | 'sleep'>, account: string): Promise<void> {
  for (;;) {
    const [granted, wait] = await takeTokens(deps, account, 1);
    if (granted > 0) return;
    await sleepOf(deps)(wait);
  }
}

/** A profile's caps: its tier's, else the policy's defaults. */
export function capsOf(policy: PushPolicy, tier: string): { perDay: number; perWeek: number } {
  return policy.tierCaps?.[tier] ?? { perDay: policy.capPerDay, perWeek: policy.capPerWeek };
}

function capKeys(profileId: string, at: Date): [string, string] {
  const local = new Date(at.getTime() + 8 * 3_600_000);
  const day = local.toISOString().slice(0, 10);
  const week = Math.floor((local.getTime() / 86_400_000 + 3) / 7); // weeks starting Monday
  return [`push:cap:d:${day}:${profileId}`, `push:cap:w:${week}:${profileId}`];
}

/**
 * Takes one send from a profile's frequency cap (per day and per week, Asia/Shanghai): true when it fit.
 * Shared by every channel that reaches a customer (service-account pushes, WeCom group sends).
 */
export async function takeFrequencyCap(
  redis: Redis,
  caps: { perDay: number; perWeek: number },
  profileId: string,
  at: Date,
): Promise<boolean> {
  return (await spendFrequencyCap(redis, caps, profileId, at)) === undefined;
}

/** Like `takeFrequencyCap`, but says which cap refused: undefined when the send fit, else `cap_day`/`cap_week`. */
export async function spendFrequencyCap(
  redis: Redis,
  caps: { perDay: number; perWeek: number },
  profileId: string,
  at: Date,
): Promise<'cap_day' | 'cap_week' | undefined> {
  const [refusal] = await spendFrequencyCaps(redis, [{ caps, profileId }], at);
  return refusal;
}

// Frequency caps across all plans, for one or many profiles at once: KEYS are day/week pairs, ARGV their caps
// in pairs; one answer each. A profile's two counters move together or not at all.
const TAKE_CAPS = `
local out = {}
for i = 1, #KEYS, 2 do
  local d = tonumber(redis.call('GET', KEYS[i]) or '0')
  local w = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  if d >= tonumber(ARGV[i]) then out[#out + 1] = -1
  elseif w >= tonumber(ARGV[i + 1]) then out[#out + 1] = -2
  else
    redis.call('INCR', KEYS[i]); redis.call('EXPIRE', KEYS[i], 172800)
    redis.call('INCR', KEYS[i + 1]); redis.call('EXPIRE', KEYS[i + 1], 1209600)
    out[#out + 1] = 1
  end
end
return out`;
const takeCapsScript = redisScript(TAKE_CAPS);

/** spendFrequencyCap for a batch (one script call): for each profile, undefined when it fit, else which cap refused. */
export async function spendFrequencyCaps(
  redis: Redis,
  items: readonly { caps: { perDay: number; perWeek: number }; profileId: string }[],
  at: Date,
): Promise<('cap_day' | 'cap_week' | undefined)[]> {
  if (items.length === 0) return [];
  const keys = items.flatMap((x) => capKeys(x.profileId, at));
  const caps = items.flatMap((x) => [x.caps.perDay, x.caps.perWeek]);
  const taken = (await takeCapsScript(redis, keys, caps)) as number[];
  return taken.map((t) => (t === 1 ? undefined : t === -1 ? 'cap_day' : 'cap_week'));
}

// Token bucket per account in Redis, shared by every worker: refills `rate` tokens per second up to `rate`.
// Takes up to ARGV[3] tokens at once: {granted, ms to wait when none}.
const TAKE_TOKENS = `
local rate = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or rate
local at = tonumber(state[2]) or now
tokens = math.min(rate, tokens + (now - at) * rate / 1000)
local n = math.min(want, math.floor(tokens))
redis.call('HSET', KEYS[1], 'tokens', tokens - n, 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000)
if n >= 1 then return {n, 0} end
return {0, math.ceil((1 - tokens) * 1000 / rate)}`;
const takeTokensScript = redisScript(TAKE_TOKENS);

async function takeTokens(
  deps: Pick<PushDeps, 'redis' | 'policy'>,
  account: string,
  want: number,
): Promise<[granted: number, waitMs: number]> {
  return (await takeTokensScript(
    deps.redis,
    [`push:bucket:${account}`],
    [deps.policy.ratePerSecond, Date.now(), want],
  )) as [number, number];
}

/**
 * The account's bucket for one pass, taken from in small handfuls: up to 1/20 s of the rate at a time (at
 * most 64), so a fast pass asks Redis once per handful instead of once per send, and a pass that ends with
 * some in hand has taken at most 50 ms of the account's rate from the others.
 */
export function tokenPool(deps: Pick<PushDeps, 'redis' | 'policy' | 'sleep'>, account: string): () => Promise<void> {
  const handful = Math.max(1, Math.min(64, Math.floor(deps.policy.ratePerSecond / 20)));
  let inHand = 0;
  let refill: Promise<void> | undefined;
  const fill = async () => {
    for (;;) {
      const [granted, wait] = await takeTokens(deps, account, handful);
      if (granted > 0) {
        inHand += granted;
        return;
      }
      await sleepOf(deps)(wait);
    }
  };
  return async function take(): Promise<void> {
    while (inHand === 0) {
      refill ??= fill().finally(() => (refill = undefined));
      await refill;
    }
    inHand -= 1;
  };
}
