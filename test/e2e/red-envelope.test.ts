/**
 * A red envelope end to end, with the sandbox as WeChat and WeChat Pay: a follower types the campaign's
 * keyword and wins, the payout creates a signed transfer bill, the follower is told to confirm, confirms,
 * WeChat Pay's signed and encrypted callback marks the claim paid, the follower is told, "我的红包" tells the
 * truth, and the merchant ledger agrees with ours to the fen.
 */
import { describe, expect, it } from 'vitest';
import {
  approveCampaign,
  budgetReport,
  claimsOf,
  createCampaign,
  payClaim,
  startCampaign,
} from '../../src/campaigns/redenvelope/index.js';
import { RedEnvelopeClaim } from '../../src/campaigns/redenvelope/model.js';
import { useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const live = useLive({}, { pay: true });

describe('a red envelope from keyword to money', () => {
  it('is won in the chat, confirmed by the follower, paid once, and told truthfully', async () => {
    const { app, sandbox } = live();
    const deps = app.deps.redEnvelopes;
    const campaign = await createCampaign(
      {
        name: '周年红包',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 3_600_000),
        budgetFen: 1_000,
        prize: { kind: 'fixed', amountFen: 88, count: 10 },
        entries: ['keyword'],
        keyword: '抢红包',
      },
      'marketer-1',
    );
    await approveCampaign(campaign._id, 'manager-1');
    await startCampaign(app.deps.redis, campaign._id);
    sandbox.pay.setBalance(100_000); // the merchant funded the campaign
    const balanceBefore = sandbox.pay.balance();

    const follower = sandbox.wechat.follower('default', 'oRedEnvelope0001');
    await follower.subscribe();
    const profileId = await eventually(() => app.deps.profileOf('default', 'oRedEnvelope0001'));
    const won = await follower.send('抢红包');
    expect(won.inbox?.text).toContain('恭喜您获得红包 ¥0.88');
    expect((await follower.send('抢红包')).inbox?.text).toContain('已参与过');

    // The payout job's work (the worker runs it from Agenda in production).
    const claim = await RedEnvelopeClaim.findOne({ campaignId: campaign._id, profileId }).lean();
    // The reconciliation job drives it until WeChat Pay asks the follower to confirm.
    await eventually(
      async () => {
        await payClaim(deps, claim!._id.toString());
        const payout = (await RedEnvelopeClaim.findById(claim!._id).lean())?.payout;
        if (payout?.state === 'failed') throw new Error(`payout failed: ${payout.lastError}`);
        return payout?.state === 'wait_user_confirm' || undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    await eventually(() => follower.inbox().some((e) => e.text.includes('待确认收款')));
    // Driving it again changes nothing: the bill number is the claim's.
    await payClaim(deps, claim!._id.toString());

    const [status] = await claimsOf(profileId);
    sandbox.pay.confirmTransfer(status!.packageInfo!, 'oRedEnvelope0001');
    await eventually(async () => (await claimsOf(profileId))[0]?.state === 'success' || undefined, {
      timeoutMs: 10_000,
    });
    await eventually(() => follower.inbox().some((e) => e.text.includes('已到账')));
    expect((await follower.send('我的红包')).inbox?.text).toContain('已到账');

    const report = await budgetReport(deps, campaign._id);
    expect(report).toMatchObject({ ok: true, wonFen: 88, paidFen: 88, inFlightFen: 0, failedFen: 0 });
    expect(balanceBefore - sandbox.pay.balance()).toBe(88);
    expect(sandbox.pay.notifications().length).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('explains a payout that fails for lack of merchant funds, and opens a case for staff', async () => {
    const { app, sandbox } = live();
    const deps = app.deps.redEnvelopes;
    const campaign = await createCampaign(
      {
        name: '余额不足',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 3_600_000),
        budgetFen: 1_000,
        prize: { kind: 'fixed', amountFen: 66, count: 10 },
        entries: ['keyword'],
        keyword: '没钱了',
      },
      'marketer-1',
    );
    await approveCampaign(campaign._id, 'manager-1');
    await startCampaign(app.deps.redis, campaign._id);
    sandbox.pay.setBalance(10); // not enough for 66 fen

    const follower = sandbox.wechat.follower('default', 'oRedEnvelope0002');
    await follower.subscribe();
    const profileId = await eventually(() => app.deps.profileOf('default', 'oRedEnvelope0002'));
    expect((await follower.send('没钱了')).inbox?.text).toContain('¥0.66');
    const claim = await RedEnvelopeClaim.findOne({ campaignId: campaign._id, profileId }).lean();
    await eventually(
      async () => {
        await payClaim(deps, claim!._id.toString());
        return (await RedEnvelopeClaim.findById(claim!._id).lean())?.payout?.state === 'failed' || undefined;
      },
      { timeoutMs: 15_000, intervalMs: 300 },
    );
    const payout = (await RedEnvelopeClaim.findById(claim!._id).lean())?.payout;
    expect(payout).toMatchObject({ state: 'failed', caseState: 'open' });
    await eventually(() => follower.inbox().some((e) => e.text.includes('发放失败')));
    expect((await follower.send('我的红包')).inbox?.text).toContain('发放失败');
    expect((await budgetReport(deps, campaign._id)).failedFen).toBe(66);
  }, 60_000);
});
