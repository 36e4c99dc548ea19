/**
 * Money under crashes: 500 won red envelopes are paid by a real worker process (the service with
 * PROCESS_ROLE=worker, running the payout jobs from Agenda) that is killed with SIGKILL at random moments
 * and restarted, while the WeChat Pay sandbox fails 10% of calls and goes down for a few seconds. After the
 * restarts, the customers' confirmations and reconciliation, every won claim is paid exactly once: the
 * sandbox merchant's ledger and ours agree bill by bill and to the fen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  approveCampaign,
  budgetReport,
  claimEnvelope,
  createCampaign,
  reconcilePayouts,
  startCampaign,
  type RedEnvelopeDeps,
} from '../../src/campaigns/redenvelope/index.js';
import { RedEnvelopeClaim } from '../../src/campaigns/redenvelope/model.js';
import type { RawSettings } from '../../src/infra/config.js';
import { findFreePort } from '../../src/infra/provision/net.js';
import { DEFAULT_POLICY } from '../../src/risk/engine.js';
import { testSettings } from '../support/app.js';
import { useLive } from '../support/live.js';
import { eventually, hold } from '../support/wait.js';

const CLAIMS = 500;
const AMOUNT_FEN = 100;
// A killed worker's jobs are picked up again once their lock lifetime passes.
const WORKER_SETTINGS = { AGENDA_PROCESS_EVERY_MS: '200', AGENDA_LOCK_LIFETIME_MS: '3000' };

const live = useLive(WORKER_SETTINGS, { pay: true });

interface Worker {
  child: ChildProcess;
  exited: Promise<number | null>;
}

async function startWorker(env: RawSettings): Promise<Worker> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/slow-server.ts'], {
    env: { ...process.env, ...env, PORT: String(await findFreePort()) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-3000)));
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      code = c;
      resolve(c);
    }),
  );
  try {
    await eventually(
      () => {
        if (code !== undefined) throw new Error(`worker exited with ${code}`);
        return /ready \d+/.test(out) || undefined;
      },
      { timeoutMs: 120_000, message: 'worker did not start' },
    );
  } catch (failure) {
    child.kill('SIGKILL');
    throw new Error(`${String(failure)}\nstdout: ${out}\nstderr: ${err}`);
  }
  return { child, exited };
}

async function kill(worker: Worker): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}

const randomBetween = (min: number, max: number) => min + Math.floor(Math.random() * (max - min));

describe('payouts when the worker crashes and WeChat Pay misbehaves', () => {
  it('pays every won claim exactly once after SIGKILLs, 10% transient errors and a down period', async () => {
    const { app, sandbox, url } = live();
    // Claims are made in the web process; risk and eligibility are other tests' business.
    const deps: RedEnvelopeDeps = {
      ...app.deps.redEnvelopes,
      riskPolicy: { ...DEFAULT_POLICY, newFollowerCooldownHours: 0 },
      riskFacts: () => Promise.resolve({}),
      eligibility: { check: () => Promise.resolve({ eligible: true }) },
    };
    const campaign = await createCampaign(
      {
        name: 'crash drill',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 3_600_000),
        budgetFen: CLAIMS * AMOUNT_FEN,
        prize: { kind: 'fixed', amountFen: AMOUNT_FEN, count: CLAIMS },
        entries: ['keyword'],
      },
      'marketer-1',
    );
    await approveCampaign(campaign._id, 'manager-1');
    await startCampaign(app.deps.redis, campaign._id);
    sandbox.pay.setBalance(10_000_000);
    const balanceBefore = sandbox.pay.balance();

    // WeChat Pay fails one call in ten, and later is down for a few seconds.
    sandbox.faults.add({
      platform: 'wechatpay',
      path: '/v3/fund-app/*',
      rate: 0.1,
      httpStatus: 500,
      errcode: 'SYSTEM_ERROR',
    });

    const workerEnv = testSettings({
      ...WORKER_SETTINGS,
      PROCESS_ROLE: 'worker',
      LOG_LEVEL: 'info',
      WECHAT_API_BASE: sandbox.wechatBase,
      ...sandbox.pay.settings({ notifyUrl: `${url}/wechatpay/notify` }),
    });
    let worker = await startWorker(workerEnv);

    // 500 customers win; each win queues its payout job, which the worker runs.
    for (let i = 0; i < CLAIMS; i += 25) {
      const batch = Array.from({ length: Math.min(25, CLAIMS - i) }, (_, k) => {
        const n = String(i + k).padStart(4, '0');
        return claimEnvelope(deps, {
          campaignId: campaign._id,
          profileId: `crash-${n}`,
          account: 'default',
          openid: `oCrash${n}`,
          entry: 'keyword',
          requestKey: randomUUID(),
        });
      });
      for (const r of await Promise.all(batch)) expect(r.status).toBe('won');
    }

    // The worker is killed at random moments while it pays, and restarted; halfway, WeChat Pay goes down.
    for (let kills = 0; kills < 3; kills += 1) {
      await hold(randomBetween(300, 2500));
      if (kills === 1)
        sandbox.faults.add({
          platform: 'wechatpay',
          path: '/v3/fund-app/*',
          reset: true,
          until: sandbox.clock.now() + 3000,
        });
      await kill(worker);
      worker = await startWorker(workerEnv);
    }

    // Customers confirm what WeChat Pay asks them to; reconciliation (run here with a clock an hour ahead, so
    // every backoff has passed) drives what is left, alongside the last worker.
    // Each pass runs an hour later than the one before: a retry that failed again in a pass (one WeChat Pay
    // call in ten does) backs off up to ten minutes on that clock, and the next pass is past it.
    let hoursAhead = 0;
    const later: RedEnvelopeDeps = { ...deps, now: () => new Date(Date.now() + hoursAhead * 3_600_000) };
    const confirmed = new Set<string>();
    const drillStart = Date.now();
    let pass = 0;
    try {
      await eventually(
        async () => {
          const waiting = await RedEnvelopeClaim.find({
            campaignId: campaign._id,
            'payout.state': 'wait_user_confirm',
          }).lean();
          for (const c of waiting) {
            const pkg = c.payout?.packageInfo;
            if (!pkg || confirmed.has(pkg)) continue;
            sandbox.pay.confirmTransfer(pkg, c.openid);
            confirmed.add(pkg);
          }
          hoursAhead += 1;
          pass += 1;
          const driven = await reconcilePayouts(later, { staleAfterMs: 0 });
          const open = await RedEnvelopeClaim.countDocuments({
            campaignId: campaign._id,
            'payout.state': { $ne: 'success' },
          });
          // One line per pass: when CI is slow, its log shows where the time went.
          process.stderr.write(
            `[payout drill] pass ${pass} at ${Math.round((Date.now() - drillStart) / 1000)} s: drove ${driven}, ${open} not paid yet\n`,
          );
          return open === 0 || undefined;
        },
        // Alone this settles in about a minute; CI runs it beside the other suites, hence the margin.
        { timeoutMs: 300_000, intervalMs: 500, message: 'not every claim was paid' },
      );
    } catch (err) {
      const states = await RedEnvelopeClaim.aggregate<{ _id: string; n: number }>([
        { $match: { campaignId: campaign._id } },
        { $group: { _id: '$payout.state', n: { $sum: 1 } } },
      ]);
      // Each claim left open, beside what WeChat Pay's ledger says about its bill: the reason is in the pair.
      const open = await RedEnvelopeClaim.find({ campaignId: campaign._id, 'payout.state': { $ne: 'success' } })
        .limit(10)
        .lean();
      const detail = open.map((c) => ({
        payout: { ...c.payout, packageInfo: c.payout?.packageInfo ? 'present' : 'missing' },
        confirmedByTest: c.payout?.packageInfo ? confirmed.has(c.payout.packageInfo) : false,
        bill: sandbox.pay.bill(c.outBillNo ?? '')?.state ?? 'none',
      }));
      throw new Error(
        `${String(err)}; payout states: ${JSON.stringify(states)}; open claims: ${JSON.stringify(detail)}`,
      );
    } finally {
      await kill(worker);
    }

    // Ours: every claim paid, none failed. Theirs: one successful bill per claim, for its amount, and nothing else.
    const claims = await RedEnvelopeClaim.find({ campaignId: campaign._id }).lean();
    expect(claims).toHaveLength(CLAIMS);
    const bills = sandbox.pay.bills().filter((b) => b.openid.startsWith('oCrash'));
    expect(bills).toHaveLength(CLAIMS);
    for (const claim of claims) {
      expect(claim.payout?.state).toBe('success');
      const bill = sandbox.pay.bill(claim.payout!.outBillNo!);
      expect(bill).toMatchObject({ state: 'SUCCESS', openid: claim.openid, amountFen: claim.amountFen });
      expect(bill!.transferBillNo).toBe(claim.payout?.transferBillNo);
    }
    expect(balanceBefore - sandbox.pay.balance()).toBe(CLAIMS * AMOUNT_FEN);
    const report = await budgetReport(deps, campaign._id);
    expect(report).toMatchObject({
      ok: true,
      wonCount: CLAIMS,
      wonFen: CLAIMS * AMOUNT_FEN,
      paidFen: CLAIMS * AMOUNT_FEN,
    });
  }, 540_000);
});
