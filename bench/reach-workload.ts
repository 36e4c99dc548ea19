/**
 * The reach soak's workload: 100,000 interactions and sends across 10,000 followers, generated from a fixed seed
 * so every worker (and the recount) sees the same sequence. Simulated time starts at 12:00 Shanghai and moves
 * 100 ms per operation, so no marketing send falls in quiet hours and windows open and expire as they would.
 */
import type { ReachChannel, ReachClass } from '../src/reach/index.js';

export const REACH_ACCOUNT = 'bench';
export const FOLLOWERS = Number(process.env.BENCH_REACH_FOLLOWERS ?? 10_000);
export const OPERATIONS = Number(process.env.BENCH_REACH_OPS ?? 100_000);
const START = Date.UTC(2026, 10, 24, 4); // Tuesday 12:00 Asia/Shanghai

export type Op = { i: number; follower: number; at: Date; profileId: string; tier: string } & (
  | { kind: 'message' | 'click' | 'toggle' | 'accept' | 'reject' | 'check' | 'release' | 'retry' }
  | { kind: ReachChannel; class: ReachClass }
);

function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function* workload(): Generator<Op> {
  const rnd = random(20261124);
  for (let i = 0; i < OPERATIONS; i++) {
    const follower = Math.floor(rnd() * FOLLOWERS);
    const r = rnd();
    const common = {
      i,
      follower,
      at: new Date(START + i * 100),
      profileId: `p${follower}`,
      tier: follower % 10 === 0 ? 'vip' : 'standard',
    };
    if (r < 0.12) yield { ...common, kind: 'message' };
    else if (r < 0.18) yield { ...common, kind: 'click' };
    else if (r < 0.2) yield { ...common, kind: 'toggle' };
    else if (r < 0.23) yield { ...common, kind: 'accept' };
    else if (r < 0.235) yield { ...common, kind: 'reject' };
    else if (r < 0.5) yield { ...common, kind: 'customer_service', class: rnd() < 0.7 ? 'reply' : 'transactional' };
    else if (r < 0.65) yield { ...common, kind: 'template', class: rnd() < 0.6 ? 'marketing' : 'transactional' };
    else if (r < 0.73) yield { ...common, kind: 'mass', class: 'marketing' };
    else if (r < 0.78) yield { ...common, kind: 'subscription', class: 'transactional' };
    else if (r < 0.82) yield { ...common, kind: 'wecom_group', class: 'marketing' };
    else if (r < 0.95) yield { ...common, kind: 'check' };
    else if (r < 0.99) yield { ...common, kind: 'release' };
    else yield { ...common, kind: 'retry' };
  }
}
