/**
 * Sandbox routes for followers and tags: user/info, batchget (≤ 100), the paged follower list, tag CRUD
 * (≤ 100 tags, names ≤ 30 bytes, ids 0/1/2 reserved), batch tagging (≤ 50 openids, ≤ 20 tags a follower),
 * tags of a follower and followers of a tag.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { accountOf, bodyOf, knownFollower, obj, str, utf8Length, WxError, type WechatEnv } from './env.js';
import type { AccountState, SandboxFollower } from './state.js';

const RESERVED_TAGS = new Map([[2, '星标组']]);

function userInfo(f: SandboxFollower): Record<string, unknown> {
  if (!f.subscribed) return { subscribe: 0, openid: f.openid };
  return {
    subscribe: 1,
    openid: f.openid,
    language: 'zh_CN',
    subscribe_time: f.subscribeTime,
    unionid: f.unionid,
    remark: f.remark,
    groupid: 0,
    tagid_list: f.tagIds,
    subscribe_scene: f.subscribeScene ?? 'ADD_SCENE_OTHERS',
    qr_scene: f.qrScene ?? 0,
    qr_scene_str: f.qrSceneStr ?? '',
  };
}

function page(list: string[], next: string | undefined, size: number): Record<string, unknown> {
  const start = next ? list.indexOf(next) + 1 : 0;
  if (next && start === 0) throw new WxError(40003, 'invalid next_openid');
  const slice = list.slice(start, start + size);
  return {
    count: slice.length,
    ...(slice.length > 0 ? { data: { openid: slice } } : {}),
    next_openid: slice[slice.length - 1] ?? '',
  };
}

function tagOf(state: AccountState, id: unknown): { id: number; name: string } {
  const n = Number(id);
  const tag = state.tags.get(n);
  if (!tag) throw new WxError(45159, 'invalid tag id');
  return tag;
}

function tagName(raw: unknown, state: AccountState, except?: number): string {
  const name = str(raw);
  if (!name) throw new WxError(45157, 'invalid tag name');
  if (utf8Length(name) > 30) throw new WxError(45158, 'tag name too long');
  for (const t of [...state.tags.values(), ...[...RESERVED_TAGS].map(([id, n]) => ({ id, name: n }))])
    if (t.name === name && t.id !== except) throw new WxError(45157, 'invalid tag name');
  return name;
}

export function registerUserRoutes(router: Router, env: WechatEnv): void {
  router.get('/cgi-bin/user/info', (ctx) => {
    const state = accountOf(ctx);
    ctx.body = userInfo(knownFollower(state, ctx.query.openid));
  });

  router.post('/cgi-bin/user/info/batchget', (ctx) => {
    const state = accountOf(ctx);
    const list = bodyOf(ctx).user_list;
    if (!Array.isArray(list) || list.length === 0 || list.length > 100)
      throw new WxError(40032, 'invalid openid list size');
    ctx.body = { user_info_list: list.map((item) => userInfo(knownFollower(state, obj(item)?.openid))) };
  });

  router.get('/cgi-bin/user/get', (ctx) => {
    const state = accountOf(ctx);
    const subscribed = [...state.followers.values()].filter((f) => f.subscribed).map((f) => f.openid);
    const next = str(ctx.query.next_openid) || undefined;
    ctx.body = { total: subscribed.length, ...page(subscribed, next, env.settings.followerPageSize) };
  });

  router.post('/cgi-bin/user/info/updateremark', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const follower = knownFollower(state, body.openid);
    const remark = str(body.remark) ?? '';
    if (remark.length >= 30) throw new WxError(45113, 'remark too long');
    follower.remark = remark;
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  router.post('/cgi-bin/tags/create', (ctx) => {
    const state = accountOf(ctx);
    const name = tagName(obj(bodyOf(ctx).tag)?.name, state);
    if (state.tags.size >= 100) throw new WxError(45056, 'too many tags');
    const tag = { id: state.nextTagId++, name };
    state.tags.set(tag.id, tag);
    ctx.body = { tag };
  });

  router.get('/cgi-bin/tags/get', (ctx) => {
    const state = accountOf(ctx);
    const count = (id: number) =>
      [...state.followers.values()].filter((f) => f.subscribed && f.tagIds.includes(id)).length;
    ctx.body = {
      tags: [
        ...[...RESERVED_TAGS].map(([id, name]) => ({ id, name, count: count(id) })),
        ...[...state.tags.values()].map((t) => ({ id: t.id, name: t.name, count: count(t.id) })),
      ],
    };
  });

  router.post('/cgi-bin/tags/update', (ctx) => {
    const state = accountOf(ctx);
    const body = obj(bodyOf(ctx).tag) ?? {};
    if ([0, 1, 2].includes(Number(body.id))) throw new WxError(45058, 'can not modify the system tag');
    const tag = tagOf(state, body.id);
    tag.name = tagName(body.name, state, tag.id);
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  router.post('/cgi-bin/tags/delete', (ctx) => {
    const state = accountOf(ctx);
    const id = Number(obj(bodyOf(ctx).tag)?.id);
    if ([0, 1, 2].includes(id)) throw new WxError(45058, 'can not modify the system tag');
    const tag = tagOf(state, id);
    const holders = [...state.followers.values()].filter((f) => f.tagIds.includes(tag.id));
    if (holders.length > 100_000) throw new WxError(45057, 'can not delete the tag that has too many fans');
    for (const f of holders) f.tagIds = f.tagIds.filter((t) => t !== tag.id);
    state.tags.delete(tag.id);
    ctx.body = { errcode: 0, errmsg: 'ok' };
  });

  const batch = (tagging: boolean) => (ctx: Context) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const list = body.openid_list;
    if (!Array.isArray(list) || list.length === 0 || list.length > 50)
      throw new WxError(40032, 'invalid openid list size');
    const tagId = Number(body.tagid);
    if (!RESERVED_TAGS.has(tagId)) tagOf(state, tagId);
    // Validate every openid first: WeChat applies a batch whole or not at all.
    const followers = list.map((id) => knownFollower(state, id));
    if (tagging)
      for (const f of followers)
        if (!f.tagIds.includes(tagId) && f.tagIds.length >= 20)
          throw new WxError(45059, 'user tag count exceeds limit');
    for (const f of followers) {
      f.tagIds = f.tagIds.filter((t) => t !== tagId);
      if (tagging) f.tagIds.push(tagId);
    }
    ctx.body = { errcode: 0, errmsg: 'ok' };
  };
  router.post('/cgi-bin/tags/members/batchtagging', batch(true));
  router.post('/cgi-bin/tags/members/batchuntagging', batch(false));

  router.post('/cgi-bin/tags/getidlist', (ctx) => {
    const state = accountOf(ctx);
    ctx.body = { tagid_list: knownFollower(state, bodyOf(ctx).openid).tagIds };
  });

  router.post('/cgi-bin/user/tag/get', (ctx) => {
    const state = accountOf(ctx);
    const body = bodyOf(ctx);
    const tagId = Number(body.tagid);
    if (!RESERVED_TAGS.has(tagId)) tagOf(state, tagId);
    const holders = [...state.followers.values()]
      .filter((f) => f.subscribed && f.tagIds.includes(tagId))
      .map((f) => f.openid);
    ctx.body = page(holders, str(body.next_openid) || undefined, env.settings.followerPageSize);
  });
}
