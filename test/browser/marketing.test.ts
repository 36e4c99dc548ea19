/**
 * The marketing journey in a real browser, against the real service, storage and the WeChat sandbox: a
 * marketing user builds an audience in the condition builder (the estimate follows each change), composes a
 * push with one content for VIPs and another for everyone else, previews what a VIP would receive, starts
 * it and is told a second person must approve; a colleague approves it on the Approvals screen; the push
 * sends (the worker's job, run here in-process) and the funnel chart's bars rise from nothing to the sends
 * and then to the deliveries WeChat reports.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { runPlanJob } from '../../src/push/jobs.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';
import { givenStaff } from '../staff/support.js';
import { hasChromium, signIn, useBrowser } from './support.js';

const BAR = (step: string, variant = 'A') =>
  `document.querySelector('figure.chart g[data-step="${step}"][data-variant="${variant}"] text')`;

/** The number written on a funnel bar (step × variant), or null while the chart is not drawn. */
async function barValue(page: Page, step: string, variant = 'A'): Promise<string | null> {
  const bar = page.locator(`figure.chart g[data-step="${step}"][data-variant="${variant}"] text`).first();
  return (await bar.count()) ? bar.textContent() : null;
}

describe.skipIf(!hasChromium)('the marketing journey in a browser', () => {
  const live = useLive({
    APPROVAL_PUSH_AUDIENCE_THRESHOLD: '1',
    PUSH_QUIET_START_HOUR: '0',
    PUSH_QUIET_END_HOUR: '0',
    PUSH_CAP_PER_DAY: '20',
    PUSH_CAP_PER_WEEK: '50',
  });
  const browser = useBrowser();

  it('builds an audience, composes a tiered push, gets it approved by a second person and sees the funnel move', async () => {
    const l = live();
    const { app, sandbox, url } = l;
    registerMessageTemplates(l);
    const vip1 = await givenFollower(l, 'oMarketVip000001', 'vip');
    await givenFollower(l, 'oMarketVip000002', 'vip');
    await givenFollower(l, 'oMarketStd000001');
    const marketer = await givenStaff(app, ['marketing']);
    const approver = await givenStaff(app, ['marketing']);

    const context = await browser().newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    await signIn(page, url, marketer.username, marketer.password);
    const menu = page.getByRole('navigation', { name: '主菜单' });

    // The audience: VIPs first (2), then "or standard" (3); the estimate follows, with masked samples.
    await menu.getByRole('link', { name: '人群' }).click();
    await page.getByRole('button', { name: '新建人群' }).click();
    const builder = page.getByRole('form', { name: '人群构建器' });
    await builder.getByLabel('人群名称').fill('VIP 与普通客户');
    await builder.getByLabel('取值').fill('vip');
    await builder.getByText('预计人数：2').waitFor();
    const samples = builder.getByRole('table').filter({ hasText: '样例客户' });
    expect(await samples.getByRole('row').count()).toBe(3); // header + 2 members
    await builder.getByRole('button', { name: '添加条件' }).click();
    await builder.getByLabel('取值').nth(1).fill('standard');
    // Both at once cannot be: the estimate says so before anything is saved.
    await builder.getByText('预计人数：0').waitFor();
    await builder.getByLabel('条件之间').selectOption('any');
    await builder.getByText('预计人数：3').waitFor();
    await builder.getByRole('button', { name: '保存人群' }).click();
    await page.getByRole('button', { name: 'VIP 与普通客户' }).waitFor();

    // The push: VIPs get the VIP content, everyone else the other one.
    await menu.getByRole('link', { name: '分层推送' }).click();
    await page.getByRole('button', { name: '新建推送' }).click();
    const compose = page.getByRole('form', { name: '新建推送' });
    await compose.getByLabel('推送名称').fill('春季 VIP 专享');
    await compose.getByLabel('目标人群').selectOption({ label: 'VIP 与普通客户' });
    await compose.getByLabel('适用等级（逗号分隔，空为其余等级）').fill('vip');
    await compose.getByLabel('变量（每行 名称=取值）').fill('title=VIP专享预约\nbody=高端产品开放');
    await compose.getByRole('button', { name: '添加内容' }).click();
    await compose.getByLabel('变量（每行 名称=取值）').nth(1).fill('title=新品上线\nbody=欢迎了解');
    await compose.getByRole('button', { name: '保存为草稿' }).click();
    await page.getByRole('heading', { name: '春季 VIP 专享' }).waitFor();
    const planId = /#\/pushes\/([0-9a-f]{24})/.exec(page.url())![1]!;
    // Nothing sent yet: no chart.
    await page.getByText('尚未发送').waitFor();

    // What a VIP would receive, rendered.
    await page.getByLabel('客户 ID').fill(vip1.profileId);
    await page.getByRole('button', { name: '预览', exact: true }).click();
    const preview = page.getByRole('region', { name: '预览结果' });
    await preview.getByText('VIP专享预约').waitFor();
    expect(await preview.textContent()).toContain('等级 vip');

    // Three customers is above the threshold (1): a second person must approve.
    await page.getByRole('button', { name: '开始发送' }).click();
    await page.getByRole('status').filter({ hasText: '需另一位同事' }).waitFor();

    const other = await browser().newContext({ locale: 'zh-CN' });
    const reviewer = await other.newPage();
    await signIn(reviewer, url, approver.username, approver.password);
    await reviewer.getByRole('navigation', { name: '主菜单' }).getByRole('link', { name: '审批' }).click();
    const request = reviewer.getByRole('row').filter({ hasText: planId });
    await request.getByRole('button', { name: '通过' }).click();
    await request.waitFor({ state: 'detached' });
    await other.close();

    await page.getByRole('button', { name: '开始发送' }).click();
    await page.locator('dl.stats').filter({ hasText: '发送中' }).waitFor();
    expect(await barValue(page, 'sent')).toBeNull();

    // The worker's job runs the plan; the page, polling, shows the bars rise.
    await runPlanJob(app.deps.push, { planId, runId: 'once' });
    await page.locator('dl.stats').filter({ hasText: '已完成' }).waitFor({ timeout: 20_000 });
    await page.waitForFunction(`${BAR('sent')}?.textContent === '3'`, undefined, { timeout: 20_000 });
    expect(await barValue(page, 'targeted')).toBe('3');
    // WeChat's delivery receipts arrive as callbacks: reopened, the report shows the "delivered" bar follow.
    const deadline = Date.now() + 30_000;
    while ((await barValue(page, 'delivered')) !== '3') {
      if (Date.now() > deadline) throw new Error(`delivered bar stuck at ${await barValue(page, 'delivered')}`);
      await page.waitForTimeout(1000);
      await page.reload();
      await page.locator('figure.chart').first().waitFor();
    }
    const inbox = (openid: string) => sandbox.wechat.inbox('default', openid).filter((e) => e.channel === 'template');
    expect(inbox('oMarketVip000001').map((e) => e.text)).toEqual([expect.stringContaining('VIP专享')]);
    expect(inbox('oMarketStd000001').map((e) => e.text)).toEqual([expect.stringContaining('新品上线')]);
    await context.close();
  }, 180_000);
});
