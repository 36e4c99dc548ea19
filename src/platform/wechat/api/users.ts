/**
 * Followers: profile, batch profile (100 a call), the follower list (10 000 openids a page).
 * https://developers.weixin.qq.com/doc/service/api/usermanage/userinfo/api_userinfo
 * https://developers.weixin.qq.com/doc/service/api/usermanage/userinfo/api_batchuserinfo.html
 */
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

const UserInfoSchema = z
  .object({
    subscribe: z.number().int(),
    openid: z.string(),
    unionid: z.string().optional(),
    subscribe_time: z.number().int().optional(),
    subscribe_scene: z.string().optional(),
    remark: z.string().optional(),
    tagid_list: z.array(z.number().int()).optional(),
    qr_scene: z.number().int().optional(),
    qr_scene_str: z.string().optional(),
    language: z.string().optional(),
  })
  .loose();

export interface WechatUser {
  openid: string;
  subscribed: boolean;
  unionid?: string;
  /** Last follow, UTC. */
  subscribedAt?: Date;
  subscribeScene?: string;
  remark?: string;
  tagIds: number[];
  qrScene?: number;
  qrSceneStr?: string;
}

function toUser(raw: z.infer<typeof UserInfoSchema>): WechatUser {
  return {
    openid: raw.openid,
    subscribed: raw.subscribe === 1,
    unionid: raw.unionid,
    subscribedAt: raw.subscribe_time ? new Date(raw.subscribe_time * 1000) : undefined,
    subscribeScene: raw.subscribe_scene,
    remark: raw.remark || undefined,
    tagIds: raw.tagid_list ?? [],
    qrScene: raw.qr_scene || undefined,
    qrSceneStr: raw.qr_scene_str || undefined,
  };
}

const FollowerPage = z.object({
  total: z.number().int(),
  count: z.number().int(),
  data: z.object({ openid: z.array(z.string()) }).optional(),
  next_openid: z.string().optional(),
});

export interface FollowerPageResult {
  total: number;
  openids: string[];
  /** Pass to the next call; undefined once the list is exhausted. */
  nextOpenid?: string;
}

export interface UserApi {
  /** A follower's profile; `subscribed: false` (and little else) for someone who does not follow. */
  getUser(openid: string): Promise<WechatUser>;
  /** Profiles of many openids, asked 100 at a time. */
  batchGetUsers(openids: string[]): Promise<WechatUser[]>;
  /** One page of the follower list (up to 10 000 openids). */
  listFollowers(nextOpenid?: string): Promise<FollowerPageResult>;
  /** Every follower's openid, page after page. */
  allFollowers(): AsyncGenerator<string[], void, void>;
}

export const BATCHGET_LIMIT = 100;

export function userApi(caller: WechatCaller): UserApi {
  const api: UserApi = {
    async getUser(openid) {
      const raw = await caller.call({
        method: 'GET',
        path: '/cgi-bin/user/info',
        query: { openid, lang: 'zh_CN' },
        schema: UserInfoSchema,
      });
      return toUser(raw);
    },
    async batchGetUsers(openids) {
      const users: WechatUser[] = [];
      for (let i = 0; i < openids.length; i += BATCHGET_LIMIT) {
        const chunk = openids.slice(i, i + BATCHGET_LIMIT);
        const got = await caller.call({
          method: 'POST',
          path: '/cgi-bin/user/info/batchget',
          body: { user_list: chunk.map((openid) => ({ openid, lang: 'zh_CN' })) },
          schema: z.object({ user_info_list: z.array(UserInfoSchema) }),
        });
        users.push(...got.user_info_list.map(toUser));
      }
      return users;
    },
    async listFollowers(nextOpenid) {
      const page = await caller.call({
        method: 'GET',
        path: '/cgi-bin/user/get',
        query: { next_openid: nextOpenid ?? '' },
        schema: FollowerPage,
      });
      const openids = page.data?.openid ?? [];
      return {
        total: page.total,
        openids,
        nextOpenid: openids.length > 0 && page.next_openid ? page.next_openid : undefined,
      };
    },
    async *allFollowers() {
      let next: string | undefined;
      do {
        const page = await api.listFollowers(next);
        if (page.openids.length > 0) yield page.openids;
        next = page.nextOpenid;
      } while (next);
    },
  };
  return api;
}
