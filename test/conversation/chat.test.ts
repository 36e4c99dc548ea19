/**
 * The conversation service through the sandbox follower: numbered commands, match types and priorities,
 * welcome by scene, the rate-limited default reply and the unmatched report, the opt-out keyword, hand-off
 * inside and outside service hours, phone verification by SMS code, the follower's reservation codes from a
 * menu key, and the VIP conditional menu after a tier change. (Service queries: service-query.test.ts.)
 */
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { reminderAttribute } from '../../src/conversation/index.js';
import { createRecordingSmsSender } from '../../src/platform/sms/index.js';
import { claimCode, createProgram } from '../../src/reservations/index.js';
import { bearer, givenStaff } from '../staff/support.js';
import type { FollowerDriver } from '../../src/sandbox/wechat/followers.js';
import { givenFollower, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

// The gateway's own deadline (4 s): a shorter one made every case here race the machine's load.
// Service hours are read from a clock the hand-off case pins, so it never depends on the wall clock.
let pinnedAt: Date | undefined;
const sms = createRecordingSmsSender();
const live = useLive({}, { services: () => ({ sms, conversationClock: () => pinnedAt ?? new Date() }) });

let seq = 0;
const openid = (tag: string) => `oConv${tag}${String(++seq).padStart(4, '0')}${Date.now() % 100000}`;

async function staff(roles: Parameters<typeof givenStaff>[1] = ['marketing']) {
  return bearer((await givenStaff(live().app, roles)).accessToken);
}

async function putSettings(body: Record<string, unknown>) {
  const res = await live()
    .app.http.put('/admin/api/conversation/settings/default')
    .set(await staff())
    .send(body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

describe('keyword rules in the chat', () => {
  it('answers numbered commands, lists them on "0", and ranks match types by priority', async () => {
    const auth = await staff();
    const http = live().app.http;
    const rules = [
      {
        name: '查询资产',
        match: 'exact',
        pattern: '1',
        command: '1',
        answer: { action: 'reply', params: { text: '您的资产：请登录查看' } },
      },
      {
        name: '净值查询',
        match: 'exact',
        pattern: '2',
        command: '2',
        answer: { action: 'reply', params: { text: '今日净值 1.2345' } },
      },
      { name: 'exact', match: 'exact', pattern: '开户', answer: { action: 'reply', params: { text: 'E:开户' } } },
      { name: 'prefix', match: 'prefix', pattern: '开户', answer: { action: 'reply', params: { text: 'P:开户流程' } } },
      { name: 'contains', match: 'contains', pattern: '基金', answer: { action: 'reply', params: { text: 'C:基金' } } },
      {
        name: 'regex',
        match: 'regex',
        pattern: '^\\d{6}$',
        answer: { action: 'reply', params: { text: 'R:基金代码' } },
      },
      {
        name: 'complaint',
        match: 'contains',
        pattern: '投诉',
        priority: 50,
        answer: { action: 'reply', params: { text: 'HIGH:投诉' } },
      },
      {
        name: 'vip only',
        match: 'contains',
        pattern: '顾问',
        priority: 10,
        tiers: ['vip'],
        answer: { action: 'reply', params: { text: '{{tier}} 专属顾问为您服务' } },
      },
      {
        name: 'adviser',
        match: 'contains',
        pattern: '顾问',
        answer: { action: 'reply', params: { text: '普通顾问' } },
      },
    ];
    for (const rule of rules) {
      const res = await http.post('/admin/api/conversation/rules').set(auth).send(rule);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }

    const { follower } = await givenFollower(live(), openid('Num'));
    expect((await follower.send('1')).inbox?.text).toBe('您的资产：请登录查看');
    expect((await follower.send('２')).inbox?.text).toBe('今日净值 1.2345');
    const list = (await follower.send('0')).inbox?.text ?? '';
    expect(list).toContain('1. 查询资产');
    expect(list).toContain('2. 净值查询');
    expect((await follower.send('开户')).inbox?.text).toBe('E:开户');
    expect((await follower.send('开户需要什么')).inbox?.text).toBe('P:开户流程');
    expect((await follower.send('想买基金')).inbox?.text).toBe('C:基金');
    expect((await follower.send('110011')).inbox?.text).toBe('R:基金代码');
    expect((await follower.send('开户基金投诉')).inbox?.text).toBe('HIGH:投诉');
    expect((await follower.send('找顾问')).inbox?.text).toBe('普通顾问');

    const vip = await givenFollower(live(), openid('Vip'), 'vip');
    expect((await vip.follower.send('找顾问')).inbox?.text).toBe('vip 专属顾问为您服务');

    const tested = await http
      .get('/admin/api/conversation/test')
      .query({ account: 'default', text: '找顾问', tier: 'vip' })
      .set(auth);
    expect(tested.body).toMatchObject({ matched: true, rule: { name: 'vip only', match: 'contains' } });
  });

  it('refuses a regex that would backtrack catastrophically, and the admin API needs a permission', async () => {
    const http = live().app.http;
    const refused = await http
      .post('/admin/api/conversation/rules')
      .set(await staff())
      .send({ name: 'evil', match: 'regex', pattern: '(a+)+$', answer: { action: 'reply', params: { text: 'x' } } });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('backtrack');
    const typo = await http
      .post('/admin/api/conversation/rules')
      .set(await staff())
      .send({ name: 'typo', match: 'exact', pattern: 'x', answer: { action: 'replyy' } });
    expect(typo.body.error.code).toBe('unknown_action');
    expect((await http.get('/admin/api/conversation/rules')).status).toBe(401);
    expect((await http.get('/admin/api/conversation/rules').set(await staff(['sales']))).status).toBe(403);
  });

  it('withdraws marketing consent on the opt-out keyword', async () => {
    const { follower, profileId } = await givenFollower(live(), openid('Td'));
    const crm = live().app.deps.crm;
    expect(await crm.consent.isMarketingAllowed({ profileId: new Types.ObjectId(profileId) }, 'wechat')).toBe(true);
    expect((await follower.send('TD')).inbox?.text).toContain('退订');
    expect(await crm.consent.isMarketingAllowed({ profileId: new Types.ObjectId(profileId) }, 'wechat')).toBe(false);
  });

  it('answers unmatched texts once per cooldown and reports the top unmatched texts', async () => {
    await putSettings({
      defaultReply: { type: 'text', text: '没听懂，回复 0 查看服务列表' },
      defaultReplyCooldownSeconds: 600,
    });
    const { follower } = await givenFollower(live(), openid('Def'));
    expect((await follower.send('天气怎么样')).inbox?.text).toBe('没听懂，回复 0 查看服务列表');
    const second = await follower.send('天气怎么样');
    expect(second.reply).toBe('none');
    await follower.send('有没有红包');
    const report = await eventually(async () => {
      const res = await live()
        .app.http.get('/admin/api/conversation/unmatched?account=default')
        .set(await staff());
      const items = res.body.items as Array<{ text: string; count: number }>;
      return items.find((i) => i.text === '天气怎么样' && i.count === 2) ? items : undefined;
    });
    expect(report[0]).toEqual({ text: '天气怎么样', count: 2 });
  });
});

describe('welcome, hand-off and service queries', () => {
  it('welcomes by scene, and returning followers differently', async () => {
    await putSettings({
      welcome: {
        plain: { type: 'text', text: '欢迎关注' },
        referral: { type: 'text', text: '欢迎，好友推荐的朋友' },
        campaign: { type: 'text', text: '欢迎参加活动' },
        staff: { type: 'text', text: '您的专属顾问已为您服务' },
        returning: { type: 'text', text: '欢迎回来' },
      },
    });
    const { sandbox, app } = live();
    const plain = sandbox.wechat.follower('default', openid('Wp'));
    expect((await plain.subscribe()).inbox?.text).toBe('欢迎关注');
    const client = app.deps.wechatClients();
    for (const [scene, text] of [
      ['ref_ABC123', '欢迎，好友推荐的朋友'],
      ['spring2026', '欢迎参加活动'],
      ['staff_42', '您的专属顾问已为您服务'],
    ] as const) {
      const qr = await client.createTemporaryQr({ sceneStr: scene }, 3600);
      const f = sandbox.wechat.follower('default', openid('Wq'));
      expect((await f.subscribe({ ticket: qr.ticket })).inbox?.text).toBe(text);
    }
    await plain.unsubscribe();
    // Events are de-duplicated by CreateTime (seconds): the follower comes back a second later.
    sandbox.clock.advance(1000);
    await eventually(async () => (await app.deps.crm.followers.state('default', plain.openid))?.lastUnsubscribedAt);
    expect((await plain.subscribe()).inbox?.text).toBe('欢迎回来');
  });

  it('hands off to an agent inside service hours and queues outside them', async () => {
    await putSettings({
      serviceHours: { days: [1, 2, 3, 4, 5], from: '09:00', to: '18:00' },
      handoffClosedText: '现在是下班时间，已为您排队',
    });
    // Each case is a new follower: one follower's clicks within a second are one event to WeChat (dedup).
    const clickAt = async (at: string) => {
      pinnedAt = new Date(at);
      try {
        const f = live().sandbox.wechat.follower('default', openid('Ho'));
        await f.subscribe();
        return (await f.click('HANDOFF')).replyMessage;
      } finally {
        pinnedAt = undefined;
      }
    };
    // Wednesday 4 March 2026, 10:00 and 17:59 in Shanghai (UTC+8): inside.
    expect((await clickAt('2026-03-04T02:00:00Z'))?.MsgType).toBe('transfer_customer_service');
    expect((await clickAt('2026-03-04T09:59:00Z'))?.MsgType).toBe('transfer_customer_service');
    // The same Wednesday at 18:00, and Saturday 7 March at 10:00: outside.
    const closed = { MsgType: 'text', Content: '现在是下班时间，已为您排队' };
    expect(await clickAt('2026-03-04T10:00:00Z')).toMatchObject(closed);
    expect(await clickAt('2026-03-07T02:00:00Z')).toMatchObject(closed);

    // Staff see every hand-off, newest first, with the follower's openid masked.
    const list = async (auth: Record<string, string>, query: Record<string, string | number> = {}) =>
      live()
        .app.http.get('/admin/api/conversation/handoffs')
        .query({ account: 'default', ...query })
        .set(auth);
    const agent = await staff(['service']);
    const items = await eventually(async () => {
      const res = await list(agent);
      const found = (res.body as { items?: { openid: string; outcome: string; at: string }[] }).items ?? [];
      return found.filter((h) => h.at.startsWith('2026-03-0')).length === 4 ? found : undefined;
    });
    expect(items.map((h) => [h.at, h.outcome])).toEqual([
      ['2026-03-07T02:00:00.000Z', 'closed_hours'],
      ['2026-03-04T10:00:00.000Z', 'closed_hours'],
      ['2026-03-04T09:59:00.000Z', 'transferred'],
      ['2026-03-04T02:00:00.000Z', 'transferred'],
    ]);
    for (const h of items) expect(h.openid).toMatch(/^oCon…\d{3}$/);
    const page = await list(agent, { limit: 1 });
    expect(page.body.items).toHaveLength(1);
    const next = await list(agent, { limit: 1, cursor: page.body.nextCursor as string });
    expect(next.body.items[0].at).toBe('2026-03-04T10:00:00.000Z');
    expect((await list(await staff(['sales']))).status).toBe(403);
    expect((await list(agent, { limit: 500 })).status).toBe(400);
    expect((await live().app.http.get('/admin/api/conversation/handoffs').set(agent)).status).toBe(400);
  });

  it('keeps a reminder preference on the profile', async () => {
    const { follower, profileId } = await givenFollower(live(), openid('Rm'));
    expect((await follower.click('REMIND_NAV_ON')).inbox?.text).toBe('已为您开通净值提醒。');
    const view = await live().app.deps.crm.profiles.view({ profileId: new Types.ObjectId(profileId) });
    expect(view.profile.attributes[reminderAttribute('nav')]).toBe(true);
  });
});

describe('phone verification and reservation codes from the menu', () => {
  // A number per run (the phone identity is unique across profiles).
  const phoneNumber = () => `139${String(Date.now() % 1e8).padStart(8, '0')}`;
  const codeIn = (phone: string) => /(\d{6})/.exec(sms.lastTo(phone)?.text ?? '')?.[1];
  // The code's answer writes the profile, its identity and the verification: on a loaded machine it can miss
  // the passive-reply deadline and arrive, as the gateway intends, as a customer-service message instead.
  const answerTo = async (follower: FollowerDriver, text: string) => {
    const before = follower.inbox().length;
    const pushed = await follower.send(text);
    if (pushed.inbox) return pushed.inbox.text;
    const late = await eventually(() =>
      follower
        .inbox()
        .slice(before)
        .find((e) => e.channel === 'custom'),
    );
    return late.text;
  };

  it('verifies a phone by SMS code and keeps it only through the vault', async () => {
    const { follower, profileId } = await givenFollower(live(), openid('Vp'));
    const { app } = live();
    const phone = phoneNumber();
    const masked = `${phone.slice(0, 3)}****${phone.slice(-4)}`;

    expect((await follower.click('VERIFY_PHONE')).inbox?.text).toContain('请回复您的手机号码');
    expect((await follower.send(`+86 ${phone}`)).inbox?.text).toContain(`验证码已发送至 ${masked}`);
    const code = codeIn(phone);
    expect(code).toMatch(/^\d{6}$/);
    const wrong = code === '000000' ? '111111' : '000000';
    expect((await follower.send(wrong)).inbox?.text).toBe('验证码不正确，还可以再试 4 次。');
    expect(await answerTo(follower, code!)).toBe(`手机号 ${masked} 验证成功，感谢您的配合。`);

    const id = new Types.ObjectId(profileId);
    // Eventually: a concurrent CRM write may undo the first write on FerretDB, and the flow writes it again.
    await eventually(async () => {
      const { profile } = await app.deps.crm.profiles.view({ profileId: id });
      return (profile.phone === masked && profile.phoneVerified) || undefined;
    });
    const verifications = await app.deps.crm.profiles.verifications(id);
    expect(verifications.find((v) => v.kind === 'phone')).toMatchObject({
      status: 'verified',
      method: 'sms',
      valid: true,
    });
    // The CRM finds the profile by the verified number (its vault's hash), and the flow is over.
    expect((await app.deps.crm.identities.find(app.deps.crm.identities.phone(phone, true)))?.toHexString()).toBe(
      profileId,
    );
    expect((await follower.send(code!)).inbox?.text).not.toContain('验证成功');

    // Neither the number nor the code is in the logs; the timeline keeps the typed number masked.
    const logs = app.logs.join('\n');
    expect(logs).not.toContain(phone);
    expect(logs).not.toContain(`"${code!}"`);
    await eventually(async () => {
      const page = await app.deps.crm.timeline.list({ profileId: id, limit: 200 });
      return JSON.stringify(page).includes(masked) || undefined;
    });
    expect(JSON.stringify(await app.deps.crm.timeline.list({ profileId: id, limit: 200 }))).not.toContain(phone);
  });

  it('limits wrong codes and resends, cancels on request, and leaves digits alone when nothing is pending', async () => {
    const { follower, profileId } = await givenFollower(live(), openid('Vx'));
    const phone = phoneNumber();
    // No verification under way: a number is just a text for the rules (and the default reply).
    await follower.send(phone);
    expect(sms.lastTo(phone)).toBeUndefined();

    await follower.click('VERIFY_PHONE');
    expect((await follower.send('123456')).inbox?.text).toBe('请先回复您的 11 位手机号码。');
    await follower.send(phone);
    const code = codeIn(phone)!;
    expect((await follower.send(phone)).inbox?.text).toBe('验证码发送过于频繁，请稍后再试。');
    expect(sms.sent.filter((m) => m.phone === phone)).toHaveLength(1);
    const wrong = code === '000000' ? '111111' : '000000';
    const answers: string[] = [];
    for (let i = 0; i < 5; i += 1) answers.push((await follower.send(wrong)).inbox?.text ?? '');
    expect(answers.slice(0, 4)).toEqual([4, 3, 2, 1].map((n) => `验证码不正确，还可以再试 ${n} 次。`));
    expect(answers[4]).toContain('错误次数过多');
    // The flow is gone: the right code is now just a text for the rules, and no phone reached the profile.
    expect((await follower.send(code)).inbox?.text ?? '').not.toContain('验证成功');
    const locked = await live().app.deps.crm.profiles.view({ profileId: new Types.ObjectId(profileId) });
    expect(locked.profile.phone).toBeUndefined();

    const other = await givenFollower(live(), openid('Vc'));
    await other.follower.click('VERIFY_PHONE');
    expect((await other.follower.send('取消')).inbox?.text).toBe('已取消手机验证。');
    await other.follower.send(phoneNumber());
    const view = await live().app.deps.crm.profiles.view({ profileId: new Types.ObjectId(other.profileId) });
    expect(view.profile.phone).toBeUndefined();
  });

  it("answers the MY_CODES menu key with the follower's own reservation codes", async () => {
    const { app } = live();
    const HOUR = 3_600_000;
    const program = await createProgram(
      app.deps.reservations,
      {
        name: '新发基金预约',
        quota: 10,
        issueFrom: new Date(Date.now() - HOUR),
        issueUntil: new Date(Date.now() + HOUR),
        redeemFrom: new Date(Date.now() - HOUR),
        redeemUntil: new Date(Date.now() + 48 * HOUR),
        issueMode: 'push',
      },
      'staff-1',
    );
    const owner = await givenFollower(live(), openid('Rc'));
    const code = await claimCode(app.deps.reservations, {
      programId: program._id,
      profileId: owner.profileId,
      via: 'push',
      claimKey: `push:${program._id}`,
    });
    const mine = (await owner.follower.click('MY_CODES')).inbox?.text ?? '';
    expect(mine).toContain(`新发基金预约：${code.code}（可使用`);

    const stranger = await givenFollower(live(), openid('Rn'));
    const theirs = (await stranger.follower.click('MY_CODES')).inbox?.text;
    expect(theirs).toBe('您还没有预约码。');
    expect(app.deps.conversation.actions.list().map((a) => a.name)).toContain('reservations.my_codes');
  });
});

describe('menus', () => {
  it('publishes the menus with a diff, and a VIP sees the VIP menu after a tier change', async () => {
    const { app, sandbox } = live();
    const auth = await staff();
    const before = await app.http.get('/admin/api/conversation/menus/default/diff').set(auth);
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body.changed).toEqual(['default', 'conditional:vip']);
    expect(
      (await app.http.post('/admin/api/conversation/menus/default/publish').set(await staff(['service']))).status,
    ).toBe(403);
    const published = await app.http.post('/admin/api/conversation/menus/default/publish').set(auth);
    expect(published.status, JSON.stringify(published.body)).toBe(200);
    expect(published.body.outcome).toBe('published');
    const again = await app.http.post('/admin/api/conversation/menus/default/publish').set(auth);
    expect(again.body.outcome).toBe('unchanged');
    const history = await app.http.get('/admin/api/conversation/menus/default/publishes').set(auth);
    const outcomes = (history.body as { items: Array<{ outcome: string }> }).items.map((h) => h.outcome);
    expect(outcomes).toEqual(['unchanged', 'published']);

    const { follower, profileId } = await givenFollower(live(), openid('Menu'));
    const names = async () =>
      (await app.deps.wechatClients().tryMatchMenu(follower.openid)).map((b) => b.name).join(',');
    expect(await names()).toBe('我的账户,服务,官网');
    await app.deps.crm.profiles.changeTier({
      profileId: new Types.ObjectId(profileId),
      tier: 'vip',
      reason: 'aum',
      by: 'staff:t',
    });
    await eventually(async () => ((await names()) === '我的账户,专属服务,官网' ? true : undefined));
    expect(sandbox.wechat.follower('default', follower.openid).snapshot().tagIds.length).toBe(1);
    await app.deps.crm.profiles.changeTier({
      profileId: new Types.ObjectId(profileId),
      tier: 'gold',
      reason: 'aum',
      by: 'staff:t',
    });
    await eventually(async () => ((await names()) === '我的账户,服务,官网' ? true : undefined));
  });

  it('refuses menus beyond WeChat limits', async () => {
    const res = await live()
      .app.http.put('/admin/api/conversation/menus/default')
      .set(await staff())
      .send({
        default: [1, 2, 3, 4].map((n) => ({ name: `菜单${n}`, type: 'click', key: `K${n}` })),
      });
    expect(res.status).toBe(400);
    const long = await live()
      .app.http.put('/admin/api/conversation/menus/default')
      .set(await staff())
      .send({ default: [{ name: '这是一个非常长的菜单名字', type: 'click', key: 'K' }] });
    expect(long.status).toBe(400);
  });
});
