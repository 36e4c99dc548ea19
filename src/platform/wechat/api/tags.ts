/**
 * Follower tags: at most 100 per account, 20 per follower, 50 openids per batch (chunked here).
 * https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html
 */
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

export interface WechatTag {
  id: number;
  name: string;
  count: number;
}

const Ok = z.object({ errcode: z.number().optional() }).loose();

export interface TagApi {
  createTag(name: string): Promise<{ id: number; name: string }>;
  listTags(): Promise<WechatTag[]>;
  updateTag(id: number, name: string): Promise<void>;
  deleteTag(id: number): Promise<void>;
  /** Tags followers, 50 openids a call. */
  tagUsers(tagId: number, openids: string[]): Promise<void>;
  /** Removes a tag from followers, 50 openids a call. */
  untagUsers(tagId: number, openids: string[]): Promise<void>;
  /** The tag ids a follower holds. */
  tagsOfUser(openid: string): Promise<number[]>;
  /** One page (up to 10 000) of a tag's followers. */
  usersOfTag(tagId: number, nextOpenid?: string): Promise<{ openids: string[]; nextOpenid?: string }>;
}

export const BATCH_TAGGING_LIMIT = 50;

export function tagApi(caller: WechatCaller): TagApi {
  async function batch(path: string, tagId: number, openids: string[]): Promise<void> {
    for (let i = 0; i < openids.length; i += BATCH_TAGGING_LIMIT) {
      await caller.call({
        method: 'POST',
        path,
        body: { openid_list: openids.slice(i, i + BATCH_TAGGING_LIMIT), tagid: tagId },
        schema: Ok,
      });
    }
  }
  return {
    async createTag(name) {
      const got = await caller.call({
        method: 'POST',
        path: '/cgi-bin/tags/create',
        body: { tag: { name } },
        schema: z.object({ tag: z.object({ id: z.number().int(), name: z.string() }) }),
        // A repeated create after a timeout would answer 45157 (name exists); the caller lists and finds it.
        repeatOnTimeout: false,
      });
      return got.tag;
    },
    async listTags() {
      const got = await caller.call({
        method: 'GET',
        path: '/cgi-bin/tags/get',
        schema: z.object({
          tags: z.array(z.object({ id: z.number().int(), name: z.string(), count: z.number().int() })),
        }),
      });
      return got.tags;
    },
    async updateTag(id, name) {
      await caller.call({ method: 'POST', path: '/cgi-bin/tags/update', body: { tag: { id, name } }, schema: Ok });
    },
    async deleteTag(id) {
      await caller.call({ method: 'POST', path: '/cgi-bin/tags/delete', body: { tag: { id } }, schema: Ok });
    },
    tagUsers: (tagId, openids) => batch('/cgi-bin/tags/members/batchtagging', tagId, openids),
    untagUsers: (tagId, openids) => batch('/cgi-bin/tags/members/batchuntagging', tagId, openids),
    async tagsOfUser(openid) {
      const got = await caller.call({
        method: 'POST',
        path: '/cgi-bin/tags/getidlist',
        body: { openid },
        schema: z.object({ tagid_list: z.array(z.number().int()) }),
      });
      return got.tagid_list;
    },
    async usersOfTag(tagId, nextOpenid) {
      const got = await caller.call({
        method: 'POST',
        path: '/cgi-bin/user/tag/get',
        body: { tagid: tagId, next_openid: nextOpenid ?? '' },
        schema: z.object({
          count: z.number().int(),
          data: z.object({ openid: z.array(z.string()) }).optional(),
          next_openid: z.string().optional(),
        }),
      });
      const openids = got.data?.openid ?? [];
      return { openids, nextOpenid: openids.length > 0 && got.next_openid ? got.next_openid : undefined };
    },
  };
}
