/**
 * Every typed call of the official-account client against the sandbox: menus, templates,
 * customer-service messages, users, tags, QR codes, broadcasts, OAuth and the JS-SDK — each with the
 * platform's own limits and error codes.
 */
import { describe, expect, it } from 'vitest';
import { jsSdkSignature, type CustomMessage, type MenuButton } from '../../src/platform/wechat/index.js';
import { eventually } from '../support/wait.js';
import { useWechatFixture } from './wechat-fixture.js';

const fx = useWechatFixture({ wechat: { templateFinishDelayMs: 5, massFinishDelayMs: -1, followerPageSize: 3 } });

const MENU: MenuButton[] = [
  { type: 'click', name: '今日歌曲', key: 'V1001_TODAY_MUSIC' },
  {
    name: '菜单',
    sub_button: [
      { type: 'view', name: '搜索', url: 'http://www.soso.com/' },
      { type: 'click', name: '赞一下我们', key: 'V1001_GOOD' },
    ],
  },
];

describe('menus', () => {
  it('creates, reads and deletes the default menu', async () => {
    const { client } = fx().account();
    expect(await client.getMenu()).toBeUndefined();
    await client.createMenu(MENU);
    const menus = await client.getMenu();
    expect(menus?.menu).toEqual(MENU);
    expect(menus?.conditional).toEqual([]);
    await client.deleteMenu();
    expect(await client.getMenu()).toBeUndefined();
  });

  it('refuses menus outside WeChat limits', async () => {
    const { client } = fx().account();
    const four = Array.from({ length: 4 }, (_, i) => ({ type: 'click' as const, name: `b${i}`, key: `k${i}` }));
    await expect(client.createMenu(four)).rejects.toMatchObject({ errcode: 40016, disposition: 'give_up' });
    await expect(client.createMenu([{ type: 'click', name: '一二三四五六', key: 'k' }])).rejects.toMatchObject({
      errcode: 40018,
    });
    await expect(client.createMenu([{ type: 'click', name: 'ok' }])).rejects.toMatchObject({ errcode: 40019 });
  });

  it('adds a conditional menu by tag, matches it for a tagged follower, then deletes it', async () => {
    const acct = fx().account();
    const { client } = acct;
    const [tagged, plain] = await acct.followers(2);
    await expect(client.addConditionalMenu(MENU, { tag_id: '2' })).rejects.toMatchObject({ errcode: 65303 });
    await client.createMenu(MENU);
    const vip = await client.createTag('VIP');
    await client.tagUsers(vip.id, [tagged!]);
    const vipMenu: MenuButton[] = [{ type: 'click', name: 'VIP', key: 'VIP_ONLY' }];
    await expect(client.addConditionalMenu(vipMenu, {})).rejects.toMatchObject({ errcode: 65304 });
    const menuId = await client.addConditionalMenu(vipMenu, { tag_id: String(vip.id) });
    expect(await client.tryMatchMenu(tagged!)).toEqual(vipMenu);
    expect(await client.tryMatchMenu(plain!)).toEqual(MENU);
    expect((await client.getMenu())?.conditional).toEqual([
      { menuId, button: vipMenu, matchRule: { tag_id: String(vip.id) } },
    ]);
    await client.deleteConditionalMenu(menuId);
    expect(await client.tryMatchMenu(tagged!)).toEqual(MENU);
    await expect(client.deleteConditionalMenu(menuId)).rejects.toMatchObject({ errcode: 65301 });
  });
});

describe('template messages', () => {
  it('delivers once per client_msg_id, lands in the inbox and produces TEMPLATESENDJOBFINISH', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const t = fx().sandbox.wechat.addTemplate(acct.key, { title: '到账提醒', keywords: ['thing1', 'amount2'] });
    const message = {
      touser: openid!,
      templateId: t.templateId,
      data: { thing1: '红包到账', amount2: '8.88元' },
      url: 'https://example.com/r/1',
      clientMsgId: 'claim-42',
    };
    const first = await acct.client.sendTemplate(message);
    const again = await acct.client.sendTemplate(message);
    expect(again.msgId).toBe(first.msgId);
    const inbox = fx().sandbox.wechat.inbox(acct.key, openid!);
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatchObject({
      channel: 'template',
      text: '到账提醒 | 红包到账 | 8.88元',
      msgId: first.msgId,
      content: { template_id: t.templateId, data: { thing1: '红包到账', amount2: '8.88元' } },
    });
    await fx().sandbox.wechat.idle();
    const pushes = fx()
      .sandbox.wechat.platformPushes(acct.key)
      .filter((p) => p.event === 'TEMPLATESENDJOBFINISH');
    expect(pushes).toHaveLength(1);
    expect(pushes[0]!.result.pushed).toContain(`<MsgID>${first.msgId}</MsgID>`);
  });

  it('refuses an empty or over-long keyword value with 47003', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    const t = fx().sandbox.wechat.addTemplate(acct.key, { title: 'x', keywords: ['thing1'] });
    await expect(
      acct.client.sendTemplate({ touser: openid!, templateId: t.templateId, data: { thing1: 'a'.repeat(21) } }),
    ).rejects.toMatchObject({ errcode: 47003, disposition: 'give_up' });
    await expect(
      acct.client.sendTemplate({ touser: openid!, templateId: t.templateId, data: {} }),
    ).rejects.toMatchObject({ errcode: 47003 });
  });

  it('reports "failed:user block" for a follower who refused template messages', async () => {
    const acct = fx().account();
    const follower = fx().sandbox.wechat.follower(acct.key);
    await follower.subscribe();
    follower.blockTemplates(true);
    const t = fx().sandbox.wechat.addTemplate(acct.key, { title: 'x', keywords: ['thing1'] });
    const { msgId } = await acct.client.sendTemplate({
      touser: follower.openid,
      templateId: t.templateId,
      data: { thing1: 'x' },
    });
    await fx().sandbox.wechat.idle();
    expect(follower.inbox()).toEqual([]);
    const push = fx()
      .sandbox.wechat.platformPushes(acct.key)
      .find((p) => p.result.pushed.includes(`<MsgID>${msgId}</MsgID>`));
    expect(push?.result.pushed).toContain('failed:user block');
  });
});

describe('customer-service messages', () => {
  const ALL: CustomMessage[] = [
    { msgtype: 'text', text: { content: 'hello' } },
    { msgtype: 'image', image: { media_id: 'MEDIA_IMG' } },
    { msgtype: 'voice', voice: { media_id: 'MEDIA_VOICE' } },
    { msgtype: 'video', video: { media_id: 'MEDIA_VIDEO', thumb_media_id: 'T', title: 't', description: 'd' } },
    { msgtype: 'music', music: { title: 't', musicurl: 'http://m/1.mp3', thumb_media_id: 'T' } },
    { msgtype: 'news', news: { articles: [{ title: 'Hi', url: 'https://example.com', picurl: 'https://p' }] } },
    { msgtype: 'mpnews', mpnews: { media_id: 'MEDIA_NEWS' } },
    { msgtype: 'mpnewsarticle', mpnewsarticle: { article_id: 'ARTICLE' } },
    {
      msgtype: 'msgmenu',
      msgmenu: { head_content: '满意吗', list: [{ id: '101', content: '满意' }], tail_content: '' },
    },
    { msgtype: 'wxcard', wxcard: { card_id: 'CARD' } },
    {
      msgtype: 'miniprogrampage',
      miniprogrampage: { title: 't', appid: 'wxmini0000000001', pagepath: 'pages/index', thumb_media_id: 'T' },
    },
  ];

  it('sends every message type inside the 48-hour window; each lands in the inbox', async () => {
    const acct = fx().account();
    const follower = fx().sandbox.wechat.follower(acct.key);
    await follower.subscribe();
    for (const message of ALL) {
      await follower.send('hi'); // each message re-opens the window (5 messages / 48 h)
      await acct.client.sendCustomMessage(follower.openid, message, { kfAccount: 'agent@test' });
    }
    const inbox = follower.inbox().filter((m) => m.channel === 'custom');
    expect(inbox.map((m) => m.msgtype)).toEqual(ALL.map((m) => m.msgtype));
    expect(inbox[0]!.content).toEqual({ content: 'hello', kf_account: 'agent@test' });
    expect(inbox.map((m) => m.text).slice(0, 2)).toEqual(['hello', '[image]']);
    expect(inbox.find((m) => m.msgtype === 'news')?.text).toBe('[news] Hi');
  });

  it('allows 5 messages per follower message, then 45047; after 48 h, 45015', async () => {
    const acct = fx().account();
    const follower = fx().sandbox.wechat.follower(acct.key);
    await follower.subscribe();
    fx().sandbox.clock.advance(61_000); // past the follow's one-minute window
    try {
      await follower.send('question');
      const text: CustomMessage = { msgtype: 'text', text: { content: 'answer' } };
      for (let i = 0; i < 5; i++) await acct.client.sendCustomMessage(follower.openid, text);
      await expect(acct.client.sendCustomMessage(follower.openid, text)).rejects.toMatchObject({ errcode: 45047 });
      await follower.send('again');
      fx().sandbox.clock.advance(48 * 3600_000 + 1000);
      await expect(acct.client.sendCustomMessage(follower.openid, text)).rejects.toMatchObject({
        errcode: 45015,
        disposition: 'give_up',
      });
    } finally {
      fx().sandbox.clock.reset();
    }
  });

  it('refuses two news articles (45008) and shows typing only inside a window', async () => {
    const acct = fx().account();
    const follower = fx().sandbox.wechat.follower(acct.key);
    await follower.subscribe();
    await follower.send('hi');
    const article = { title: 'a', url: 'https://example.com' };
    await expect(
      acct.client.sendCustomMessage(follower.openid, { msgtype: 'news', news: { articles: [article, article] } }),
    ).rejects.toMatchObject({ errcode: 45008 });
    await acct.client.setTyping(follower.openid, true);
    expect(follower.snapshot().typing).toBe(true);
    await acct.client.setTyping(follower.openid, false);
    expect(follower.snapshot().typing).toBe(false);
    await follower.unsubscribe();
    await expect(acct.client.setTyping(follower.openid, true)).rejects.toMatchObject({ errcode: 45015 });
  });
});

describe('users', () => {
  it('reads a follower, a former follower, and a batch of 120 in two calls', async () => {
    const acct = fx().account();
    const ids = await acct.followers(120);
    const qr = await acct.client.createPermanentQr({ sceneStr: 'poster-7' });
    const viaQr = fx().sandbox.wechat.follower(acct.key);
    await viaQr.scan(qr.ticket);
    const user = await acct.client.getUser(viaQr.openid);
    expect(user).toMatchObject({
      subscribed: true,
      subscribeScene: 'ADD_SCENE_QR_CODE',
      qrSceneStr: 'poster-7',
      tagIds: [],
    });
    expect(user.unionid).toMatch(/^oU/);
    expect(user.subscribedAt).toBeInstanceOf(Date);
    await viaQr.unsubscribe();
    expect(await acct.client.getUser(viaQr.openid)).toEqual({ openid: viaQr.openid, subscribed: false, tagIds: [] });

    const before = fx().sandbox.wechat.calls(acct.key)['/cgi-bin/user/info/batchget'] ?? 0;
    const batch = await acct.client.batchGetUsers(ids);
    expect(batch.map((u) => u.openid)).toEqual(ids);
    expect(fx().sandbox.wechat.calls(acct.key)['/cgi-bin/user/info/batchget']).toBe(before + 2);
  });

  it('pages through the follower list (page size 3 in this sandbox)', async () => {
    const acct = fx().account();
    const ids = await acct.followers(7);
    const first = await acct.client.listFollowers();
    expect(first).toMatchObject({ total: 7, openids: ids.slice(0, 3), nextOpenid: ids[2] });
    const pages: string[][] = [];
    for await (const page of acct.client.allFollowers()) pages.push(page);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(ids);
  });
});

describe('tags', () => {
  it('creates, lists, renames and deletes tags; tags 60 followers in two batches', async () => {
    const acct = fx().account();
    const { client } = acct;
    const ids = await acct.followers(60);
    const tag = await client.createTag('老客户');
    await expect(client.createTag('老客户')).rejects.toMatchObject({ errcode: 45157, disposition: 'give_up' });
    await expect(client.createTag('x'.repeat(31))).rejects.toMatchObject({ errcode: 45158 });
    await client.tagUsers(tag.id, ids);
    expect(fx().sandbox.wechat.calls(acct.key)['/cgi-bin/tags/members/batchtagging']).toBe(2);
    expect(await client.listTags()).toContainEqual({ id: tag.id, name: '老客户', count: 60 });
    expect(await client.tagsOfUser(ids[0]!)).toEqual([tag.id]);
    const page = await client.usersOfTag(tag.id);
    expect(page.openids).toEqual(ids.slice(0, 3));
    await client.updateTag(tag.id, '熟客');
    await expect(client.updateTag(2, '星标')).rejects.toMatchObject({ errcode: 45058 });
    await client.untagUsers(tag.id, ids.slice(0, 10));
    expect(await client.tagsOfUser(ids[0]!)).toEqual([]);
    expect((await client.listTags()).find((t) => t.id === tag.id)).toEqual({ id: tag.id, name: '熟客', count: 50 });
    await client.deleteTag(tag.id);
    expect((await client.listTags()).map((t) => t.id)).not.toContain(tag.id);
    await expect(client.tagsOfUser('oNobody')).rejects.toMatchObject({ errcode: 40003 });
  });

  it('holds at most 20 tags per follower (45059)', async () => {
    const acct = fx().account();
    const [openid] = await acct.followers(1);
    for (let i = 0; i < 20; i++) {
      const tag = await acct.client.createTag(`t${i}`);
      await acct.client.tagUsers(tag.id, [openid!]);
    }
    const extra = await acct.client.createTag('one too many');
    await expect(acct.client.tagUsers(extra.id, [openid!])).rejects.toMatchObject({ errcode: 45059 });
  });
});

describe('QR codes', () => {
  it('creates a temporary code that expires and a permanent one; serves the image', async () => {
    const acct = fx().account();
    const temp = await acct.client.createTemporaryQr({ sceneId: 123 }, 60);
    expect(temp.expireSeconds).toBe(60);
    const image = await acct.client.fetchQrImage(temp.ticket);
    expect(image.contentType).toBe('image/png');
    expect(image.bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(acct.client.qrImageUrl(temp.ticket)).toBe(
      `${fx().sandbox.wechatBase}/cgi-bin/showqrcode?ticket=${encodeURIComponent(temp.ticket)}`,
    );
    const perm = await acct.client.createPermanentQr({ sceneStr: 'store-01' });
    expect(perm.expireSeconds).toBeUndefined();
    expect((await acct.client.createPermanentQr({ sceneStr: 'store-01' })).ticket).toBe(perm.ticket);
    await expect(acct.client.createTemporaryQr({ sceneId: 1 }, 2_592_001)).rejects.toMatchObject({ errcode: 40097 });
    await expect(acct.client.createTemporaryQr({ sceneStr: 'x'.repeat(65) }, 60)).rejects.toMatchObject({
      errcode: 40097,
    });

    fx().sandbox.clock.advance(61_000);
    try {
      const res = await fetch(acct.client.qrImageUrl(temp.ticket));
      expect(res.status).toBe(404);
      expect(() => fx().sandbox.wechat.follower(acct.key).scan(temp.ticket)).toThrow(/expired/);
      expect((await fetch(acct.client.qrImageUrl(perm.ticket))).status).toBe(200);
    } finally {
      fx().sandbox.clock.reset();
    }
  });
});

describe('mass messages', () => {
  it('broadcasts by tag and to an openid list; a repeated clientmsgid is recognised', async () => {
    const acct = fx().account();
    const { client } = acct;
    const [a, b, c] = await acct.followers(3);
    const tag = await client.createTag('news');
    await client.tagUsers(tag.id, [a!, b!]);
    const byTag = await client.sendToTag(
      { tagId: tag.id },
      { msgtype: 'text', text: { content: '周末活动' } },
      {
        clientMsgId: 'weekend-1',
      },
    );
    expect(byTag.duplicate).toBe(false);
    expect(
      fx()
        .sandbox.wechat.inbox(acct.key, a!)
        .map((m) => m.channel),
    ).toEqual(['mass']);
    expect(fx().sandbox.wechat.inbox(acct.key, c!)).toEqual([]);
    const again = await client.sendToTag(
      { tagId: tag.id },
      { msgtype: 'text', text: { content: '周末活动' } },
      {
        clientMsgId: 'weekend-1',
      },
    );
    expect(again).toMatchObject({ duplicate: true, msgId: byTag.msgId });
    expect(fx().sandbox.wechat.inbox(acct.key, a!)).toHaveLength(1);

    await client.sendToOpenids([b!, c!], { msgtype: 'mpnews', mpnews: { media_id: 'DRAFT_1' } });
    expect(
      fx()
        .sandbox.wechat.inbox(acct.key, c!)
        .map((m) => m.msgtype),
    ).toEqual(['mpnews']);
    await expect(client.sendToOpenids([c!], { msgtype: 'text', text: { content: 'x' } })).rejects.toMatchObject({
      errcode: 40130,
    });
  });

  it('delivers at most 4 broadcasts a month to a follower, and refuses a fifth send-to-all (45028)', async () => {
    const acct = fx().account();
    const [a, b] = await acct.followers(2);
    for (let i = 0; i < 4; i++)
      await acct.client.sendToTag({ all: true }, { msgtype: 'text', text: { content: `#${i}` } });
    await expect(
      acct.client.sendToTag({ all: true }, { msgtype: 'text', text: { content: '#4' } }),
    ).rejects.toMatchObject({ errcode: 45028 });
    expect(fx().sandbox.wechat.inbox(acct.key, a!)).toHaveLength(4);
    expect(fx().sandbox.wechat.inbox(acct.key, b!)).toHaveLength(4);
  });
});

describe('OAuth2 web authorisation', () => {
  it('exchanges a code once for openid and unionid, reads the profile, refreshes the grant', async () => {
    const acct = fx().account();
    const url = new URL(
      acct.client.authorizeUrl({
        redirectUri: 'https://scrm.example.com/oauth',
        scope: 'snsapi_userinfo',
        state: 'abc123',
      }),
    );
    expect(url.searchParams.get('appid')).toBe(acct.appid);
    expect(url.hash).toBe('#wechat_redirect');

    // The sandbox's consent page stands in for open.weixin.qq.com and redirects with a code.
    url.searchParams.set('openid', 'oOAuthUser0000000000000000001');
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(back.searchParams.get('state')).toBe('abc123');
    const code = back.searchParams.get('code')!;

    const grant = await acct.client.exchangeCode(code);
    expect(grant).toMatchObject({
      openid: 'oOAuthUser0000000000000000001',
      scope: 'snsapi_userinfo',
      snapshotUser: false,
    });
    expect(grant.unionid).toMatch(/^oU/);
    await expect(acct.client.exchangeCode(code)).rejects.toMatchObject({ errcode: 40163, disposition: 'give_up' });
    await expect(acct.client.exchangeCode('nonsense')).rejects.toMatchObject({ errcode: 40029 });

    const profile = await acct.client.userInfo(grant.accessToken, grant.openid);
    expect(profile).toMatchObject({ openid: grant.openid, unionid: grant.unionid });
    const refreshed = await acct.client.refreshGrant(grant.refreshToken);
    expect(refreshed.openid).toBe(grant.openid);
    expect(refreshed.accessToken).not.toBe(grant.accessToken);
  });

  it('a snsapi_base grant gives the openid but not the profile (48001)', async () => {
    const acct = fx().account();
    const code = fx().sandbox.wechat.oauthCode(acct.key, 'oBaseUser', 'snsapi_base');
    const grant = await acct.client.exchangeCode(code);
    expect(grant.unionid).toBeUndefined();
    await expect(acct.client.userInfo(grant.accessToken, grant.openid)).rejects.toMatchObject({ errcode: 48001 });
  });

  it('refuses a state that is not [A-Za-z0-9]', () => {
    const acct = fx().account();
    expect(() => acct.client.authorizeUrl({ redirectUri: 'https://x', scope: 'snsapi_base', state: 'a&b' })).toThrow();
  });
});

describe('JS-SDK', () => {
  it('signs a page with a jsapi_ticket fetched once and shared by two instances', async () => {
    const acct = fx().account();
    const other = acct.newClient();
    const [a, b] = await Promise.all([acct.client.jsapiTicket(), other.jsapiTicket()]);
    expect(a).toBe(b);
    expect(fx().sandbox.wechat.calls(acct.key)['/cgi-bin/ticket/getticket']).toBe(1);
    const config = await other.signJsSdk('https://scrm.example.com/page?x=1#section');
    expect(config.appId).toBe(acct.appid);
    expect(config.signature).toBe(
      jsSdkSignature({
        ticket: a,
        nonceStr: config.nonceStr,
        timestamp: config.timestamp,
        url: 'https://scrm.example.com/page?x=1',
      }),
    );
  });

  it('survives a revoked access token while fetching the ticket', async () => {
    const acct = fx().account();
    await acct.client.accessToken();
    fx().sandbox.wechat.revokeTokens(acct.key);
    expect(await acct.client.jsapiTicket()).toMatch(/.{20,}/);
    await eventually(() => fx().sandbox.wechat.calls(acct.key)['/cgi-bin/stable_token'] === 2);
  });
});
