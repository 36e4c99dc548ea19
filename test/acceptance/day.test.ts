/**
 * The demo's day as an acceptance test, run twice: once cleanly, once with faults (the worker process
 * killed mid-day, Redis restarted, WeChat Pay's API down for a while). Both runs must keep every promise:
 * answers within 5 s, every won envelope paid or explained to its customer, our ledger equal to WeChat
 * Pay's, no customer over a cap or messaged at night, no code redeemed twice, every staff write audited.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../src/demo/stack.js';
import { cleanFileScope } from '../support/app.js';
import {
  doubleRedemptions,
  endDay,
  ledgerMatches,
  playDay,
  pushDiscipline,
  unansweredPushes,
  unauditedWrites,
  unexplainedEnvelopes,
  wrongConfirmations,
  wrongTierContent,
  type DayRun,
} from './support.js';
import { formatSummary } from '../../src/demo/scenario.js';

afterAll(cleanFileScope);

async function expectPromisesKept(run: DayRun): Promise<void> {
  const s = run.summary;
  expect(s.followers.subscribed, run.log.join('\n')).toBeGreaterThan(0);
  expect(unansweredPushes(run)).toEqual([]);
  expect(s.envelopes?.won ?? 0).toBeGreaterThan(0);
  expect(await unexplainedEnvelopes(run)).toEqual([]);
  expect(ledgerMatches(run), JSON.stringify(s.ledger)).toBe(true);
  expect(s.envelopes!.wonFen).toBeLessThanOrEqual(s.envelopes!.budgetFen);
  expect(s.riskDenials.resubscribe_farming ?? 0).toBeGreaterThan(0);
  expect(await doubleRedemptions(run)).toEqual([]);
  expect(s.codes?.redeemed ?? 0).toBeGreaterThan(0);
  expect(await unauditedWrites(run)).toEqual([]);
  const discipline = await pushDiscipline(run, 3);
  expect(discipline.overCap).toEqual([]);
  expect(discipline.atNight).toEqual([]);

  // Referral: only the friend who bought within their window is confirmed, its referrer rewarded once.
  const referral = s.referral!;
  expect(referral.codes).toBe(run.world.referral!.referrers.length);
  expect(referral.friends).toBe(run.world.referral!.friends.length);
  expect(referral.states).toEqual({ pending: 0, confirmed: 1, rejected: referral.friends - 1 });
  expect(referral.rejectedByReason).toEqual({ unsubscribed: 1, not_qualified: referral.friends - 2 });
  expect(await wrongConfirmations(run)).toEqual([]);
  expect(referral.scans.self).toBe(1);
  expect(referral.referralRewards).toBe(1);
  expect(referral.rewards).toEqual({ granted: 1, failed: 0 });
  expect(referral.pointsEvents).toBe(1);

  // Tiered push: approved and run; every tier reads its own words; receipts and clicks in the funnel.
  const push = s.push!;
  expect(push.status).toBe('done');
  expect(push.rows.map((r) => r.variant).sort()).toEqual(['A', 'B', 'total']);
  const total = push.rows.find((r) => r.variant === 'total')!;
  expect(total.targeted).toBe(push.audienceSize);
  expect(total.sent).toBeGreaterThan(0);
  expect(total.delivered).toBe(total.sent);
  expect(total.clicked).toBeGreaterThan(0);
  expect(total.clicked).toBeLessThanOrEqual(total.delivered);
  expect(Object.values(s.pushesPerTier ?? {}).reduce((a, b) => a + b, 0)).toBe(total.sent);
  expect((s.pushesPerTier?.vip ?? 0) + (s.pushesPerTier?.qualified ?? 0)).toBeGreaterThan(0);
  expect(s.pushesPerTier?.regular ?? 0).toBeGreaterThan(0);
  expect(await wrongTierContent(run)).toEqual([]);
  const summary = formatSummary(s, run.world.skipped);
  expect(summary).toMatch(/^referral +\d+ codes, \d+ friends of \d+ referrers → 1 confirmed/m);
  expect(summary).toMatch(/^push funnel +total: \d+ targeted/m);
  expect(summary).not.toMatch(/not yet played/);
}

describe('the demo day keeps every promise', () => {
  it('on a clean run', async () => {
    let run: DayRun | undefined;
    try {
      run = await playDay({ tag: 'clean', people: 40 });
      await expectPromisesKept(run);
    } finally {
      await endDay(run);
    }
  }, 240_000);

  it('with a worker killed, Redis restarted and WeChat Pay down', async () => {
    let run: DayRun | undefined;
    let redis: PrivateRedis | undefined;
    try {
      redis = await startPrivateRedis();
      const r = redis;
      let payDownUntil = 0;
      run = await playDay({
        tag: 'faults',
        people: 40,
        redisUrl: r.url,
        between: async (step, world) => {
          // The worker dies without warning before the claims: payouts and CRM events wait in the queues.
          if (step === 'red-envelope campaign') await world.stack.killWorker();
          if (step === 'red-envelope claims') {
            // Redis loses everything it held; WeChat Pay refuses connections for 10 s; a new worker starts.
            await r.restart(500);
            payDownUntil = world.stack.sandbox.clock.now() + 10_000;
            world.stack.sandbox.faults.add({ platform: 'wechatpay', path: '*', reset: true, until: payDownUntil });
            await world.stack.startWorker();
          }
        },
      });
      expect(payDownUntil).toBeGreaterThan(0);
      await expectPromisesKept(run);
    } finally {
      await endDay(run);
      await redis?.stop();
    }
  }, 300_000);
});
