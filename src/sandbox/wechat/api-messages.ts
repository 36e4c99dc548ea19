/**
 * Sandbox routes for messages the service sends: customer-service messages (inside the follower's
 * window), typing, template messages (then TEMPLATESENDJOBFINISH), broadcasts by tag and by openid list
 * (then MASSSENDJOBFINISH). Everything delivered lands in the follower's inbox.
 */
import type Router from '@koa/router';
import { checkIssuedMedia } from './api-media.js';
import { accountOf, bodyOf, knownFollower, obj, str, WxError, type WechatEnv } from './env.js';
import type { AccountState, SandboxFollower } from './state.js';

const CUSTOM_TYPES: Record<string, (payload: Record<string, unknown>) => string | undefined> = {
  text: (p) => (str(p.content) ? undefined : 'text.content is empty'),
  image: (p) => (str(p.media_id) ? undefined : 'image.media_id is empty'),
  voice: (p) => (str(p.media_id) ? undefined : 'voice.media_id is empty'),
  video: (p) => (str(p.media_id) ? undefined : 'video.media_id is empty'),
  music: (p) => (str(p.musicurl) && str(p.thumb_media_id) ? undefined : 'music needs musicurl and thumb_media_id'),
  news: () => undefined,
  mpnews: (p) => (str(p.media_id) ? undefined : 'mpnews.media_id is empty'),
  mpnewsarticle: (p) => (str(p.article_id) ? undefined : 'mpnewsarticle.article_id is empty'),
  msgmenu: (p) => (Array.isArray(p.list) && p.list.length > 0 ? undefined : 'msgmenu.list is empty'),
  wxcard: (p) => (str(p.card_id) ? undefined : 'wxcard.card_id is empty'),
  miniprogrampage: (p) =>
    str(p.appid) && str(p.pagepath) && str(p.thumb_media_id)
      ? undefined
      : 'miniprogrampage needs appid, pagepath, thumb',
};

const MASS_TYPES: Record<string, string> = {
  text: 'text',
  mpnews: 'mpnews',
  image: 'images',
  voice: 'voice',
  mpvideo: 'mpvideo',
  wxcard: 'wxcard',
};

/** Uses one message of the follower's open window, or says why none is open. */
function takeWindow(env: WechatEnv, follower: SandboxFollower): void {
  const now = env.clock.now();
  const open = [follower.eventWindow, follower.messageWindow].filter((w) => w !== undefined && w.until > now);
  if (!follower.subscribed || open.length === 0)
    throw new WxError(45015, 'response out of time limit or subscription is canceled');
  const usable = open.find((w) => w!.left > 0);
  if (!usable) throw new WxError(45047, 'out of response count limit');
  usable.left -= 1;
}

function templateFinish(env: WechatEnv, state: AccountState, follower: SandboxFollower, msgId: string, status: string) {
  env.later(env.settings.templateFinishDelayMs, async () => {
    const result = await env.driver.push(state.account, follower, {
      MsgType: 'event',
      Event: 'TEMPLATESENDJOBFINISH',
      MsgID: Number(msgId),
      Status: status,
    });
    env.platformPushes.push({
      account: state.account.key,
      openid: follower.openid,
      event: 'TEMPLATESENDJOBFINISH',
      result,
    });
  });
}

function massDeliver(
  env: WechatEnv,
  state: AccountState,
  recipients: SandboxFollower[],
  requested: number,
  body: Record<string, unknown>,
): { msgId: string; msgDataId: string } {
  const msgtype = str(body.msgtype) ?? '';
  const field = MASS_TYPES[msgtype];
  const payload = field ? obj(body[field]) : undefined;
  if (!field || !payload) throw new WxError(40008, 'invalid message type');
  if (msgtype === 'text' && !str(payload.content)) throw new WxError(44004, 'empty content');
  if (msgtype === 'mpnews' && !str(payload.media_id)) throw new WxError(40007, 'invalid media_id');
  const clientMsgId = str(body.clientmsgid);
  const now = env.clock.now();
  if (clientMsgId !== undefined) {
    if (Buffer.byteLength(clientMsgId) > 64) throw new WxError(45067, 'clientmsgid size out of limit');
    const earlier = state.massClientMsgIds.get(clientMsgId);
    if (earlier && now - earlier.at < 24 * 3600_000)
      throw new WxError(45065, `clientmsgid exist, msg_id: ${earlier.msgId}`);
  }
  const msgId = env.state.nextMsgId();
  if (clientMsgId !== undefined) state.massClientMsgIds.set(clientMsgId, { msgId, at: now });
  const month = env.state.month();
  let sent = 0;
  let filtered = 0;
  for (const f of recipients) {
    const received = f.massByMonth.get(month) ?? 0;
    // Four broadcasts a month per follower: later ones are filtered out for them.
    if (!f.subscribed || received >= 4) continue;
    filtered += 1;
    f.massByMonth.set(month, received + 1);
    env.state.deliver(f, { channel: 'mass', msgtype, content: payload, msgId });
    sent += 1;
  }
  if (env.settings.massFinishDelayMs >= 0) {
    const someone = recipients[0];
    if (someone)
      env.later(env.settings.massFinishDelayMs, async () => {
        // MASSSENDJOBFINISH comes from the system; WeChat sends it with the account as FromUserName.
        const result = await env.driver.push(state.account, someone, {
          MsgType: 'event',
          Event: 'MASSSENDJOBFINISH',
          MsgID: Number(msgId),
          Status: 'send success',
          TotalCount: requested,
          FilterCount: filtered,
          SentCount: sent,
          ErrorCount: filtered - sent,
        });
        env.platformPushes.push({
          account: state.account.key,
          openid: someone.openid,
          event: 'MASSSENDJOBFINISH',
          result,
        });
      });
  }
  return { msgId, msgDataId: msgId.slice(-9) };
}

export function registerMessageRoutes(router: Router, env: WechatEnv): void {
  router.post('/cgi-bin/message/custom/send', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const follower = knownFollower(state, body.touser);
    const msgtype = str(body.msgtype) ?? '';
    const check = CUSTOM_TYPES[msgtype];
    const payload = obj(body[msgtype]);
    if (!check || !payload) throw new WxError(40008, 'invalid message type');
    const problem = check(payload);
    if (problem) throw new WxError(47001, `data format error: ${problem}`);
    const mediaId = str(payload.media_id);
    if (mediaId && (msgtype === 'image' || msgtype === 'voice' || msgtype === 'video'))
      checkIssuedMedia(env, state, mediaId);
    if (msgtype === 'news') {
      const articles = payload.articles;
      if (!Array.isArray(articles) || articles.length === 0) throw new WxError(44003, 'empty news data');
      if (articles.length > 1) throw new WxError(45008, 'article size out of limit');
    }
    takeWindow(env, follower);
    follower.typingUntil = undefined; // sending a message cancels "typing…"
    const kf = str(obj(body.customservice)?.kf_account);
    env.state.deliver(follower, {
      channel: 'custom',
      msgtype,
      content: { ...payload, ...(kf ? { kf_account: kf } : {}) },
    });
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  router.post('/cgi-bin/message/custom/typing', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const follower = knownFollower(state, body.touser);
    const command = str(body.command);
    if (command !== 'Typing' && command !== 'CancelTyping') throw new WxError(40097, 'invalid args: command');
    const now = env.clock.now();
    const open = [follower.eventWindow, follower.messageWindow].some((w) => w !== undefined && w.until > now);
    if (!follower.subscribed || !open)
      throw new WxError(45015, 'response out of time limit or subscription is canceled');
    follower.typingUntil = command === 'Typing' ? now + 15_000 : undefined;
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  router.post('/cgi-bin/message/template/send', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const follower = knownFollower(state, body.touser);
    if (!follower.subscribed) throw new WxError(43004, 'require subscribe');
    const template = state.templates.get(str(body.template_id) ?? '');
    if (!template) throw new WxError(40037, 'invalid template_id');
    const data = obj(body.data);
    if (!data) throw new WxError(47003, 'argument invalid! data is empty');
    for (const keyword of template.keywords) {
      const value = str(obj(data[keyword])?.value);
      if (!value) throw new WxError(47003, `argument invalid! data.${keyword}.value empty`);
      if (value.length > 20 || /[\r\n]/.test(value))
        throw new WxError(47003, `argument invalid! data.${keyword}.value exceeds 20 characters or has a line break`);
    }
    const now = env.clock.now();
    const clientMsgId = str(body.client_msg_id);
    const dedupKey = clientMsgId ? `${follower.openid}:${clientMsgId}` : undefined;
    const earlier = dedupKey ? state.templateClientMsgIds.get(dedupKey) : undefined;
    if (earlier && now - earlier.at < 10 * 60_000) {
      // Same openid + client_msg_id within 10 minutes: sent once, the same msgid answered.
      ctx.body = { errcode: 0, errmsg: 'ok', msgid: Number(earlier.msgId) };
      return;
    }
    const msgId = env.state.nextMsgId();
    if (dedupKey) state.templateClientMsgIds.set(dedupKey, { msgId, at: now });
    const content = {
      template_id: template.templateId,
      title: template.title,
      data: Object.fromEntries(template.keywords.map((k) => [k, str(obj(data[k])?.value)])),
      ...(str(body.url) ? { url: str(body.url) } : {}),
      ...(obj(body.miniprogram) ? { miniprogram: obj(body.miniprogram) } : {}),
    };
    if (!follower.blocksTemplates)
      env.state.deliver(follower, { channel: 'template', msgtype: 'template', content, msgId });
    templateFinish(env, state, follower, msgId, follower.blocksTemplates ? 'failed:user block' : 'success');
    ctx.body = { errcode: 0, errmsg: 'ok', msgid: Number(msgId) };
  });

  router.post('/cgi-bin/message/mass/sendall', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const filter = obj(body.filter);
    if (!filter) throw new WxError(40097, 'invalid args: filter');
    let recipients: SandboxFollower[];
    if (filter.is_to_all === true) {
      // Sends to everyone share the account's four a month (console included): the fifth has no quota.
      const month = env.state.month();
      const toAll = state.massToAllByMonth.get(month) ?? 0;
      if (toAll >= 4) throw new WxError(45028, 'has no masssend quota');
      state.massToAllByMonth.set(month, toAll + 1);
      recipients = [...state.followers.values()].filter((f) => f.subscribed);
    } else {
      const tagId = Number(filter.tag_id);
      if (!state.tags.has(tagId) && tagId !== 2) throw new WxError(40050, 'invalid tag id');
      recipients = [...state.followers.values()].filter((f) => f.subscribed && f.tagIds.includes(tagId));
    }
    const { msgId, msgDataId } = massDeliver(env, state, recipients, recipients.length, body);
    ctx.body = {
      errcode: 0,
      errmsg: 'send job submission success',
      msg_id: Number(msgId),
      msg_data_id: Number(msgDataId),
    };
  });

  router.post('/cgi-bin/message/mass/send', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const touser = body.touser;
    if (!Array.isArray(touser) || touser.length < 2 || touser.length > 10_000)
      throw new WxError(40130, 'invalid openid list size, at least two openid');
    const recipients = touser
      .map((id) => state.followers.get(str(id) ?? ''))
      .filter((f): f is SandboxFollower => f !== undefined);
    const { msgId } = massDeliver(env, state, recipients, touser.length, body);
    ctx.body = { errcode: 0, errmsg: 'send job submission success', msg_id: Number(msgId) };
  });
}
