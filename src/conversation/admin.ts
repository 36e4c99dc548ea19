/**
 * Staff operations on what the chat answers: rules, named replies, providers, settings and menus. Every
 * change is validated (schemas.ts), stored, and announced to every process's cache.
 */
import { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../infra/errors.js';
import { findPage } from '../staff/index.js';
import type { ActionRegistry } from './actions.js';
import type { ConversationCache } from './cache.js';
import type { Engine } from './engine.js';
import {
  ConversationHandoff,
  ConversationMenu,
  ConversationProvider,
  ConversationReply,
  ConversationRule,
  ConversationSettings,
  UnmatchedText,
} from './model.js';
import {
  MenuSetSchema,
  SettingsSchema,
  type Answer,
  type MenuSet,
  type NamedReply,
  type Provider,
  type RuleInput,
  type Settings,
} from './schemas.js';

export interface AdminDeps {
  cache: ConversationCache;
  engine: Engine;
  actions: ActionRegistry;
}

function presentRule(r: {
  _id: Types.ObjectId;
  account: string;
  name: string;
  match: string;
  pattern: string;
  priority: number;
  tiers?: string[] | null;
  window?: unknown;
  command?: string | null;
  answer: unknown;
  enabled: boolean;
  updatedAt?: Date;
}) {
  return {
    id: String(r._id),
    account: r.account,
    name: r.name,
    match: r.match,
    pattern: r.pattern,
    priority: r.priority,
    ...(r.tiers?.length ? { tiers: r.tiers } : {}),
    ...(r.window ? { window: r.window as Record<string, unknown> } : {}),
    ...(r.command ? { command: r.command } : {}),
    answer: r.answer as Answer,
    enabled: r.enabled,
    updatedAt: (r.updatedAt ?? new Date()).toISOString(),
  };
}
export type PresentedRule = ReturnType<typeof presentRule>;

const ruleId = (id: string) => {
  if (!Types.ObjectId.isValid(id)) throw new DomainError('not_found', 'rule_not_found', 'No such rule.');
  return new Types.ObjectId(id);
};

export function createConversationAdmin(deps: AdminDeps) {
  const { cache } = deps;
  /** Refuses answers naming an action nobody registered (a typo would otherwise answer nothing). */
  const assertActions = (answers: Answer[]) => {
    const unknown = answers.map((a) => a.action).filter((name) => !deps.actions.has(name));
    if (unknown.length > 0)
      throw new DomainError('invalid', 'unknown_action', `No action is registered as ${unknown.join(', ')}.`, {
        known: deps.actions.list().map((a) => a.name),
      });
  };
  return {
    async listRules(account?: string) {
      const rows = await ConversationRule.find(account ? { account } : {})
        .sort({ priority: -1, _id: 1 })
        .limit(5000)
        .lean();
      return rows.map(presentRule);
    },
    async createRule(input: RuleInput, by: string) {
      assertActions([input.answer]);
      const row = await ConversationRule.create({ ...input, updatedBy: by });
      await cache.changed();
      return presentRule(row.toObject());
    },
    async replaceRule(id: string, input: RuleInput, by: string) {
      assertActions([input.answer]);
      const row = await ConversationRule.findOneAndReplace(
        { _id: ruleId(id) },
        { ...input, updatedBy: by },
        { returnDocument: 'after' },
      ).lean();
      if (!row) throw new DomainError('not_found', 'rule_not_found', 'No such rule.');
      await cache.changed();
      return presentRule(row);
    },
    async deleteRule(id: string) {
      const { deletedCount } = await ConversationRule.deleteOne({ _id: ruleId(id) });
      if (deletedCount === 0) throw new DomainError('not_found', 'rule_not_found', 'No such rule.');
      await cache.changed();
    },

    async listReplies() {
      const rows = await ConversationReply.find().sort({ account: 1, key: 1 }).limit(1000).lean();
      return rows.map((r) => ({ account: r.account, key: r.key, content: r.content as NamedReply['content'] }));
    },
    async putReply(input: NamedReply) {
      await ConversationReply.updateOne(
        { account: input.account, key: input.key },
        { $set: { content: input.content } },
        { upsert: true },
      );
      await cache.changed();
      return input;
    },
    async deleteReply(account: string, key: string) {
      const { deletedCount } = await ConversationReply.deleteOne({ account, key });
      if (deletedCount === 0) throw new DomainError('not_found', 'reply_not_found', 'No such reply.');
      await cache.changed();
    },

    async listProviders() {
      const rows = await ConversationProvider.find().sort({ key: 1 }).lean();
      // The secret never leaves: staff see that one is set.
      return rows.map((p) => ({
        key: p.key,
        url: p.url,
        timeoutMs: p.timeoutMs,
        cacheSeconds: p.cacheSeconds,
        fallbackText: p.fallbackText,
      }));
    },
    async putProvider(input: Provider) {
      try {
        await ConversationProvider.updateOne({ key: input.key }, { $set: input }, { upsert: true });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        await ConversationProvider.updateOne({ key: input.key }, { $set: input });
      }
      await cache.changed();
      const { secret: _secret, ...shown } = input;
      return shown;
    },
    async deleteProvider(key: string) {
      const { deletedCount } = await ConversationProvider.deleteOne({ key });
      if (deletedCount === 0) throw new DomainError('not_found', 'provider_not_found', 'No such provider.');
      await cache.changed();
    },

    settings: (account: string): Settings => cache.current().settings(account),
    async putSettings(input: Settings) {
      const settings = SettingsSchema.parse(input);
      await ConversationSettings.updateOne({ account: settings.account }, { $set: { settings } }, { upsert: true });
      await cache.changed();
      return settings;
    },

    menus(account: string): MenuSet {
      const menus = cache.current().menus(account);
      if (!menus) throw new DomainError('not_found', 'menu_not_found', `No menu is defined for account "${account}".`);
      return menus;
    },
    async putMenus(account: string, menus: MenuSet, by: string) {
      const parsed = MenuSetSchema.parse(menus);
      assertActions(Object.values(parsed.actions));
      await ConversationMenu.updateOne({ account }, { $set: { menus: parsed, updatedBy: by } }, { upsert: true });
      await cache.changed();
      return parsed;
    },

    /** Which rule would answer this text for an account and tier (staff's "test this message"). */
    async testMessage(input: { account: string; text: string; tier?: string }) {
      const decision = await deps.engine.decide(input.account, input.text, async () => input.tier);
      if (!decision) return { matched: false as const };
      if (decision.commandList) return { matched: true as const, commandList: true };
      return { matched: true as const, rule: decision.rule, answer: decision.answer };
    },

    /** The texts nothing answered, most frequent first, since a time. */
    async unmatchedReport(input: { account: string; since: Date; limit: number }) {
      const rows = await UnmatchedText.aggregate<{ _id: string; count: number }>([
        { $match: { account: input.account, at: { $gte: input.since } } },
        { $group: { _id: '$text', count: { $sum: 1 } } },
        { $sort: { count: -1, _id: 1 } },
        { $limit: input.limit },
      ]);
      return rows.map((r) => ({ text: r._id, count: r.count }));
    },

    /** Recent hand-offs of an account, newest first, a page at a time (openids masked for the list). */
    async handoffs(input: { account: string; limit: number; cursor?: string | undefined }) {
      return findPage(ConversationHandoff, {
        filter: { account: input.account },
        sort: { field: 'at', direction: -1 },
        limit: input.limit,
        ...(input.cursor ? { cursor: input.cursor } : {}),
        present: (d) => ({
          id: String(d._id),
          openid: maskOpenid(String(d.openid)),
          ...(typeof d.profileId === 'string' ? { profileId: d.profileId } : {}),
          outcome: d.outcome as 'transferred' | 'closed_hours',
          ...(typeof d.kfAccount === 'string' ? { kfAccount: d.kfAccount } : {}),
          at: (d.at as Date).toISOString(),
        }),
      });
    },
  };
}

/** oAbc…xyz: enough to tell followers apart in a list, not enough to message one. */
function maskOpenid(openid: string): string {
  return openid.length <= 8 ? `${openid.slice(0, 2)}…` : `${openid.slice(0, 4)}…${openid.slice(-3)}`;
}

export type ConversationAdmin = ReturnType<typeof createConversationAdmin>;
