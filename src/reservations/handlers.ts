/**
 * The reservation codes in the chat: "预约码 ABCD-EFGH-JKM" redeems a code for the follower who sends it;
 * "预约" claims a code from an open claim-mode program; "我的预约码" — or a menu CLICK key bound to the
 * conversation action `reservations.my_codes` — lists the follower's codes in full (they are the owner).
 * Answers come from errors.ts's customer wording.
 */
import type { ActionRegistry } from '../conversation/index.js';
import type { HandlerRegistry, Reply } from '../gateway/index.js';
import { replies } from '../gateway/index.js';
import { isDomainError } from '../infra/errors.js';
import { CUSTOMER_WORDING, type ReservationErrorCode } from './errors.js';
import { claimCode, codesOfOwner, openPrograms, redeemCode, type ReservationDeps } from './service.js';

const REDEEM = /^\s*(?:预约码|核销|兑换)\s*[:：]?\s*([A-Za-z0-9][A-Za-z0-9\s-]{9,24})\s*$/;
const CLAIM = /^\s*(?:预约|领取预约码)\s*$/;
const MINE = /^\s*(?:我的预约码|查预约码)\s*$/;

const shanghai = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
});

function wording(err: unknown): string {
  if (isDomainError(err) && err.code in CUSTOMER_WORDING) return CUSTOMER_WORDING[err.code as ReservationErrorCode];
  throw err;
}

const STATUS = { active: '可使用', redeemed: '已使用', revoked: '已作废', expired: '已过期' } as const;

/** The owner's newest codes (five at most), shown in full: only their owner is ever answered with them. */
async function myCodesReply(deps: ReservationDeps, profileId: string): Promise<Reply> {
  const codes = await codesOfOwner(deps, profileId, { reveal: true });
  if (codes.length === 0) return replies.text('您还没有预约码。');
  return replies.text(
    codes
      .slice(0, 5)
      .map(
        (c) => `${c.programName}：${c.code ?? c.masked}（${STATUS[c.status]}，${shanghai.format(c.expiresAt)} 前有效）`,
      )
      .join('\n'),
  );
}

/** The action a menu key or keyword rule names to show the follower their codes. */
export const MY_CODES_ACTION = 'reservations.my_codes';

/** Registers the reservation actions in the conversation's registry (menus and keyword rules run them). */
export function registerReservationActions(actions: ActionRegistry, deps: ReservationDeps): void {
  actions.register(
    MY_CODES_ACTION,
    async (call) => {
      const profileId = await call.profileId();
      if (!profileId) return replies.text('正在为您建立会员档案，请稍后再试。');
      return myCodesReply(deps, profileId);
    },
    "Lists the follower's reservation codes (newest five, with status and expiry)",
  );
}

export function registerReservationHandlers(
  registry: HandlerRegistry,
  deps: ReservationDeps,
  profileOf: (account: string, openid: string) => Promise<string | undefined>,
): void {
  registry.onText(async (message, ctx) => {
    const text = message.content;
    const redeem = REDEEM.exec(text);
    if (!redeem && !CLAIM.test(text) && !MINE.test(text)) return undefined;
    const profileId = await profileOf(ctx.account, message.openid);
    if (!profileId) return replies.text('正在为您建立会员档案，请稍后再试。');
    try {
      if (redeem) {
        const done = await redeemCode(deps, {
          code: redeem[1]!,
          channel: 'chat',
          profileId,
          actor: `profile:${profileId}`,
          idempotencyKey: `chat:${ctx.account}:${message.msgId}`,
        });
        return replies.text(`预约码 ${done.masked} 使用成功（${shanghai.format(done.at)}）。`);
      }
      if (MINE.test(text)) return await myCodesReply(deps, profileId);
      const [program] = (await openPrograms(deps)).filter((p) => p.issueMode === 'claim');
      if (!program) return replies.text('目前没有可领取的预约码。');
      const issued = await claimCode(deps, {
        programId: program._id,
        profileId,
        via: 'keyword',
        claimKey: `chat:${ctx.account}:${message.msgId}`,
      });
      return replies.text(
        `${program.name} 预约码：${issued.code}\n请在 ${shanghai.format(issued.expiresAt)} 前使用${issued.created ? '' : '（您已领取过）'}。`,
      );
    } catch (err) {
      return replies.text(wording(err));
    }
  });
}
