/**
 * The demo's day, step by step, against a running stack. Each step names the admin path its domain brings;
 * when the build lacks it the step is skipped with a note (domains land in main one by one).
 */
import type { Connection } from 'mongoose';
import {
  assignTiers,
  chat,
  claimEnvelopes,
  confirmTransfers,
  has,
  makePeople,
  readSummary,
  reportPurchases,
  reserveAndRedeem,
  seedStaff,
  setUpConversation,
  setUpRedEnvelope,
  setUpReservations,
  subscribeEveryone,
  type DemoWorld,
  type Summary,
} from './scenario.js';
import { playPush, setUpPush } from './push.js';
import { playReferral, setUpReferral } from './referral.js';
import type { Stack } from './stack.js';

export interface DayOptions {
  stack: Stack;
  db: Connection;
  say: (line: string) => void;
  fast: boolean;
  people: number;
  runId: string;
  admin: { username: string; password: string };
  /** Called between steps (the acceptance suite injects faults here). */
  between?: (step: string, world: DemoWorld) => Promise<void>;
}

interface Step {
  name: string;
  /** Admin path prefix the step's domain brings. */
  needs?: string;
  run(world: DemoWorld): Promise<void>;
}

const STEPS: Step[] = [
  { name: 'followers', run: subscribeEveryone },
  { name: 'tiers', needs: '/crm/profiles', run: assignTiers },
  { name: 'purchases', run: reportPurchases },
  { name: 'conversation', needs: '/conversation', run: setUpConversation },
  { name: 'chat', run: chat },
  { name: 'red-envelope campaign', needs: '/campaigns/red-envelopes', run: (w) => setUpRedEnvelope(w) },
  { name: 'red-envelope claims', needs: '/campaigns/red-envelopes', run: claimEnvelopes },
  {
    name: 'payouts',
    needs: '/campaigns/red-envelopes',
    run: (w) => confirmTransfers(w, w.fast ? 60_000 : 180_000),
  },
  { name: 'reservation program', needs: '/reservations/programs', run: setUpReservations },
  { name: 'reservation codes', needs: '/reservations/programs', run: reserveAndRedeem },
  { name: 'referral campaign', needs: '/campaigns/referrals', run: setUpReferral },
  { name: 'referrals', needs: '/campaigns/referrals', run: playReferral },
  { name: 'push plan', needs: '/pushes/plans', run: setUpPush },
  { name: 'push delivery', needs: '/pushes/plans', run: playPush },
];

export async function runDemoDay(
  options: DayOptions,
): Promise<{ summary: Summary; skipped: string[]; world: DemoWorld }> {
  const world: DemoWorld = {
    stack: options.stack,
    db: options.db,
    say: options.say,
    fast: options.fast,
    people: makePeople(options.people, options.runId),
    paths: [],
    staff: {},
    skipped: [],
    doubleRedeemAttempts: 0,
  };
  await seedStaff(world, options.admin.username, options.admin.password);
  const merchantStart = options.stack.sandbox.pay.balance();
  for (const step of STEPS) {
    if (step.needs && !has(world, step.needs)) {
      const note = `${step.name}: its domain is not in this build`;
      if (!world.skipped.includes(note)) world.skipped.push(note);
      options.say(`skipped ${note}`);
      continue;
    }
    const t = Date.now();
    await step.run(world);
    options.say(`  ${step.name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await options.between?.(step.name, world);
  }
  const summary = await readSummary(world, merchantStart);
  return { summary, skipped: world.skipped, world };
}
