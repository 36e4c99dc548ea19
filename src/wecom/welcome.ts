/**
 * Welcome messages by channel and member, sent with the event's WelcomeCode inside its 20-second window.
 * The most specific message wins: (channel, member) → channel → member → the corp's default. A customer
 * who re-adds the same member within WECOM_WELCOME_QUIET_SECONDS is not welcomed again: the Redis key is
 * claimed (SET NX EX) before sending, so two racing deliveries send once; a transient failure releases it.
 */
import { z } from 'zod';
import { isPlatformError } from '../platform/kernel/errors.js';
import { sendWelcomeMsg, type WecomAttachment } from '../platform/wecom/index.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomWelcome } from './model.js';

export const WelcomeAttachment = z.union([
  z.object({ msgtype: z.literal('image'), image: z.object({ pic_url: z.string().url().max(1024) }).strict() }).strict(),
  z
    .object({
      msgtype: z.literal('link'),
      link: z
        .object({
          title: z.string().min(1).max(128),
          url: z.string().url().max(2048),
          desc: z.string().max(512).optional(),
          picurl: z.string().url().max(2048).optional(),
        })
        .strict(),
    })
    .strict(),
  z
    .object({
      msgtype: z.literal('miniprogram'),
      miniprogram: z
        .object({
          title: z.string().min(1).max(64),
          pic_media_id: z.string().min(1).max(256),
          appid: z.string().min(1).max(64),
          page: z.string().min(1).max(256),
        })
        .strict(),
    })
    .strict(),
]);

export const WelcomeInput = z
  .object({
    /** A channel's state; omitted = every channel. */
    state: z.string().max(30).optional(),
    /** A member's userid; omitted = every member. */
    userid: z.string().max(64).optional(),
    text: z.string().max(4000).optional(),
    attachments: z.array(WelcomeAttachment).max(9).optional(),
  })
  .strict()
  .refine((v) => (v.text ?? '') !== '' || (v.attachments?.length ?? 0) > 0, 'text or attachments are required');
export type WelcomeInput = z.infer<typeof WelcomeInput>;

/** Sets the welcome for (channel, member); replaces the one there was. */
export async function setWelcome(deps: WecomDeps, corp: string, input: WelcomeInput): Promise<void> {
  await WecomWelcome.updateOne(
    { corp, state: input.state ?? '', userid: input.userid ?? '' },
    { $set: { text: input.text ?? '', attachments: input.attachments ?? [] } },
    { upsert: true },
  );
  deps.logger.info({ corp, state: input.state, userid: input.userid }, 'wecom welcome set');
}

/** Fills {name} and {staff}; unknown placeholders stay as written. */
export function renderWelcome(text: string, vars: { name: string; staff: string }): string {
  return text.replace(/\{(name|staff)\}/g, (_, k: 'name' | 'staff') => vars[k]);
}

export type WelcomeOutcome =
  { sent: true } | { sent: false; reason: 'quiet_period' | 'no_message' | 'window_closed' | 'failed' };

/** Sends the welcome for a fresh add (once per customer and member within the quiet period). */
export async function sendWelcome(
  deps: WecomDeps,
  corp: string,
  input: { welcomeCode: string; userid: string; externalUserId: string; state?: string; name: string },
): Promise<WelcomeOutcome> {
  const log = deps.logger.child({ corp, userid: input.userid, externalUserId: input.externalUserId });
  const candidates = await WecomWelcome.find({
    corp,
    state: { $in: [input.state ?? '', ''] },
    userid: { $in: [input.userid, ''] },
  }).lean();
  const score = (w: { state: string; userid: string }) => (w.state ? 2 : 0) + (w.userid ? 1 : 0);
  const message = candidates
    .filter((w) => !w.state || w.state === (input.state ?? ''))
    .sort((a, b) => score(b) - score(a))[0];
  if (!message) return { sent: false, reason: 'no_message' };

  const quiet = deps.config.welcomeQuietSeconds;
  const key = `wecom:welcomed:${corp}:${input.userid}:${input.externalUserId}`;
  if (quiet > 0 && (await deps.redis.set(key, '1', 'EX', quiet, 'NX')) !== 'OK') {
    log.info('wecom welcome skipped: re-add inside the quiet period');
    return { sent: false, reason: 'quiet_period' };
  }
  try {
    await sendWelcomeMsg(clientOf(deps, corp), {
      welcomeCode: input.welcomeCode,
      ...(message.text ? { text: renderWelcome(message.text, { name: input.name, staff: input.userid }) } : {}),
      ...(message.attachments.length ? { attachments: message.attachments as WecomAttachment[] } : {}),
    });
    return { sent: true };
  } catch (err) {
    // 41051: the customer already chatted or the 20 s passed — final, and the window is spent anyway.
    if (isPlatformError(err, 41051)) {
      log.info('wecom welcome window closed');
      return { sent: false, reason: 'window_closed' };
    }
    if (quiet > 0) await deps.redis.del(key);
    log.warn({ err }, 'wecom welcome failed');
    return { sent: false, reason: 'failed' };
  }
}
