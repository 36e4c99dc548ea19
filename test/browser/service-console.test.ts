/**
 * The service side of the console and the referrer's H5 page in a real browser, against the real service,
 * storage and the WeChat and WeCom sandboxes: a marketing user edits the menu (the editor refuses a fourth
 * top-level button, WeChat's limit, and a name over 16 bytes is shown as too long before saving), creates a
 * keyword rule and tests a message against it, and a follower then gets that answer in the chat; a channel
 * code shows its QR image and, once a customer adds the adviser through it, its result row; a referrer opens
 * "invite friends" through the sandbox's OAuth and sees their QR code and progress.
 */
import { describe, expect, it } from 'vitest';
import { approveCampaign, createCampaign, startCampaign } from '../../src/campaigns/referral/index.js';
import { givenFollower, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';
import { givenStaff } from '../staff/support.js';
import { hasChromium, signIn, useBrowser, WECHAT_UA } from './support.js';

describe.skipIf(!hasChromium)('the service console and the referral page in a browser', () => {
  const live = useLive({}, { wecom: ['zhangsan', 'lisi'] });
  const browser = useBrowser();

  it('edits the menu within WeChat limits, tests and uses a keyword rule, and shows a channel code and its results', async () => {
    const l = live();
    const { app, sandbox, url } = l;
    const marketer = await givenStaff(app, ['marketing']);
    const context = await browser().newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    await signIn(page, url, marketer.username, marketer.password);
    const menu = page.getByRole('navigation', { name: '主菜单' });

    // The menu editor: three top-level buttons at most, names within 16 bytes.
    await menu.getByRole('link', { name: '对话服务' }).click();
    const editor = page.getByRole('region', { name: '菜单编辑器' });
    await editor.getByText(/一级菜单 \d\/3/).waitFor();
    for (let n = 0; n < 3; n++) {
      const count = await editor
        .locator('fieldset > legend')
        .filter({ hasText: /^一级菜单 \d$/ })
        .count();
      if (count >= 3) break;
      await editor.getByRole('button', { name: '添加一级菜单' }).click();
    }
    await editor.getByText('一级菜单 3/3').waitFor();
    await editor.getByRole('button', { name: '添加一级菜单' }).click();
    await editor.getByRole('alert').filter({ hasText: '一级菜单最多 3 个' }).waitFor();
    expect(
      await editor
        .locator('fieldset > legend')
        .filter({ hasText: /^一级菜单 \d$/ })
        .count(),
    ).toBe(3);
    await editor.getByLabel('菜单3名称').fill('这是一个过长的菜单名称');
    await editor.getByText('名称最多 16 字节', { exact: true }).waitFor();
    // Saving anyway: the API refuses it and says why; what was typed stays.
    await editor.getByRole('button', { name: '保存菜单' }).click();
    await editor.getByRole('alert').filter({ hasText: /16/ }).waitFor();
    expect(await editor.getByLabel('菜单3名称').inputValue()).toBe('这是一个过长的菜单名称');
    await editor.getByLabel('菜单3名称').fill('理财');
    await editor.getByRole('button', { name: '保存菜单' }).click();
    await editor.getByText('菜单已保存').waitFor();
    const saved = await app.http
      .get('/admin/api/conversation/menus/default')
      .set({ Authorization: `Bearer ${marketer.accessToken}` });
    expect((saved.body.default as { name: string }[]).map((b) => b.name)).toContain('理财');

    // A keyword rule, tested before a customer ever sends it, then answered in the chat.
    await page.getByRole('tab', { name: '关键词规则' }).click();
    const rule = page.getByRole('form', { name: '新建关键词规则' });
    await rule.getByLabel('规则名称').fill('营业时间');
    await rule.getByLabel('匹配方式').selectOption('contains');
    await rule.getByLabel('关键词', { exact: true }).fill('营业时间');
    await rule.getByLabel('优先级').fill('50');
    await rule.getByLabel('回复内容').fill('我们的营业时间是工作日 9:00-17:00。');
    await rule.getByRole('button', { name: '保存规则' }).click();
    await page.getByRole('row').filter({ hasText: 'contains: 营业时间' }).waitFor();
    const tester = page.getByRole('form', { name: '测试消息' });
    await tester.getByLabel('客户发送的内容').fill('请问营业时间是几点');
    await tester.getByRole('button', { name: '测试' }).click();
    await tester.getByRole('status').filter({ hasText: '匹配规则：营业时间' }).waitFor();
    await tester.getByLabel('客户发送的内容').fill('完全无关的一句话');
    await tester.getByRole('button', { name: '测试' }).click();
    await tester.getByRole('status').filter({ hasText: '没有规则匹配' }).waitFor();
    const { follower } = await givenFollower(l, 'oServiceRule0001');
    expect((await follower.send('你们营业时间呢')).inbox?.text).toBe('我们的营业时间是工作日 9:00-17:00。');

    // A channel code: its QR image, then a customer adds the adviser through it and the result row counts them.
    await menu.getByRole('link', { name: '渠道活码' }).click();
    const channelForm = page.getByRole('form', { name: '新建渠道活码' });
    await channelForm.getByLabel('渠道名称').fill('浦东网点');
    await channelForm.getByLabel('渠道标识（state）').fill('branch-pd');
    await channelForm.getByLabel(/^接待员工/).fill('zhangsan, lisi');
    await channelForm.getByRole('button', { name: '生成活码' }).click();
    const codeRow = page.getByRole('row').filter({ hasText: 'branch-pd' }).first();
    await codeRow.getByRole('img', { name: '浦东网点的二维码' }).waitFor();
    const listed = await app.http
      .get('/admin/api/wecom/channels')
      .set({ Authorization: `Bearer ${marketer.accessToken}` });
    const configId = (listed.body.channels as { state: string; configId: string }[]).find(
      (c) => c.state === 'branch-pd',
    )!.configId;
    await sandbox.wecom.addCustomer({ corpid: l.corpid!, configId, unionid: 'oUnionService0001', name: '李雷' });
    await eventually(
      async () => {
        await page.reload();
        const row = page
          .getByRole('row')
          .filter({ hasText: '浦东网点' })
          .filter({ has: page.locator('strong') });
        // A short wait per page load: the row appears once the worker has recorded the add, and only a reload
        // shows it (a wait as long as the deadline made one slow recording fail the test under load).
        await row.first().waitFor({ timeout: 3000 });
        const cells = await row.first().getByRole('cell').allTextContents();
        return cells[1] === '1' || undefined; // adds
      },
      { timeoutMs: 60_000, intervalMs: 1000, message: 'the channel result row did not count the add' },
    );
    await context.close();
  }, 180_000);

  it('shows a referrer their personal QR code and progress on the H5 page, through WeChat OAuth', async () => {
    const l = live();
    const { url } = l;
    const campaign = await createCampaign(
      {
        name: '邀请好友赢积分',
        account: 'default',
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 30 * 86_400_000),
        qualify: { action: 'phone_verified', withinDays: 7 },
        referrerReward: { kind: 'points', points: 100 },
        milestones: [{ friends: 3, reward: { kind: 'points', points: 1000 } }],
        capTotal: 20,
        capPerDay: 10,
        keyword: '邀请好友',
      },
      'marketer',
    );
    await approveCampaign(campaign._id, 'manager');
    await startCampaign(campaign._id);
    const openid = 'oReferrerH50001';
    await givenFollower(l, openid);

    const start = await fetch(`${url}/h5/oauth/start?next=/h5/referrals`, { redirect: 'manual' });
    const consent = new URL(start.headers.get('location')!);
    consent.searchParams.set('openid', openid);
    consent.searchParams.set('redirect_uri', `${url}/h5/oauth/callback`);
    const context = await browser().newContext({ userAgent: WECHAT_UA, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(consent.toString(), { waitUntil: 'domcontentloaded' });
    await page.waitForURL((u) => u.pathname === '/h5/referrals', { waitUntil: 'domcontentloaded' });
    const card = page.locator(`[data-campaign="${campaign._id}"]`);
    await card.getByRole('img', { name: '我的专属邀请二维码' }).waitFor();
    expect(await card.locator('[data-progress]').textContent()).toContain('已成功邀请 0 位');
    expect(await card.textContent()).toContain('再成功邀请 3 位好友');
    // The QR is the same code the chat hands out: one code per referrer and campaign.
    const src = await card.getByRole('img', { name: '我的专属邀请二维码' }).getAttribute('src');
    await page.reload();
    expect(await page.locator(`[data-campaign="${campaign._id}"] img.qr`).getAttribute('src')).toBe(src);
    await context.close();

    // Outside WeChat: a clear page and no session.
    const outside = await fetch(`${url}/h5/referrals`);
    expect(outside.status).toBe(403);
  }, 120_000);
});
