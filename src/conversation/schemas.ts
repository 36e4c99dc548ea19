/**
 * What staff define, validated once at the edge (admin API, menu files): rules, named replies, service
 * providers, per-account settings (welcome, default reply, service hours) and menus within WeChat's limits.
 */
import { z } from 'zod';
import { MENU_BUTTON_TYPES } from '../platform/wechat/index.js';
import { MATCH_TYPES } from './keywords/matcher.js';
import { checkRegex } from './keywords/regex-safety.js';

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:mm');
export const ActiveWindowSchema = z
  .object({ days: z.array(z.number().int().min(1).max(7)).min(1).max(7).optional(), from: HHMM, to: HHMM })
  .strict();

/** An action by name (`reply`, `service_query`, `handoff`, `reminder`, `opt_out`, or one another domain registered). */
export const AnswerSchema = z
  .object({
    action: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type Answer = z.infer<typeof AnswerSchema>;

const Article = z
  .object({
    title: z.string().min(1).max(64),
    description: z.string().max(256).optional(),
    picUrl: z.url().optional(),
    url: z.url().optional(),
  })
  .strict();

/** A reply's content; text may hold profile variables: {{name}}, {{tier}}, {{region}}, {{attributes.KEY}}. */
export const ReplyContentSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string().min(1).max(2000) }).strict(),
  z.object({ type: z.literal('news'), articles: z.array(Article).min(1).max(8) }).strict(),
  z.object({ type: z.literal('image'), mediaId: z.string().min(1).max(128) }).strict(),
]);
export type ReplyContent = z.infer<typeof ReplyContentSchema>;

export const AccountKey = z.string().regex(/^(\*|[A-Za-z0-9_-]{1,32})$/);

export const RuleInputSchema = z
  .object({
    account: AccountKey.default('*'),
    name: z.string().min(1).max(64),
    match: z.enum(MATCH_TYPES),
    pattern: z.string().min(1).max(200),
    priority: z.number().int().min(-1000).max(1000).default(0),
    tiers: z.array(z.string().min(1).max(32)).min(1).optional(),
    window: ActiveWindowSchema.optional(),
    /** A numbered command ("1", "2"…): matched exactly, and listed when the follower sends "0". */
    command: z
      .string()
      .regex(/^[1-9]\d?$/)
      .optional(),
    answer: AnswerSchema,
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.match !== 'regex') return;
    const verdict = checkRegex(rule.pattern);
    if (!verdict.ok) ctx.addIssue({ code: 'custom', path: ['pattern'], message: `regex refused: ${verdict.reason}` });
  });
export type RuleInput = z.infer<typeof RuleInputSchema>;

export const NamedReplySchema = z
  .object({
    account: AccountKey.default('*'),
    key: z.string().regex(/^[a-z0-9_.-]{1,64}$/),
    content: ReplyContentSchema,
  })
  .strict();
export type NamedReply = z.infer<typeof NamedReplySchema>;

export const ProviderSchema = z
  .object({
    key: z.string().regex(/^[a-z0-9_-]{1,32}$/),
    url: z.url(),
    /** HMAC-SHA256 key of the request signature. */
    secret: z.string().min(16).max(256),
    /** How long the provider may take in total; the passive reply waits only until the gateway's deadline. */
    timeoutMs: z.number().int().min(100).max(15_000).default(8000),
    /** Seconds an answer may be reused for the same follower and query (0 = never). */
    cacheSeconds: z.number().int().min(0).max(86_400).default(0),
    fallbackText: z.string().min(1).max(300).default('正在为您查询，结果稍后发送给您。'),
  })
  .strict();
export type Provider = z.infer<typeof ProviderSchema>;

const WelcomeScene = z.enum(['plain', 'referral', 'campaign', 'staff']);
export type WelcomeSceneKind = z.infer<typeof WelcomeScene>;

export const SettingsSchema = z
  .object({
    account: AccountKey,
    /** Welcome by scene; `returning` variants answer followers who had unfollowed before. */
    welcome: z
      .partialRecord(z.enum(['plain', 'referral', 'campaign', 'staff', 'returning']), ReplyContentSchema)
      .default({}),
    defaultReply: ReplyContentSchema.optional(),
    /** A follower gets the default reply at most once per this many seconds. */
    defaultReplyCooldownSeconds: z.number().int().min(0).max(86_400).default(600),
    serviceHours: ActiveWindowSchema.default({ days: [1, 2, 3, 4, 5], from: '09:00', to: '18:00' }),
    handoffClosedText: z
      .string()
      .min(1)
      .max(300)
      .default('人工客服服务时间为工作日 9:00-18:00，您的问题已记录，我们会尽快回复。'),
    kfAccount: z.string().max(64).optional(),
  })
  .strict();
export type Settings = z.infer<typeof SettingsSchema>;
export { WelcomeScene };

// Menus: https://developers.weixin.qq.com/doc/service/api/custommenu/api_createcustommenu
const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const needs: Partial<
  Record<(typeof MENU_BUTTON_TYPES)[number], Array<'key' | 'url' | 'media_id' | 'article_id' | 'appid'>>
> = {
  click: ['key'],
  view: ['url'],
  scancode_push: ['key'],
  scancode_waitmsg: ['key'],
  pic_sysphoto: ['key'],
  pic_photo_or_album: ['key'],
  pic_weixin: ['key'],
  location_select: ['key'],
  media_id: ['media_id'],
  view_limited: ['media_id'],
  article_id: ['article_id'],
  article_view_limited: ['article_id'],
  miniprogram: ['appid', 'url'],
};

const Leaf = z
  .object({
    name: z
      .string()
      .min(1)
      .refine((s) => utf8Bytes(s) <= 60, 'sub-button names are at most 60 bytes'),
    type: z.enum(MENU_BUTTON_TYPES),
    key: z.string().max(128).optional(),
    url: z.url().max(1024).optional(),
    media_id: z.string().optional(),
    article_id: z.string().optional(),
    appid: z.string().optional(),
    pagepath: z.string().optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    for (const field of needs[b.type] ?? [])
      if (!b[field]) ctx.addIssue({ code: 'custom', path: [field], message: `a ${b.type} button needs ${field}` });
  });

const Top = z.union([
  Leaf.refine((b) => utf8Bytes(b.name) <= 16, 'top-level names are at most 16 bytes'),
  z
    .object({
      name: z
        .string()
        .min(1)
        .refine((s) => utf8Bytes(s) <= 16, 'top-level names are at most 16 bytes'),
      sub_button: z.array(Leaf).min(1).max(5),
    })
    .strict(),
]);
export const MenuButtonsSchema = z.array(Top).min(1).max(3);
export type MenuButtons = z.infer<typeof MenuButtonsSchema>;

/** One account's menus: the default, conditional ones shown to a tier (through a WeChat tag), and click keys → actions. */
export const MenuSetSchema = z
  .object({
    default: MenuButtonsSchema,
    conditional: z
      .array(
        z
          .object({ name: z.string().min(1).max(32), tier: z.string().min(1).max(32), buttons: MenuButtonsSchema })
          .strict(),
      )
      .max(10)
      .default([]),
    actions: z.record(z.string().min(1).max(128), AnswerSchema).default({}),
  })
  .strict()
  .superRefine((set, ctx) => {
    const keys = new Set<string>();
    const walk = (buttons: MenuButtons) => {
      for (const b of buttons) {
        if ('sub_button' in b) walk(b.sub_button);
        else if (b.type === 'click' && b.key) keys.add(b.key);
      }
    };
    walk(set.default);
    for (const c of set.conditional) walk(c.buttons);
    for (const key of Object.keys(set.actions))
      if (!keys.has(key))
        ctx.addIssue({ code: 'custom', path: ['actions', key], message: 'no click button has this key' });
  });
export type MenuSet = z.infer<typeof MenuSetSchema>;
