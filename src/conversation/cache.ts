/**
 * Rules, replies, menus, providers and settings held in memory per process, so a callback never waits on
 * a database read for them. Staff changes reload this process at once and every other process through a
 * Redis pub/sub message; a periodic version check covers a message lost while a subscriber reconnected.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import { compileMatcher, type ActiveWindow, type Matcher } from './keywords/matcher.js';
import {
  ConversationMenu,
  ConversationProvider,
  ConversationReply,
  ConversationRule,
  ConversationSettings,
} from './model.js';
import {
  MenuSetSchema,
  ProviderSchema,
  ReplyContentSchema,
  SettingsSchema,
  type Answer,
  type MenuSet,
  type Provider,
  type ReplyContent,
  type Settings,
} from './schemas.js';

export interface RuleAnswer {
  ruleId: string;
  name: string;
  answer: Answer;
  command?: string;
}

export interface NumberedCommand {
  command: string;
  label: string;
  tiers?: string[];
  window?: ActiveWindow;
}

export interface Snapshot {
  loadedAt: Date;
  matcherOf(account: string): Matcher<RuleAnswer>;
  commandsOf(account: string): NumberedCommand[];
  reply(account: string, key: string): ReplyContent | undefined;
  provider(key: string): Provider | undefined;
  settings(account: string): Settings;
  menus(account: string): MenuSet | undefined;
  /** Regex rules refused at load (stored before a stricter check, or edited in the database). */
  refused: Array<{ ruleId: string; reason: string }>;
}

export function menusDir(): string {
  return join(import.meta.dirname, '..', '..', 'templates', 'menus');
}

/** templates/menus/<account>.json, validated; a bad file stops the start with the file and the problem. */
export function loadMenuFiles(dir = menusDir()): Map<string, MenuSet> {
  const menus = new Map<string, MenuSet>();
  if (!existsSync(dir)) return menus;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const parsed = MenuSetSchema.safeParse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    if (!parsed.success)
      throw new Error(
        `templates/menus/${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
      );
    menus.set(file.slice(0, -'.json'.length), parsed.data);
  }
  return menus;
}

async function loadSnapshot(accounts: string[], files: Map<string, MenuSet>, logger: Logger): Promise<Snapshot> {
  const [rules, replies, providers, settings, menus] = await Promise.all([
    ConversationRule.find({ enabled: true }).lean(),
    ConversationReply.find().lean(),
    ConversationProvider.find().lean(),
    ConversationSettings.find().lean(),
    ConversationMenu.find().lean(),
  ]);
  const refused: Snapshot['refused'] = [];
  const compiled = new Map<string, Matcher<RuleAnswer>>();
  const commands = new Map<string, NumberedCommand[]>();
  for (const account of ['*', ...accounts]) {
    const own = rules.filter((r) => r.account === '*' || r.account === account);
    compiled.set(
      account,
      compileMatcher(
        own.map((r) => ({
          id: String(r._id),
          match: r.command ? 'exact' : (r.match as 'exact'),
          pattern: r.command ?? r.pattern,
          priority: r.priority,
          ...(r.tiers?.length ? { tiers: r.tiers } : {}),
          ...(r.window ? { window: r.window as ActiveWindow } : {}),
          answer: {
            ruleId: String(r._id),
            name: r.name,
            answer: r.answer as Answer,
            ...(r.command ? { command: r.command } : {}),
          },
        })),
        (rule, reason) => {
          if (account === '*') refused.push({ ruleId: rule.id, reason });
        },
      ),
    );
    commands.set(
      account,
      own
        .filter((r) => r.command)
        .map((r) => ({
          command: r.command!,
          label: r.name,
          ...(r.tiers?.length ? { tiers: r.tiers } : {}),
          ...(r.window ? { window: r.window as ActiveWindow } : {}),
        }))
        .sort((a, b) => Number(a.command) - Number(b.command)),
    );
  }
  if (refused.length > 0) logger.warn({ refused }, 'conversation: unsafe regex rules left out');
  const replyMap = new Map<string, ReplyContent>();
  for (const r of replies) {
    const parsed = ReplyContentSchema.safeParse(r.content);
    if (parsed.success) replyMap.set(`${r.account}|${r.key}`, parsed.data);
  }
  const providerMap = new Map<string, Provider>();
  for (const p of providers) {
    const parsed = ProviderSchema.safeParse({
      key: p.key,
      url: p.url,
      secret: p.secret,
      timeoutMs: p.timeoutMs,
      cacheSeconds: p.cacheSeconds,
      fallbackText: p.fallbackText,
    });
    if (parsed.success) providerMap.set(p.key, parsed.data);
  }
  const settingsMap = new Map<string, Settings>();
  for (const s of settings) {
    const parsed = SettingsSchema.safeParse(s.settings);
    if (parsed.success) settingsMap.set(s.account, parsed.data);
  }
  const menuMap = new Map(files);
  for (const m of menus) {
    const parsed = MenuSetSchema.safeParse(m.menus);
    if (parsed.success) menuMap.set(m.account, parsed.data);
  }
  return {
    loadedAt: new Date(),
    matcherOf: (account) => compiled.get(account) ?? compiled.get('*')!,
    commandsOf: (account) => commands.get(account) ?? commands.get('*')!,
    reply: (account, key) => replyMap.get(`${account}|${key}`) ?? replyMap.get(`*|${key}`),
    provider: (key) => providerMap.get(key),
    settings: (account) => settingsMap.get(account) ?? settingsMap.get('*') ?? SettingsSchema.parse({ account }),
    menus: (account) => menuMap.get(account),
    refused,
  };
}

export interface ConversationCache {
  current(): Snapshot;
  /** Reloads here and tells every other process to reload (after a staff change). */
  changed(): Promise<void>;
  close(): Promise<void>;
}

const CHANNEL = 'conversation:changed';
const VERSION_KEY = 'conversation:version';

export async function createConversationCache(deps: {
  redis: Redis;
  logger: Logger;
  accounts: string[];
  /** How often the version key is compared (covers pub/sub messages lost during a reconnect). */
  checkEveryMs?: number;
}): Promise<ConversationCache> {
  const { redis, logger } = deps;
  const files = loadMenuFiles();
  let snapshot = await loadSnapshot(deps.accounts, files, logger);
  let version = (await redis.get(VERSION_KEY)) ?? '0';
  // Loads run one after another; a call joins a load that has not started yet (it will read the newest
  // data), else queues a new one, so a caller that just wrote always gets a load that began after its write.
  let queued: Promise<void> | undefined;
  let tail: Promise<void> = Promise.resolve();

  function reload(): Promise<void> {
    if (queued) return queued;
    const run = tail.then(async () => {
      queued = undefined;
      try {
        version = (await redis.get(VERSION_KEY)) ?? version;
        snapshot = await loadSnapshot(deps.accounts, files, logger);
      } catch (err) {
        logger.error({ err }, 'conversation: reload failed; serving the previous rules');
      }
    });
    queued = run;
    tail = run;
    return run;
  }

  // Channels are not prefixed by ioredis: the prefix keeps tests and tenants apart here too.
  const channel = `${redis.options.keyPrefix ?? ''}${CHANNEL}`;
  const subscriber = redis.duplicate();
  subscriber.on('error', (err: Error) => logger.warn({ err: { message: err.message } }, 'conversation subscriber'));
  subscriber.on('message', (ch: string) => {
    if (ch === channel) void reload();
  });
  await subscriber.subscribe(channel);
  const timer = setInterval(() => {
    void redis
      .get(VERSION_KEY)
      .then((v) => {
        if (v !== null && v !== version) return reload();
      })
      .catch(() => undefined);
  }, deps.checkEveryMs ?? 30_000);
  timer.unref();
  const close = async () => {
    clearInterval(timer);
    subscriber.disconnect();
  };
  // The command connection's end is the process's end for this cache too.
  redis.once('end', () => void close());

  return {
    current: () => snapshot,
    async changed() {
      await redis.incr(VERSION_KEY);
      await reload();
      await redis.publish(channel, '1');
    },
    close,
  };
}
