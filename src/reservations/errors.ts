/**
 * The reservation domain's error codes, and the words a customer reads in the chat for each of them.
 * Staff and business systems get the English message of the DomainError; customers get these.
 */
import { DomainError, type ErrorKind } from '../infra/errors.js';

export const RESERVATION_ERRORS = {
  code_format: {
    kind: 'invalid',
    message: 'This is not a reservation code (11 letters and digits, e.g. ABCD-EFGH-JKM).',
  },
  code_typo: { kind: 'invalid', message: 'The code has a typo: please check it and try again.' },
  code_not_found: { kind: 'not_found', message: 'No such reservation code.' },
  code_wrong_owner: { kind: 'forbidden', message: 'This code belongs to another customer.' },
  owner_required: { kind: 'invalid', message: 'This code is bound to its owner: say whose it is.' },
  code_expired: { kind: 'conflict', message: 'This code has expired.' },
  code_revoked: { kind: 'conflict', message: 'This code has been revoked.' },
  code_already_redeemed: { kind: 'conflict', message: 'This code has already been used.' },
  redeem_not_open: { kind: 'conflict', message: 'Codes of this program cannot be used yet.' },
  program_not_found: { kind: 'not_found', message: 'No such reservation program.' },
  program_closed: { kind: 'conflict', message: 'This program is closed.' },
  issue_not_open: { kind: 'conflict', message: 'Codes of this program are not being issued now.' },
  not_eligible: { kind: 'forbidden', message: 'This customer is not eligible for the program.' },
  sold_out: { kind: 'conflict', message: 'All codes of this program have been issued.' },
} as const satisfies Record<string, { kind: ErrorKind; message: string }>;

export type ReservationErrorCode = keyof typeof RESERVATION_ERRORS;

/** What the customer reads in the chat, by error code. */
export const CUSTOMER_WORDING: Record<ReservationErrorCode | 'too_many_attempts', string> = {
  code_format: '这不是有效的预约码格式（11 位字母和数字，例如 ABCD-EFGH-JKM）。',
  code_typo: '预约码可能输错了一位，请核对后重新输入。',
  code_not_found: '没有找到这个预约码，请核对后重新输入。',
  code_wrong_owner: '这个预约码不属于您的账户。',
  owner_required: '这个预约码需要本人使用。',
  code_expired: '这个预约码已过期。',
  code_revoked: '这个预约码已被作废。',
  code_already_redeemed: '这个预约码已经使用过了。',
  redeem_not_open: '预约码尚未到使用时间。',
  program_not_found: '没有找到这个预约活动。',
  program_closed: '这个预约活动已结束。',
  issue_not_open: '预约码目前不在发放时间内。',
  not_eligible: '抱歉，您暂不符合本次预约的条件。',
  sold_out: '本次预约码已全部发放完毕。',
  too_many_attempts: '尝试次数过多，请稍后再试。',
};

export function reservationError(
  code: ReservationErrorCode,
  details?: Record<string, unknown>,
  message?: string,
): DomainError {
  const entry = RESERVATION_ERRORS[code];
  return new DomainError(entry.kind, code, message ?? entry.message, details);
}
