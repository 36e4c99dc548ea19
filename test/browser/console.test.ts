/**
 * The two web faces in a real browser, against the real service, storage and the sandbox: a service agent
 * redeems a code at the counter (and cannot see or reach what their role does not allow), a session that
 * ends elsewhere sends the console back to sign-in, a finance user retries a failed payout, and a customer
 * signs in through the sandbox's OAuth and sees on "my red envelopes" exactly the state the backend has.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  approveCampaign,
  claimsOf,
  createCampaign,
  payClaim,
  startCampaign,
} from '../../src/campaigns/redenvelope/index.js';
import { RedEnvelopeClaim } from '../../src/campaigns/redenvelope/model.js';
import { claimCode, createProgram } from '../../src/reservations/index.js';
import { givenFollower, useLive, type Live } from '../support/live.js';
import { eventually } from '../support/wait.js';
import { bearer, givenStaff } from '../staff/support.js';
import { hasChromium, signIn, useBrowser, WECHAT_UA } from './support.js';

const HOUR = 3_600_000;

async function accessTokenOf(page: Page): Promise<string> {
  // A string expression: the test code is compiled without the DOM library.
  return page.evaluate<string>("JSON.parse(sessionStorage.getItem('scrm.console.session') || '{}').accessToken");
}

/** A running campaign a follower has won in the chat; the payout driven until it reaches `until`. */
async function wonEnvelope(l: Live, openid: string, keyword: string, until: 'failed' | 'wait_user_confirm') {
  const { app, sandbox } = l;
  const campaign = await createCampaign(
    {
      name: `浏览器红包${keyword}`,
      accounts: ['default'],
      startAt: new Date(Date.now() - 60_000),
      endAt: new Date(Date.now() + HOUR),
      budgetFen: 1_000,
      prize: { kind: 'fixed', amountFen: 66, count: 10 },
      entries: ['keyword', 'h5'],
      keyword,
    },
    'marketer-1',
  );
  await approveCampaign(campaign._id, 'manager-1');
  await startCampaign(app.deps.redis, campaign._id);
  sandbox.pay.setBalance(until === 'failed' ? 10 : 100_000);
  const { follower, profileId } = await givenFollower(l, openid);
  expect((await follower.send(keyword)).inbox?.text).toContain('¥0.66');
  const claim = await RedEnvelopeClaim.findOne({ campaignId: campaign._id, profileId }).lean();
  const claimId = claim!._id.toString();
  await eventually(
    async () => {
      await payClaim(app.deps.redEnvelopes, claimId);
      return (await RedEnvelopeClaim.findById(claimId).lean())?.payout?.state === until || undefined;
    },
    { timeoutMs: 15_000, intervalMs: 300 },
  );
  return { campaignId: campaign._id, profileId, claimId };
}

describe.skipIf(!hasChromium)('the staff console and the H5 pages in a browser', () => {
  // Inside the suite: no service or browser is started when it is skipped.
  const live = useLive({}, { pay: true });
  const browser = useBrowser();

  it('lets a service agent redeem a code once, hides and refuses other screens, and handles an ended session', async () => {
    const { app, url } = live();
    const program = await createProgram(
      app.deps.reservations,
      {
        name: '柜台核销测试',
        quota: 5,
        issueFrom: new Date(Date.now() - HOUR),
        issueUntil: new Date(Date.now() + HOUR),
        redeemFrom: new Date(Date.now() - HOUR),
        redeemUntil: new Date(Date.now() + 48 * HOUR),
        issueMode: 'claim',
      },
      'staff-1',
    );
    const { profileId } = await givenFollower(live(), 'oBrowserCode0001');
    const issued = await claimCode(app.deps.reservations, { programId: program._id, profileId, via: 'h5' });
    const agent = await givenStaff(app, ['service']);

    const context = await browser().newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    await signIn(page, url, agent.username, agent.password);
    const menu = page.getByRole('navigation', { name: '主菜单' });
    expect(await menu.getByRole('link', { name: '核销验码' }).count()).toBe(1);
    expect(await menu.getByRole('link', { name: '员工与角色' }).count()).toBe(0);
    expect(await menu.getByRole('link', { name: '发放异常处理' }).count()).toBe(0);
    // Typing the address is no way round the menu: the screen says no, and so does the API behind it.
    await page.goto(`${url}/console/#/staff`);
    await page.getByRole('heading', { name: '无权访问' }).waitFor();
    const token = await accessTokenOf(page);
    expect((await fetch(`${url}/admin/api/staff`, { headers: bearer(token) })).status).toBe(403);

    await page.goto(`${url}/console/#/redeem`);
    await page.getByLabel('核销码', { exact: true }).fill(issued.code);
    await page.getByLabel('订单号（可选）').fill('POS-7001');
    await page.getByRole('button', { name: '核销', exact: true }).click();
    // The program binds codes to their owner: the counter must say whose code it is.
    await page.getByRole('alert').filter({ hasText: '请填写客户 ID' }).waitFor();
    expect(await page.getByLabel('核销码', { exact: true }).inputValue()).toBe(issued.code);
    await page.getByLabel(/^客户 ID（可选/).fill(profileId);
    await page.getByRole('button', { name: '核销', exact: true }).click();
    await page.getByRole('status').filter({ hasText: '核销成功' }).waitFor();
    const codes = (await (
      await fetch(`${url}/admin/api/reservations/customers/${profileId}/codes`, { headers: bearer(token) })
    ).json()) as { items: { status: string; outcome?: { orderRef?: string } }[] };
    expect(codes.items[0]).toMatchObject({ status: 'redeemed', outcome: { orderRef: 'POS-7001' } });
    // The same code again: refused, in words, and what was typed stays in the field.
    await page.getByLabel('核销码', { exact: true }).fill(issued.code);
    await page.getByLabel(/^客户 ID（可选/).fill(profileId);
    await page.getByRole('button', { name: '核销', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: '该核销码已经使用过。' }).waitFor();
    expect(await page.getByLabel('核销码', { exact: true }).inputValue()).toBe(issued.code);

    // The session ends elsewhere (signed out on another device): the next screen asks to sign in again.
    expect((await fetch(`${url}/admin/api/auth/logout`, { method: 'POST', headers: bearer(token) })).status).toBe(204);
    await page.goto(`${url}/console/#/customers`);
    await page.getByText('登录已过期，请重新登录。').waitFor();
    await context.close();
  }, 120_000);

  it('lets a finance user see a failed payout and retry it once the merchant is funded', async () => {
    const l = live();
    const { app, sandbox, url } = l;
    const failed = await wonEnvelope(l, 'oBrowserPay00001', '浏览器失败', 'failed');
    const finance = await givenStaff(app, ['finance']);

    const context = await browser().newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    await signIn(page, url, finance.username, finance.password);
    await page.getByRole('navigation', { name: '主菜单' }).getByRole('link', { name: '发放异常处理' }).click();
    const row = page.getByRole('row').filter({ hasText: failed.profileId });
    await row.filter({ hasText: '¥0.66' }).waitFor();
    sandbox.pay.setBalance(100_000); // finance topped up the merchant account
    await row.getByRole('button', { name: '重新发放' }).click();
    await row.getByRole('status').filter({ hasText: '已重新提交' }).waitFor();
    const payout = (await RedEnvelopeClaim.findById(failed.claimId).lean())?.payout;
    expect(payout?.state).not.toBe('failed');
    expect(payout?.caseState).toBe('resolved');
    await page.getByRole('button', { name: '刷新' }).click();
    await page.getByText('没有待处理的发放失败。').waitFor();
    await context.close();
  }, 120_000);

  it('shows a customer signed in by the sandbox OAuth the same red-envelope state the backend has', async () => {
    const l = live();
    const { sandbox, url } = l;
    const openid = 'oBrowserH5000001';
    const won = await wonEnvelope(l, openid, '浏览器确认', 'wait_user_confirm');

    // Outside WeChat: a clear page, no sign-in attempt.
    const outside = await browser().newContext({ locale: 'zh-CN' });
    const plain = await outside.newPage();
    const refused = await plain.goto(`${url}/h5/red-envelopes`);
    expect(refused?.status()).toBe(403);
    await plain.getByText('此页面需要在微信中打开').waitFor();
    await outside.close();

    // Inside WeChat: the page sends the customer through OAuth (the sandbox plays WeChat's consent page).
    const first = await fetch(`${url}/h5/red-envelopes`, { redirect: 'manual', headers: { 'user-agent': WECHAT_UA } });
    expect(first.status).toBe(302);
    const start = await fetch(new URL(first.headers.get('location')!, url), { redirect: 'manual' });
    const consent = new URL(start.headers.get('location')!);
    consent.searchParams.set('openid', openid); // who is browsing, for the sandbox
    consent.searchParams.set('redirect_uri', `${url}/h5/oauth/callback`); // PUBLIC_BASE_URL is not this port

    const context = await browser().newContext({ userAgent: WECHAT_UA, viewport: { width: 390, height: 844 } });
    // WeChat's in-app bridge: the confirm button asks WeChat, and the sandbox's WeChat Pay confirms.
    await context.exposeFunction('sandboxConfirm', (pkg: string) => void sandbox.pay.confirmTransfer(pkg, openid));
    await context.addInitScript(
      `window.WeixinJSBridge = { invoke: function (name, arg, cb) {
         window.sandboxConfirm(arg.package).then(function () { cb({ err_msg: 'requestMerchantTransfer:ok' }); });
       } };`,
    );
    // The JS-SDK script comes from WeChat's CDN; tests stay off the internet (the page works without it).
    await context.route('https://res.wx.qq.com/**', (route) => route.abort());
    const page = await context.newPage();
    await page.goto(consent.toString(), { waitUntil: 'domcontentloaded' });
    // (WeChat keeps the #wechat_redirect fragment of the consent URL; the sandbox does too.)
    await page.waitForURL((u) => u.pathname === '/h5/red-envelopes', { waitUntil: 'domcontentloaded' });
    await page.getByText('待您确认收款').waitFor();
    const cards = page.locator('[data-claim]');
    const shown: { claimId: string | null; state: string | null }[] = [];
    for (let n = 0; n < (await cards.count()); n++)
      shown.push({
        claimId: await cards.nth(n).getAttribute('data-claim'),
        state: await cards.nth(n).getAttribute('data-state'),
      });
    expect(shown).toEqual((await claimsOf(won.profileId)).map((c) => ({ claimId: c.claimId, state: c.state })));

    await page.getByRole('button', { name: '确认收款' }).click();
    await eventually(async () => (await claimsOf(won.profileId))[0]?.state === 'success' || undefined, {
      timeoutMs: 15_000,
    });
    await eventually(
      async () => {
        await page.goto(`${url}/h5/red-envelopes`, { waitUntil: 'domcontentloaded' });
        return (await page.locator(`[data-claim="${won.claimId}"][data-state="success"]`).count()) === 1 || undefined;
      },
      { timeoutMs: 10_000, intervalMs: 500 },
    );
    await page.getByText('已到账').first().waitFor();

    // The campaign's landing page answers in plain words: eligible, but this customer has had their draw.
    await page.goto(`${url}/h5/campaigns/${won.campaignId}`, { waitUntil: 'domcontentloaded' });
    await page.getByText('您符合参与条件').waitFor();
    await page.getByRole('button', { name: '抽红包' }).click();
    await page.getByRole('status').filter({ hasText: '已参与过' }).waitFor();
    await context.close();
  }, 120_000);
});
