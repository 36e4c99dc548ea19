/**
 * Sandbox routes for credentials and account set-up: access tokens (stable_token and the legacy token),
 * menus and conditional menus, QR codes, the jsapi_ticket, OAuth2 web authorisation, quota reset.
 */
import { randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import { MENU_BUTTON_TYPES } from '../../platform/wechat/api/menus.js';
import { accountOf, bodyOf, knownFollower, obj, str, utf8Length, WxError, type WechatEnv } from './env.js';
import { STABLE_RENEW_MS, TOKEN_LIFETIME_MS, type AccountState, type MenuRecord } from './state.js';

const KEY_TYPES = new Set([
  'click',
  'scancode_push',
  'scancode_waitmsg',
  'pic_sysphoto',
  'pic_photo_or_album',
  'pic_weixin',
  'location_select',
]);
const BUTTON_TYPES = new Set<string>(MENU_BUTTON_TYPES);
// A 1×1 transparent PNG: what showqrcode answers (tests look at the content type, not the picture).
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

function credentials(env: WechatEnv, appid: unknown, secret: unknown): AccountState {
  const state = env.state.byAppid(str(appid) ?? '');
  if (!state) throw new WxError(40013, 'invalid appid');
  if (str(secret) !== state.account.secret) throw new WxError(40125, 'invalid appsecret');
  return state;
}

/** Validates one level of buttons with WeChat's limits and error codes. */
function checkButtons(buttons: unknown, sub: boolean): void {
  if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > (sub ? 5 : 3))
    throw new WxError(sub ? 40023 : 40016, sub ? 'invalid sub button size' : 'invalid button size');
  for (const raw of buttons) {
    const b = obj(raw);
    const name = str(b?.name);
    if (!b || !name || utf8Length(name) > (sub ? 60 : 16))
      throw new WxError(sub ? 40025 : 40018, sub ? 'invalid sub button name size' : 'invalid button name size');
    if (b.sub_button !== undefined && !sub) {
      checkButtons(b.sub_button, true);
      continue;
    }
    const type = str(b.type);
    if (!type || !BUTTON_TYPES.has(type))
      throw new WxError(sub ? 40024 : 40017, sub ? 'invalid sub button type' : 'invalid button type');
    const key = str(b.key);
    if (KEY_TYPES.has(type) && (!key || utf8Length(key) > 128))
      throw new WxError(sub ? 40026 : 40019, sub ? 'invalid sub button key size' : 'invalid button key size');
    const url = str(b.url);
    if ((type === 'view' || type === 'miniprogram') && (!url || utf8Length(url) > 1024))
      throw new WxError(sub ? 40027 : 40055, sub ? 'invalid sub button url size' : 'invalid button url size');
  }
}

function menuMatches(menu: MenuRecord, tagIds: number[], platform: string): boolean {
  const rule = menu.matchrule ?? {};
  const lastTag = tagIds[tagIds.length - 1];
  if (rule.tag_id && String(lastTag) !== rule.tag_id) return false;
  if (rule.client_platform_type && rule.client_platform_type !== platform) return false;
  return true;
}

export function registerBaseRoutes(router: Router, env: WechatEnv): void {
  const { state: store, clock } = env;

  router.post('/cgi-bin/stable_token', (ctx) => {
    const body = bodyOf(ctx);
    if (body.grant_type !== 'client_credential') throw new WxError(40002, 'invalid grant_type');
    const state = credentials(env, body.appid, body.secret);
    state.callsTotal.set('/cgi-bin/stable_token', (state.callsTotal.get('/cgi-bin/stable_token') ?? 0) + 1);
    const now = clock.now();
    if (body.force_refresh === true) {
      const today = state.forceRefreshAt.filter((t) => now - t < 24 * 3600_000);
      if (today.length >= 20) throw new WxError(45009, 'reach max api daily quota limit');
      const last = today[today.length - 1];
      if (last !== undefined && now - last < 30_000) throw new WxError(45011, 'api minute-quota reach limit');
      state.forceRefreshAt = [...today, now];
      // A forced refresh ends the old token at once.
      if (state.stable) {
        const old = store.tokens.get(state.stable.token);
        if (old) old.revoked = true;
      }
      state.stable = store.issueToken(state.account.appid, 'stable');
    } else if (!state.stable || state.stable.expiresAt - now <= STABLE_RENEW_MS) {
      // Renewed in the last 5 minutes: the old token keeps working until it expires.
      state.stable = store.issueToken(state.account.appid, 'stable');
    }
    ctx.body = { access_token: state.stable.token, expires_in: Math.floor((state.stable.expiresAt - now) / 1000) };
  });

  router.get('/cgi-bin/token', (ctx) => {
    if (ctx.query.grant_type !== 'client_credential') throw new WxError(40002, 'invalid grant_type');
    const state = credentials(env, ctx.query.appid, ctx.query.secret);
    // Each call issues a new token; the previous ones keep working for 5 minutes.
    const now = clock.now();
    for (const issued of store.tokens.values())
      if (issued.appid === state.account.appid && issued.kind === 'token' && issued.expiresAt > now + STABLE_RENEW_MS)
        issued.expiresAt = now + STABLE_RENEW_MS;
    const issued = store.issueToken(state.account.appid, 'token');
    ctx.body = { access_token: issued.token, expires_in: TOKEN_LIFETIME_MS / 1000 };
  });

  router.post('/cgi-bin/clear_quota', (ctx) => {
    const state = env.state.byAppid(str(bodyOf(ctx).appid) ?? '');
    if (!state) throw new WxError(40013, 'invalid appid');
    state.callsToday.clear();
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  // Menus ------------------------------------------------------------------------------------------
  router.post('/cgi-bin/menu/create', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    checkButtons(body.button, false);
    state.menu = { menuid: String(state.nextMenuId++), button: body.button as unknown[] };
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  router.get('/cgi-bin/menu/get', (ctx) => {
    const state = accountOf(ctx);
    if (!state.menu) throw new WxError(46003, 'menu no exist');
    ctx.body = {
      menu: { button: state.menu.button, menuid: Number(state.menu.menuid) },
      ...(state.conditionalMenus.length > 0
        ? {
            conditionalmenu: state.conditionalMenus.map((m) => ({
              button: m.button,
              matchrule: m.matchrule,
              menuid: Number(m.menuid),
            })),
          }
        : {}),
    };
  });

  router.get('/cgi-bin/menu/delete', (ctx) => {
    const state = accountOf(ctx);
    state.menu = undefined;
    state.conditionalMenus = [];
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  router.post('/cgi-bin/menu/addconditional', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    if (!state.menu) throw new WxError(65303, 'there is no selfmenu, please create selfmenu first');
    checkButtons(body.button, false);
    const rule = obj(body.matchrule) ?? {};
    for (const dropped of ['sex', 'country', 'province', 'city', 'language', 'group_id'])
      if (str(rule[dropped])) throw new WxError(65320, `match rule ${dropped} is no longer supported`);
    const tagId = str(rule.tag_id);
    const platform = str(rule.client_platform_type);
    if (!tagId && !platform) throw new WxError(65304, 'match rule empty');
    if (tagId && !state.tags.has(Number(tagId)) && !['0', '1', '2'].includes(tagId))
      throw new WxError(65305, 'invalid tag id');
    if (platform && !['1', '2', '3'].includes(platform)) throw new WxError(65306, 'invalid client platform type');
    const menu: MenuRecord = {
      menuid: String(state.nextMenuId++),
      button: body.button as unknown[],
      matchrule: { ...(tagId ? { tag_id: tagId } : {}), ...(platform ? { client_platform_type: platform } : {}) },
    };
    state.conditionalMenus.push(menu);
    ctx.body = { menuid: menu.menuid };
  });

  router.post('/cgi-bin/menu/delconditional', (ctx) => {
    const state = accountOf(ctx);
    const id = str(bodyOf(ctx).menuid);
    const before = state.conditionalMenus.length;
    state.conditionalMenus = state.conditionalMenus.filter((m) => m.menuid !== id);
    if (state.conditionalMenus.length === before) throw new WxError(65301, 'no such menuid');
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  router.post('/cgi-bin/menu/trymatch', (ctx) => {
    const state = accountOf(ctx);
    const follower = knownFollower(state, bodyOf(ctx).user_id);
    if (!state.menu) throw new WxError(46003, 'menu no exist');
    // Newest conditional menu first, then the default one.
    const match = [...state.conditionalMenus]
      .reverse()
      .find((m) => menuMatches(m, follower.tagIds, follower.clientPlatform));
    ctx.body = { button: (match ?? state.menu).button };
  });

  // QR codes ---------------------------------------------------------------------------------------
  router.post('/cgi-bin/qrcode/create', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const action = str(body.action_name);
    const scene = obj(obj(body.action_info)?.scene);
    if (!action || !['QR_SCENE', 'QR_STR_SCENE', 'QR_LIMIT_SCENE', 'QR_LIMIT_STR_SCENE'].includes(action))
      throw new WxError(40097, 'invalid args: action_name');
    if (!scene) throw new WxError(40097, 'invalid args: action_info.scene');
    const permanent = action.startsWith('QR_LIMIT');
    const byString = action.endsWith('STR_SCENE');
    let sceneId: number | undefined;
    let sceneStr: string | undefined;
    if (byString) {
      sceneStr = str(scene.scene_str);
      if (!sceneStr || sceneStr.length > 64)
        throw new WxError(40097, 'invalid args: scene_str must be 1-64 characters');
    } else {
      sceneId = Number(scene.scene_id);
      const max = permanent ? 100_000 : 4_294_967_295;
      if (!Number.isInteger(sceneId) || sceneId < 1 || sceneId > max)
        throw new WxError(40097, 'invalid args: scene_id');
    }
    let expireSeconds: number | undefined;
    if (!permanent) {
      expireSeconds = body.expire_seconds === undefined ? 60 : Number(body.expire_seconds);
      if (!Number.isInteger(expireSeconds) || expireSeconds < 1 || expireSeconds > 2_592_000)
        throw new WxError(40097, 'invalid args: expire_seconds');
    } else if (state.permanentQrCount >= 100_000) {
      throw new WxError(45030, 'permanent qrcode count exceeds limit');
    }
    if (permanent) {
      // Asking again for the same permanent scene answers the same ticket.
      const same = [...state.qrTickets.values()].find(
        (t) => t.permanent && t.sceneId === sceneId && t.sceneStr === sceneStr,
      );
      if (same) {
        ctx.body = { ticket: same.ticket, url: same.url };
        return;
      }
      state.permanentQrCount += 1;
    }
    const ticket = `gQ${randomBytes(30).toString('base64url')}`;
    const url = `http://weixin.qq.com/q/${randomBytes(16).toString('base64url')}`;
    state.qrTickets.set(ticket, {
      ticket,
      permanent,
      sceneId,
      sceneStr,
      expiresAt: expireSeconds ? clock.now() + expireSeconds * 1000 : undefined,
      url,
    });
    ctx.body = { ticket, ...(expireSeconds ? { expire_seconds: expireSeconds } : {}), url };
  });

  router.get('/cgi-bin/showqrcode', (ctx) => {
    const ticket = str(ctx.query.ticket) ?? '';
    for (const state of store.accounts.values()) {
      const qr = state.qrTickets.get(ticket);
      if (qr && (qr.expiresAt === undefined || qr.expiresAt > clock.now())) {
        ctx.type = 'image/png';
        ctx.body = PNG;
        return;
      }
    }
    ctx.status = 404;
    ctx.body = '';
  });

  // JS-SDK -----------------------------------------------------------------------------------------
  router.get('/cgi-bin/ticket/getticket', (ctx) => {
    const state = accountOf(ctx);
    if (ctx.query.type !== 'jsapi' && ctx.query.type !== 'wx_card') throw new WxError(40097, 'invalid args: type');
    const now = clock.now();
    if (!state.jsapiTicket || state.jsapiTicket.expiresAt <= now)
      state.jsapiTicket = { ticket: randomBytes(40).toString('base64url'), expiresAt: now + TOKEN_LIFETIME_MS };
    ctx.body = {
      errcode: 0,
      errmsg: 'ok',
      ticket: state.jsapiTicket.ticket,
      expires_in: Math.floor((state.jsapiTicket.expiresAt - now) / 1000),
    };
  });

  // OAuth2 web authorisation ----------------------------------------------------------------------
  /** The consent page stand-in: `openid` says who is browsing; answers the redirect with a code. */
  router.get('/connect/oauth2/authorize', (ctx) => {
    const state = store.byAppid(str(ctx.query.appid) ?? '');
    const redirect = str(ctx.query.redirect_uri);
    const scope = ctx.query.scope === 'snsapi_userinfo' ? 'snsapi_userinfo' : 'snsapi_base';
    const openid = str(ctx.query.openid);
    if (!state || !redirect || !openid) {
      ctx.status = 400;
      ctx.body = 'appid, redirect_uri and openid (the sandbox user) are required';
      return;
    }
    const code = issueOAuthCode(env, state, openid, scope);
    const target = new URL(redirect);
    target.searchParams.set('code', code);
    target.searchParams.set('state', str(ctx.query.state) ?? '');
    ctx.redirect(target.toString());
  });

  router.get('/sns/oauth2/access_token', (ctx) => {
    if (ctx.query.grant_type !== 'authorization_code') throw new WxError(40002, 'invalid grant_type');
    const state = credentials(env, ctx.query.appid, ctx.query.secret);
    const code = state.oauthCodes.get(str(ctx.query.code) ?? '');
    if (!code || code.expiresAt <= clock.now()) throw new WxError(40029, 'invalid code');
    if (code.used) throw new WxError(40163, 'code been used');
    code.used = true;
    ctx.body = grant(env, state, code.openid, code.scope);
  });

  router.get('/sns/oauth2/refresh_token', (ctx) => {
    const state = store.byAppid(str(ctx.query.appid) ?? '');
    if (!state) throw new WxError(40013, 'invalid appid');
    const previous = state.refreshGrants.get(str(ctx.query.refresh_token) ?? '');
    if (!previous) throw new WxError(40030, 'invalid refresh_token');
    if (previous.expiresAt <= clock.now()) throw new WxError(42002, 'refresh_token expired');
    ctx.body = grant(env, state, previous.openid, previous.scope);
  });

  router.get('/sns/userinfo', (ctx) => {
    const token = str(ctx.query.access_token) ?? '';
    for (const state of store.accounts.values()) {
      const g = state.userGrants.get(token);
      if (!g) continue;
      if (g.expiresAt <= clock.now()) throw new WxError(42001, 'access_token expired');
      if (g.scope !== 'snsapi_userinfo') throw new WxError(48001, 'api unauthorized');
      if (str(ctx.query.openid) !== g.openid) throw new WxError(40003, 'invalid openid');
      const f = store.follower(state, g.openid);
      ctx.body = { openid: f.openid, nickname: f.nickname, headimgurl: '', privilege: [], unionid: f.unionid };
      return;
    }
    throw new WxError(40001, 'invalid credential, access_token is invalid or not latest');
  });

  router.get('/sns/auth', (ctx) => {
    const token = str(ctx.query.access_token) ?? '';
    for (const state of store.accounts.values()) {
      const g = state.userGrants.get(token);
      if (g && g.expiresAt > clock.now() && g.openid === str(ctx.query.openid)) {
        ctx.body = { errcode: 0, errmsg: 'ok' };
        return;
      }
    }
    throw new WxError(40003, 'invalid openid');
  });
}

function grant(env: WechatEnv, state: AccountState, openid: string, scope: string): Record<string, unknown> {
  const now = env.clock.now();
  const accessToken = `SBX_U_${randomBytes(24).toString('base64url')}`;
  const refreshToken = `SBX_R_${randomBytes(24).toString('base64url')}`;
  state.userGrants.set(accessToken, { openid, scope, expiresAt: now + TOKEN_LIFETIME_MS });
  state.refreshGrants.set(refreshToken, { openid, scope, expiresAt: now + 30 * 24 * 3600_000 });
  const f = env.state.follower(state, openid);
  return {
    access_token: accessToken,
    expires_in: TOKEN_LIFETIME_MS / 1000,
    refresh_token: refreshToken,
    openid,
    scope,
    ...(scope === 'snsapi_userinfo' ? { unionid: f.unionid } : {}),
  };
}

/** A one-time OAuth code (5 minutes) for a user of the account, as the consent page would issue. */
export function issueOAuthCode(
  env: WechatEnv,
  state: AccountState,
  openid: string,
  scope: 'snsapi_base' | 'snsapi_userinfo',
): string {
  env.state.follower(state, openid);
  const code = randomBytes(16).toString('hex');
  state.oauthCodes.set(code, { openid, scope, expiresAt: env.clock.now() + 5 * 60_000, used: false });
  return code;
}
