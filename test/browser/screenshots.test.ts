/**
 * Screenshots of the main screens at desktop and phone sizes into docs/screenshots/, against the live
 * service with a little data. Runs only from `npm run screenshots` (SCREENSHOTS=1), never in
 * the normal suite.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, it } from 'vitest';
import { approveCampaign, createCampaign, payClaim, startCampaign } from '../../src/campaigns/redenvelope/index.js';
import { RedEnvelopeClaim } from '../../src/campaigns/redenvelope/model.js';
import { claimCode, createProgram } from '../../src/reservations/index.js';
import { createAudience } from '../../src/audiences/service.js';
import {
  approveCampaign as approveReferral,
  createCampaign as createReferral,
  startCampaign as startReferral,
} from '../../src/campaigns/referral/index.js';
import { runPlanJob } from '../../src/push/jobs.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';
import { bearer, givenStaff } from '../staff/support.js';
import { hasChromium, signIn, useBrowser, WECHAT_UA } from './support.js';

const OUT = join(process.cwd(), 'docs', 'screenshots');
const HOUR = 3_600_000;
const SIZES = { desktop: { width: 1366, height: 860 }, phone: { width: 390, height: 844 } } as const;

describe.runIf(hasChromium && process.env.SCREENSHOTS === '1')('screenshots', () => {
  // Inside the suite: no service or browser is started when it is skipped.
  const live = useLive(
    { APPROVAL_PUSH_AUDIENCE_THRESHOLD: '1000', PUSH_QUIET_START_HOUR: '0', PUSH_QUIET_END_HOUR: '0' },
    { pay: true },
  );
  const browser = useBrowser();

  it('captures the main screens', async () => {
    mkdirSync(OUT, { recursive: true });
    const l = live();
    const { app, sandbox, url } = l;
    const program = await createProgram(
      app.deps.reservations,
      {
        name: '新品预约 · 高端理财',
        description: 'VIP 客户专享预约',
        quota: 200,
        issueFrom: new Date(Date.now() - HOUR),
        issueUntil: new Date(Date.now() + 24 * HOUR),
        redeemFrom: new Date(Date.now() - HOUR),
        redeemUntil: new Date(Date.now() + 72 * HOUR),
        issueMode: 'claim',
      },
      'staff-1',
    );
    const campaign = await createCampaign(
      {
        name: '双十二关注有礼',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 24 * HOUR),
        budgetFen: 50_000,
        prize: { kind: 'fixed', amountFen: 188, count: 200 },
        entries: ['keyword', 'h5'],
        keyword: '红包',
      },
      'marketer-1',
    );
    await approveCampaign(campaign._id, 'manager-1');
    await startCampaign(app.deps.redis, campaign._id);
    sandbox.pay.setBalance(100_000);
    const customers: string[] = [];
    for (const [n, openid] of ['oShotCustomer001', 'oShotCustomer002', 'oShotCustomer003'].entries()) {
      const { follower, profileId } = await givenFollower(l, openid, n === 0 ? 'vip' : 'standard');
      customers.push(profileId);
      await claimCode(app.deps.reservations, { programId: program._id, profileId, via: 'h5' });
      await follower.send('红包');
      const claim = await RedEnvelopeClaim.findOne({ campaignId: campaign._id, profileId }).lean();
      if (n === 2) sandbox.pay.setBalance(0);
      await eventually(
        async () => {
          await payClaim(app.deps.redEnvelopes, claim!._id.toString());
          const state = (await RedEnvelopeClaim.findById(claim!._id).lean())?.payout?.state;
          return state === 'wait_user_confirm' || state === 'failed' || undefined;
        },
        { timeoutMs: 15_000, intervalMs: 300 },
      );
    }
    const admin = await givenStaff(app, ['admin']);
    // A tiered push that has run, so its report has a funnel to draw.
    registerMessageTemplates(l);
    const audience = await createAudience({}, { name: '春季活动客户', kind: 'list', profileIds: customers }, 'staff-1');
    const headers = { ...bearer(admin.accessToken), 'content-type': 'application/json' };
    const plan = (await (
      await fetch(`${url}/admin/api/pushes/plans`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          name: '春季 VIP 专享',
          audienceId: audience._id.toString(),
          contents: [
            { tiers: ['vip'], kind: 'campaign_notice', vars: { title: 'VIP专享预约', body: '高端产品开放' } },
            { kind: 'campaign_notice', vars: { title: '新品上线', body: '欢迎了解' } },
          ],
        }),
      })
    ).json()) as { id: string };
    await fetch(`${url}/admin/api/pushes/plans/${plan.id}/start`, { method: 'POST', headers });
    await runPlanJob(app.deps.push, { planId: plan.id, runId: 'once' });
    const referral = await createReferral(
      {
        name: '邀请好友赢积分',
        account: 'default',
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 30 * 24 * HOUR),
        qualify: { action: 'phone_verified', withinDays: 7 },
        referrerReward: { kind: 'points', points: 100 },
        milestones: [{ friends: 3, reward: { kind: 'points', points: 1000 } }],
        capTotal: 20,
        capPerDay: 10,
        keyword: '邀请好友',
      },
      'marketer-1',
    );
    await approveReferral(referral._id, 'manager-1');
    await startReferral(referral._id);

    const shoot = async (page: Page, name: string) => {
      await page.waitForLoadState('networkidle').catch(() => undefined);
      // A report is read top to bottom: its chart sits below the fold, so it is taken whole.
      await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: name.startsWith('console-push-report') });
    };
    for (const [size, viewport] of Object.entries(SIZES)) {
      const context = await browser().newContext({ viewport, locale: 'zh-CN' });
      const page = await context.newPage();
      await page.goto(`${url}/console/`);
      await shoot(page, `console-login-${size}`);
      await signIn(page, url, admin.username, admin.password);
      const screens: [string, string, string][] = [
        ['customers', '#/customers', '客户查询'],
        ['customer', `#/customers/${customers[0]}`, '身份标识'],
        ['red-envelope-dashboard', `#/red-envelopes/${campaign._id}`, '风控拦截'],
        ['payout-cases', '#/payout-cases', '发放异常处理'],
        ['reservation-program', `#/reservations/${program._id}`, '定向发放'],
        ['redeem', '#/redeem', '核销验码'],
        ['audit', '#/audit', '审计日志'],
        ['audiences', '#/audiences', '新建人群'],
        ['push-report', `#/pushes/${plan.id}`, '效果报告'],
        ['conversation', '#/conversation', '添加一级菜单'],
        ['referral', `#/referrals/${referral._id}`, '推荐排行榜'],
      ];
      for (const [name, hash, marker] of screens) {
        await page.goto(`${url}/console/${hash}`);
        await page.getByText(marker).first().waitFor();
        await shoot(page, `console-${name}-${size}`);
      }
      await context.close();
    }
    // The customer's page, at phone size only (it lives inside WeChat).
    const phone = await browser().newContext({ viewport: SIZES.phone, userAgent: WECHAT_UA, locale: 'zh-CN' });
    await phone.route('https://res.wx.qq.com/**', (route) => route.abort());
    const start = await fetch(`${url}/h5/oauth/start?next=/h5/red-envelopes`, { redirect: 'manual' });
    const consent = new URL(start.headers.get('location')!);
    consent.searchParams.set('openid', 'oShotCustomer001');
    consent.searchParams.set('redirect_uri', `${url}/h5/oauth/callback`);
    const page = await phone.newPage();
    await page.goto(consent.toString(), { waitUntil: 'domcontentloaded' });
    await page.waitForURL((u) => u.pathname === '/h5/red-envelopes', { waitUntil: 'domcontentloaded' });
    await shoot(page, 'h5-my-red-envelopes-phone');
    await page.goto(`${url}/h5/campaigns/${campaign._id}`, { waitUntil: 'domcontentloaded' });
    await shoot(page, 'h5-campaign-landing-phone');
    await page.goto(`${url}/h5/referrals`, { waitUntil: 'domcontentloaded' });
    await page.locator('img.qr').first().waitFor();
    await shoot(page, 'h5-my-referrals-phone');
    await phone.close();
  }, 300_000);
});
