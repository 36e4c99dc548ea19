/**
 * Menus as data, published through the official-account client: the default menu, and one conditional
 * menu per tier shown through a WeChat tag (`tier_<tier>`), with a diff against what is live and a history
 * of every publish. A CRM tier change re-tags the follower so WeChat shows the right menu.
 */
import { Types } from 'mongoose';
import type { Crm } from '../crm/index.js';
import { DomainError } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import type { MenuButton, WechatClients } from '../platform/wechat/index.js';
import { isPlatformError } from '../platform/kernel/errors.js';
import type { ConversationCache } from './cache.js';
import { tierCacheKey } from './engine.js';
import { MenuPublish } from './model.js';
import type { MenuButtons } from './schemas.js';

export interface MenusDeps {
  cache: ConversationCache;
  redis: Redis;
  logger: Logger;
  wechatClients: WechatClients;
  crm: Crm;
}

export interface MenuDiff {
  /** Parts that differ from what is live: `default`, `conditional:<name>`, `remove:<menuid>`. */
  changed: string[];
  live: { default?: MenuButton[]; conditional: Array<{ menuId: string; tagId?: string; buttons: MenuButton[] }> };
}

const tierTagName = (tier: string) => `tier_${tier}`;

/** A stable form for comparison: keys sorted, WeChat's `{ list: [] }` sub-buttons read as arrays. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([k, v]) => v !== undefined && !(k === 'sub_button' && Array.isArray(v) && v.length === 0))
      .map(([k, v]) => {
        if (k === 'sub_button' && v && typeof v === 'object' && 'list' in v) return [k, canonical(v.list)];
        return [k, canonical(v)];
      })
      .filter(([k, v]) => !(k === 'sub_button' && Array.isArray(v) && v.length === 0));
    return Object.fromEntries(entries.sort(([a], [b]) => String(a).localeCompare(String(b))));
  }
  return value;
}
const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

export function createMenus(deps: MenusDeps) {
  const log = deps.logger.child({ domain: 'conversation' });

  function menusOf(account: string) {
    const menus = deps.cache.current().menus(account);
    if (!menus) throw new DomainError('not_found', 'menu_not_found', `No menu is defined for account "${account}".`);
    return menus;
  }

  /** The WeChat tag id standing for a tier on an account (found or created once, kept in Redis). */
  async function tierTagId(account: string, tier: string): Promise<number> {
    const key = `conversation:tiertags:${account}`;
    const known = await deps.redis.hget(key, tier);
    if (known) return Number(known);
    const client = deps.wechatClients(account);
    const name = tierTagName(tier);
    let id = (await client.listTags()).find((t) => t.name === name)?.id;
    if (id === undefined) {
      try {
        id = (await client.createTag(name)).id;
      } catch (err) {
        // 45157: created meanwhile by another process (or a timed-out first attempt).
        if (!isPlatformError(err, 45157)) throw err;
        id = (await client.listTags()).find((t) => t.name === name)?.id;
        if (id === undefined) throw err;
      }
    }
    await deps.redis.hset(key, tier, String(id));
    return id;
  }

  async function diff(account: string): Promise<MenuDiff> {
    const menus = menusOf(account);
    const live = await deps.wechatClients(account).getMenu();
    const changed: string[] = [];
    if (!live || !same(live.menu, menus.default)) changed.push('default');
    const liveConditional = live?.conditional ?? [];
    const wanted = new Set<string>();
    for (const c of menus.conditional) {
      const tagId = String(await tierTagId(account, c.tier));
      const match = liveConditional.find((m) => m.matchRule.tag_id === tagId && same(m.button, c.buttons));
      if (match) wanted.add(match.menuId);
      else changed.push(`conditional:${c.name}`);
    }
    for (const m of liveConditional) if (!wanted.has(m.menuId)) changed.push(`remove:${m.menuId}`);
    return {
      changed,
      live: {
        ...(live ? { default: live.menu } : {}),
        conditional: liveConditional.map((m) => ({
          menuId: m.menuId,
          ...(m.matchRule.tag_id ? { tagId: m.matchRule.tag_id } : {}),
          buttons: m.button,
        })),
      },
    };
  }

  /** Publishes the account's menus when they differ from what is live; every attempt is recorded. */
  async function publish(account: string, by: string) {
    const menus = menusOf(account);
    const at = new Date();
    const { changed, live } = await diff(account);
    if (changed.length === 0) {
      const row = await MenuPublish.create({ account, by, at, menus, changed, outcome: 'unchanged' });
      return { id: String(row._id), outcome: 'unchanged' as const, changed, menuIds: {} };
    }
    const client = deps.wechatClients(account);
    const menuIds: Record<string, string> = {};
    try {
      await client.createMenu(menus.default);
      for (const m of live.conditional) {
        try {
          await client.deleteConditionalMenu(m.menuId);
        } catch (err) {
          if (!isPlatformError(err, 65301)) throw err; // already gone
        }
      }
      for (const c of menus.conditional) {
        const tagId = await tierTagId(account, c.tier);
        menuIds[c.name] = await client.addConditionalMenu(c.buttons, { tag_id: String(tagId) });
      }
    } catch (err) {
      const row = await MenuPublish.create({
        account,
        by,
        at,
        menus,
        changed,
        menuIds,
        outcome: 'failed',
        error: err instanceof Error ? err.message : String(err),
      });
      log.error({ err, account, publishId: String(row._id) }, 'conversation: menu publish failed');
      throw new DomainError(
        'unavailable',
        'menu_publish_failed',
        'WeChat refused or did not answer the menu publish.',
        {
          publishId: String(row._id),
        },
      );
    }
    const row = await MenuPublish.create({ account, by, at, menus, changed, menuIds, outcome: 'published' });
    return { id: String(row._id), outcome: 'published' as const, changed, menuIds };
  }

  async function history(account: string, limit = 50) {
    const rows = await MenuPublish.find({ account }).sort({ at: -1 }).limit(limit).lean();
    return rows.map((r) => ({
      id: String(r._id),
      account: r.account,
      by: r.by,
      at: r.at.toISOString(),
      outcome: r.outcome,
      changed: r.changed,
      ...(r.error ? { error: r.error } : {}),
    }));
  }

  /** Re-tags a profile's followers after a tier change, for accounts whose conditional menus name either tier. */
  async function syncTier(change: { profileId: string; from?: string; to: string }): Promise<void> {
    await deps.redis.del(tierCacheKey(change.profileId));
    const view = await deps.crm.profiles.view({ profileId: new Types.ObjectId(change.profileId) });
    for (const follower of view.followers) {
      if (!follower.subscribed) continue;
      const menus = deps.cache.current().menus(follower.account);
      const tiers = new Set(menus?.conditional.map((c) => c.tier) ?? []);
      const client = deps.wechatClients(follower.account);
      if (change.from && tiers.has(change.from))
        await client.untagUsers(await tierTagId(follower.account, change.from), [follower.openid]);
      if (tiers.has(change.to)) await client.tagUsers(await tierTagId(follower.account, change.to), [follower.openid]);
      log.info(
        { profileId: change.profileId, account: follower.account, to: change.to },
        'conversation: tier re-tagged',
      );
    }
  }

  return { diff, publish, history, syncTier, tierTagId };
}

export type Menus = ReturnType<typeof createMenus>;
export type { MenuButtons };
