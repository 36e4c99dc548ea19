/** The red-envelope domain's error codes and the words a customer reads for each. */
import { DomainError, type ErrorKind } from '../../infra/errors.js';

export const RED_ENVELOPE_ERRORS = {
  campaign_not_found: { kind: 'not_found', message: 'No such campaign.' },
  campaign_invalid: { kind: 'invalid', message: 'The campaign cannot be created as described.' },
  campaign_state: { kind: 'conflict', message: 'The campaign is not in a state that allows this.' },
  campaign_not_running: { kind: 'conflict', message: 'The campaign is not running.' },
  entry_not_allowed: { kind: 'forbidden', message: 'This campaign cannot be entered this way.' },
  not_eligible: { kind: 'forbidden', message: 'The customer is not eligible for this campaign.' },
  limit_reached: { kind: 'conflict', message: 'The customer has used all their draws.' },
  daily_limit_reached: { kind: 'conflict', message: 'The customer has used all their draws for today.' },
  risk_denied: { kind: 'forbidden', message: 'The claim was refused by risk controls.' },
  sold_out: { kind: 'conflict', message: 'Every envelope of this campaign has been won.' },
  approval_needs_other_staff: { kind: 'forbidden', message: 'A different staff member must approve this campaign.' },
} as const satisfies Record<string, { kind: ErrorKind; message: string }>;

export type RedEnvelopeErrorCode = keyof typeof RED_ENVELOPE_ERRORS;

export const CUSTOMER_WORDING: Record<RedEnvelopeErrorCode, string> = {
  campaign_not_found: '活动不存在。',
  campaign_invalid: '活动配置有误。',
  campaign_state: '活动当前状态不允许此操作。',
  campaign_not_running: '活动未开始或已结束，感谢关注。',
  entry_not_allowed: '该活动不支持此参与方式。',
  not_eligible: '抱歉，您暂不符合本次活动的参与条件。',
  limit_reached: '您已参与过本次活动，感谢支持！',
  daily_limit_reached: '您今天的抽奖次数已用完，明天再来吧。',
  risk_denied: '抱歉，本次参与未通过安全校验。如有疑问请联系客服。',
  sold_out: '红包已经被抢完了，感谢参与！',
  approval_needs_other_staff: '需要另一位同事审批。',
};

export function redEnvelopeError(code: RedEnvelopeErrorCode, details?: Record<string, unknown>): DomainError {
  const entry = RED_ENVELOPE_ERRORS[code];
  return new DomainError(entry.kind, code, entry.message, details);
}
