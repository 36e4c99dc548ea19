/**
 * Handing out envelopes fast: Redis gives each winning claim a slot number (envelope k of the deck) with one
 * Lua script, reusing slots given back by claims that failed. Redis is only the fast path: the claim's
 * unique (campaign, slot) index is the truth, so after Redis loses its keys the slots are rebuilt from the
 * claims in MongoDB, and a slot handed out twice across a rebuild is refused by the index and taken again.
 */
import { randomBytes } from 'node:crypto';
import { redisScript, type Redis } from '../../infra/redis.js';
import { RedEnvelopeClaim } from './model.js';

const keys = (campaignId: string) => {
  const base = `re:{${campaignId}}`;
  return {
    ready: `${base}:ready`,
    next: `${base}:next`,
    free: `${base}:free`,
    rebuild: `${base}:rebuild`,
    customer: (profileId: string) => `${base}:cust:${profileId}`,
    customerDay: (profileId: string, day: string) => `${base}:day:${day}:${profileId}`,
  };
};

// One atomic step: the customer's limits, then an envelope (a released one first). Returns
// {slot, nth, dayNth} (slot 0 for a draw that did not win), or a negative code:
// -2 not ready (never built, or Redis lost it: wait for a rebuild), -1 every envelope taken,
// -3 the customer's limit, -4 the customer's limit for today.
const TAKE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2} end
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
if total >= tonumber(ARGV[2]) then return {-3} end
local today = tonumber(redis.call('GET', KEYS[5]) or '0')
if today >= tonumber(ARGV[3]) then return {-4} end
local slot = 0
if ARGV[4] == '1' then
  local s = redis.call('RPOP', KEYS[3])
  if s then
    slot = tonumber(s)
  else
    local n = tonumber(redis.call('GET', KEYS[2]) or '0')
    if n >= tonumber(ARGV[1]) then return {-1} end
    slot = redis.call('INCR', KEYS[2])
  end
end
local nth = redis.call('INCR', KEYS[4])
local dayNth = redis.call('INCR', KEYS[5])
redis.call('EXPIRE', KEYS[5], 172800)
return {slot, nth, dayNth}`;

const RELEASE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[1]) > 0 then redis.call('LPUSH', KEYS[2], ARGV[1]) end
redis.call('DECR', KEYS[3])
redis.call('DECR', KEYS[4])
return 1`;

export type SlotResult =
  | { kind: 'taken'; slot: number; nth: number; dayNth: number }
  | { kind: 'sold_out' }
  | { kind: 'limit' }
  | { kind: 'daily_limit' };

export interface TakeInput {
  campaignId: string;
  envelopes: number;
  profileId: string;
  day: string;
  limitTotal: number;
  limitDay: number;
  /** False for a draw that did not win: only the customer's counters move. */
  wins: boolean;
}

const takeScript = redisScript(TAKE);

/** Takes the customer's next draw and, for a win, a free envelope; rebuilds from MongoDB when Redis has none. */
export async function takeSlot(redis: Redis, input: TakeInput): Promise<SlotResult> {
  const k = keys(input.campaignId);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const [code, nth, dayNth] = (await takeScript(
      redis,
      [k.ready, k.next, k.free, k.customer(input.profileId), k.customerDay(input.profileId, input.day)],
      [input.envelopes, input.limitTotal, input.limitDay, input.wins ? '1' : '0'],
    )) as number[];
    if (code === undefined) throw new Error('unexpected answer from the slot script');
    if (code >= 0) return { kind: 'taken', slot: code, nth: nth!, dayNth: dayNth! };
    if (code === -1) return { kind: 'sold_out' };
    if (code === -3) return { kind: 'limit' };
    if (code === -4) return { kind: 'daily_limit' };
    await rebuildSlots(redis, input.campaignId, input.day);
  }
  throw new Error('red-envelope slots were not rebuilt within 15 s');
}

/** Gives a draw back (and its envelope, if it won one) after its claim could not be recorded. */
export async function releaseSlot(
  redis: Redis,
  input: { campaignId: string; profileId: string; day: string; slot: number },
): Promise<void> {
  const k = keys(input.campaignId);
  await redis.eval(
    RELEASE,
    4,
    k.ready,
    k.free,
    k.customer(input.profileId),
    k.customerDay(input.profileId, input.day),
    input.slot,
  );
}

/**
 * Rebuilds `next` and the free list from the claims recorded in MongoDB. One process rebuilds (a Redis lock);
 * the others wait for it, so no claim is served from half-built state.
 */
export async function rebuildSlots(redis: Redis, campaignId: string, today: string): Promise<void> {
  const k = keys(campaignId);
  const token = randomBytes(8).toString('hex');
  const locked = await redis.set(k.rebuild, token, 'PX', 30_000, 'NX');
  if (locked !== 'OK') {
    // Someone else is rebuilding: claims wait for it rather than read half-built state.
    await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    return;
  }
  try {
    const claims = await RedEnvelopeClaim.find({ campaignId }, { slotKey: 1, profileId: 1, day: 1, _id: 0 }).lean<
      { slotKey: string; profileId: string; day: string }[]
    >();
    const taken = new Set(
      claims.filter((c) => c.slotKey.startsWith('slot:')).map((c) => Number(c.slotKey.slice('slot:'.length))),
    );
    const perCustomer = new Map<string, number>();
    const perCustomerToday = new Map<string, number>();
    for (const c of claims) {
      perCustomer.set(c.profileId, (perCustomer.get(c.profileId) ?? 0) + 1);
      if (c.day === today) perCustomerToday.set(c.profileId, (perCustomerToday.get(c.profileId) ?? 0) + 1);
    }
    let max = 0;
    for (const slot of taken) max = Math.max(max, slot);
    const free: number[] = [];
    for (let slot = 1; slot <= max; slot += 1) if (!taken.has(slot)) free.push(slot);
    const pipeline = redis.multi().del(k.free).set(k.next, max);
    for (let i = 0; i < free.length; i += 1000) pipeline.rpush(k.free, ...free.slice(i, i + 1000));
    for (const [profileId, n] of perCustomer) pipeline.set(k.customer(profileId), n);
    for (const [profileId, n] of perCustomerToday) pipeline.set(k.customerDay(profileId, today), n, 'EX', 172_800);
    pipeline.set(k.ready, token);
    await pipeline.exec();
  } finally {
    if ((await redis.get(k.rebuild)) === token) await redis.del(k.rebuild);
  }
}

/** How many envelopes Redis still considers available (for dashboards; MongoDB stays the truth). */
export async function slotsLeft(redis: Redis, campaignId: string, envelopes: number): Promise<number | undefined> {
  const k = keys(campaignId);
  const [ready, next, free] = await Promise.all([redis.exists(k.ready), redis.get(k.next), redis.llen(k.free)]);
  // A customer's counters from before a Redis loss are rebuilt with the slots (rebuildSlots).
  if (!ready) return undefined;
  return envelopes - Number(next ?? 0) + free;
}
