/** The referral domain's error codes and the words a customer reads for each. */
import { DomainError, type ErrorKind } from '../../infra/errors.js';

export const REFERRAL_ERRORS = {
  campaign_not_found: { kind: 'not_found', message: 'No such referral campaign.' },
  campaign_invalid: { kind: 'invalid', message: 'The referral campaign cannot be created as described.' },
  campaign_state: { kind: 'conflict', message: 'The campaign is not in a state that allows this.' },
  campaign_not_running: { kind: 'conflict', message: 'The campaign is not running.' },
  not_eligible: { kind: 'forbidden', message: 'The customer may not refer friends in this campaign.' },
  approval_needs_other_staff: { kind: 'forbidden', message: 'A different staff member must approve this campaign.' },
  qr_unavailable: { kind: 'unavailable', message: 'The referral code could not be made now; try again later.' },
} as const satisfies Record<string, { kind: ErrorKind; message: string }>;

export type ReferralErrorCode = keyof typeof REFERRAL_ERRORS;

export const CUSTOMER_WORDING: Record<ReferralErrorCode, string> = {
  campaign_not_found: '活动不存在。',
  campaign_invalid: '活动配置有误。',
  campaign_state: '活动当前状态不允许此操作。',
  campaign_not_running: '邀请活动未开始或已结束，感谢关注。',
  not_eligible: '抱歉，您暂不符合本次邀请活动的参与条件。',
  approval_needs_other_staff: '需要另一位同事审批。',
  qr_unavailable: '邀请码生成繁忙，请稍后再试。',
};

export function referralError(code: ReferralErrorCode, details?: Record<string, unknown>): DomainError {
  const entry = REFERRAL_ERRORS[code];
  return new DomainError(entry.kind, code, entry.message, details);
}
