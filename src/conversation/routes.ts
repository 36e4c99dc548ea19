/**
 * Conversation admin API: rules, named replies, providers, settings and menus (CRUD with validation),
 * "test this message", the top unmatched texts, and menu diff / publish / publish history.
 */
import { z } from 'zod';
import { adminRoute, IsoDateTime, pageOf, PageQuery, type AdminRoute } from '../staff/index.js';
import type { Conversation } from './index.js';
import {
  AccountKey,
  AnswerSchema,
  MenuSetSchema,
  NamedReplySchema,
  ProviderSchema,
  ReplyContentSchema,
  RuleInputSchema,
  SettingsSchema,
} from './schemas.js';

const tags = ['conversation'];
const Json = z.record(z.string(), z.unknown());
const RuleView = z.object({
  id: z.string(),
  account: z.string(),
  name: z.string(),
  match: z.string(),
  pattern: z.string(),
  priority: z.number(),
  tiers: z.array(z.string()).optional(),
  window: Json.optional(),
  command: z.string().optional(),
  answer: AnswerSchema,
  enabled: z.boolean(),
  updatedAt: IsoDateTime,
});
const RuleParams = z.object({ id: z.string().regex(/^[0-9a-f]{24}$/) }).strict();
const AccountParams = z.object({ account: AccountKey }).strict();
const ReplyParams = z.object({ account: AccountKey, key: z.string().regex(/^[a-z0-9_.-]{1,64}$/) }).strict();
const ProviderView = ProviderSchema.omit({ secret: true });
const PublishView = z.object({
  id: z.string(),
  outcome: z.enum(['published', 'unchanged']),
  changed: z.array(z.string()),
  menuIds: z.record(z.string(), z.string()),
});

export function conversationAdminRoutes(conversation: Conversation): AdminRoute[] {
  const { admin, menus } = conversation;
  return [
    adminRoute(
      {
        method: 'get',
        path: '/conversation/rules',
        permission: 'conversation:manage',
        tags,
        summary: 'Keyword rules, highest priority first',
        query: z.object({ account: AccountKey.optional() }).strict(),
        response: z.object({ items: z.array(RuleView) }),
      },
      async (call) => ({ items: await admin.listRules(call.query.account) }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/conversation/rules',
        permission: 'conversation:manage',
        tags,
        summary: 'Create a keyword rule (regular expressions that could backtrack catastrophically are refused)',
        body: RuleInputSchema,
        response: RuleView,
        status: 201,
        audit: { action: 'conversation.rule.create', targetType: 'conversation_rule' },
      },
      async (call) => {
        const rule = await admin.createRule(call.body, call.principal.staffId);
        call.audit.targetId = rule.id;
        call.audit.after = { name: rule.name, match: rule.match, priority: rule.priority };
        return rule;
      },
    ),
    adminRoute(
      {
        method: 'put',
        path: '/conversation/rules/:id',
        permission: 'conversation:manage',
        tags,
        summary: 'Replace a keyword rule',
        params: RuleParams,
        body: RuleInputSchema,
        response: RuleView,
        audit: { action: 'conversation.rule.update', targetType: 'conversation_rule' },
      },
      async (call) => {
        const rule = await admin.replaceRule(call.params.id, call.body, call.principal.staffId);
        call.audit.after = { name: rule.name, match: rule.match, priority: rule.priority };
        return rule;
      },
    ),
    adminRoute(
      {
        method: 'delete',
        path: '/conversation/rules/:id',
        permission: 'conversation:manage',
        tags,
        summary: 'Delete a keyword rule',
        params: RuleParams,
        audit: { action: 'conversation.rule.delete', targetType: 'conversation_rule' },
      },
      async (call) => admin.deleteRule(call.params.id),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/test',
        permission: 'conversation:manage',
        tags,
        summary: 'Which rule would answer this message, for an account and tier',
        query: z
          .object({ account: AccountKey, text: z.string().min(1).max(500), tier: z.string().max(32).optional() })
          .strict(),
        response: z.object({
          matched: z.boolean(),
          commandList: z.boolean().optional(),
          rule: Json.optional(),
          answer: AnswerSchema.optional(),
        }),
      },
      async (call) => admin.testMessage(call.query),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/unmatched',
        permission: 'conversation:manage',
        tags,
        summary: 'The texts nothing answered, most frequent first',
        query: z
          .object({
            account: AccountKey,
            days: z.coerce.number().int().min(1).max(90).default(7),
            limit: z.coerce.number().int().min(1).max(200).default(50),
          })
          .strict(),
        response: z.object({ items: z.array(z.object({ text: z.string(), count: z.number() })) }),
      },
      async (call) => ({
        items: await admin.unmatchedReport({
          account: call.query.account,
          since: new Date(Date.now() - call.query.days * 86_400_000),
          limit: call.query.limit,
        }),
      }),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/handoffs',
        permission: 'conversation:manage',
        tags,
        summary: 'Hand-offs to a human agent, newest first: passed to WeChat customer service, or out of hours',
        query: z.object({ ...PageQuery, account: AccountKey }).strict(),
        response: pageOf(
          z.object({
            id: z.string(),
            openid: z.string(),
            profileId: z.string().optional(),
            outcome: z.enum(['transferred', 'closed_hours']),
            kfAccount: z.string().optional(),
            at: z.string(),
          }),
        ),
      },
      async (call) => admin.handoffs(call.query),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/replies',
        permission: 'conversation:manage',
        tags,
        summary: 'Named replies',
        response: z.object({ items: z.array(NamedReplySchema) }),
      },
      async () => ({ items: await admin.listReplies() }),
    ),
    adminRoute(
      {
        method: 'put',
        path: '/conversation/replies/:account/:key',
        permission: 'conversation:manage',
        tags,
        summary: 'Create or replace a named reply',
        params: ReplyParams,
        body: z.object({ content: ReplyContentSchema }).strict(),
        response: NamedReplySchema,
        audit: { action: 'conversation.reply.put', targetType: 'conversation_reply' },
      },
      async (call) => {
        call.audit.targetId = `${call.params.account}/${call.params.key}`;
        return admin.putReply({ ...call.params, content: call.body.content });
      },
    ),
    adminRoute(
      {
        method: 'delete',
        path: '/conversation/replies/:account/:key',
        permission: 'conversation:manage',
        tags,
        summary: 'Delete a named reply',
        params: ReplyParams,
        audit: { action: 'conversation.reply.delete', targetType: 'conversation_reply' },
      },
      async (call) => {
        call.audit.targetId = `${call.params.account}/${call.params.key}`;
        await admin.deleteReply(call.params.account, call.params.key);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/providers',
        permission: 'conversation:manage',
        tags,
        summary: 'Service-query providers (secrets are never shown)',
        response: z.object({ items: z.array(ProviderView) }),
      },
      async () => ({ items: await admin.listProviders() }),
    ),
    adminRoute(
      {
        method: 'put',
        path: '/conversation/providers',
        permission: 'conversation:manage',
        tags,
        summary: 'Create or replace a service-query provider (signed requests, timeout, cache, fallback)',
        body: ProviderSchema,
        response: ProviderView,
        audit: { action: 'conversation.provider.put', targetType: 'conversation_provider' },
      },
      async (call) => {
        call.audit.targetId = call.body.key;
        call.audit.after = { url: call.body.url, timeoutMs: call.body.timeoutMs };
        return admin.putProvider(call.body);
      },
    ),
    adminRoute(
      {
        method: 'delete',
        path: '/conversation/providers/:key',
        permission: 'conversation:manage',
        tags,
        summary: 'Delete a provider',
        params: z.object({ key: z.string().regex(/^[a-z0-9_-]{1,32}$/) }).strict(),
        audit: { action: 'conversation.provider.delete', targetType: 'conversation_provider' },
      },
      async (call) => {
        call.audit.targetId = call.params.key;
        await admin.deleteProvider(call.params.key);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/settings/:account',
        permission: 'conversation:manage',
        tags,
        summary: 'Welcome messages, default reply, service hours of an account',
        params: AccountParams,
        response: SettingsSchema,
      },
      async (call) => admin.settings(call.params.account),
    ),
    adminRoute(
      {
        method: 'put',
        path: '/conversation/settings/:account',
        permission: 'conversation:manage',
        tags,
        summary: 'Replace the settings of an account',
        params: AccountParams,
        body: SettingsSchema.omit({ account: true }),
        response: SettingsSchema,
        audit: { action: 'conversation.settings.put', targetType: 'conversation_settings' },
      },
      async (call) => {
        call.audit.targetId = call.params.account;
        return admin.putSettings({ ...call.body, account: call.params.account });
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/menus/:account',
        permission: 'conversation:manage',
        tags,
        summary: "An account's menus (default, conditional by tier, click actions)",
        params: AccountParams,
        response: MenuSetSchema,
      },
      async (call) => admin.menus(call.params.account),
    ),
    adminRoute(
      {
        method: 'put',
        path: '/conversation/menus/:account',
        permission: 'conversation:manage',
        tags,
        summary: "Replace an account's menus (validated against WeChat's limits; publish separately)",
        params: AccountParams,
        body: MenuSetSchema,
        response: MenuSetSchema,
        audit: { action: 'conversation.menu.put', targetType: 'conversation_menu' },
      },
      async (call) => {
        call.audit.targetId = call.params.account;
        return admin.putMenus(call.params.account, call.body, call.principal.staffId);
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/menus/:account/diff',
        permission: 'conversation:manage',
        tags,
        summary: 'What publishing would change on WeChat',
        params: AccountParams,
        response: z.object({ changed: z.array(z.string()), live: Json }),
      },
      async (call) => menus.diff(call.params.account),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/conversation/menus/:account/publish',
        permission: 'menu:publish',
        tags,
        summary: 'Publish the menus to WeChat when they differ from what is live',
        params: AccountParams,
        response: PublishView,
        audit: { action: 'conversation.menu.publish', targetType: 'conversation_menu' },
      },
      async (call) => {
        call.audit.targetId = call.params.account;
        const result = await menus.publish(call.params.account, call.principal.staffId);
        call.audit.after = { outcome: result.outcome, changed: result.changed };
        return result;
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/conversation/menus/:account/publishes',
        permission: 'conversation:manage',
        tags,
        summary: 'Menu publish history, newest first',
        params: AccountParams,
        response: z.object({
          items: z.array(
            z.object({
              id: z.string(),
              account: z.string(),
              by: z.string(),
              at: IsoDateTime,
              outcome: z.string(),
              changed: z.array(z.string()),
              error: z.string().optional(),
            }),
          ),
        }),
      },
      async (call) => ({ items: await menus.history(call.params.account) }),
    ),
  ];
}
