/**
 * Simplified Chinese first, English second. Strings sit next to their translation at the call site
 * (`t('客户', 'Customers')`), so a screen added later brings its own words; API error codes are translated
 * here, with the server's (English) message as the fallback.
 */
import type { ApiError } from './api';

export type Lang = 'zh' | 'en';
const KEY = 'scrm.console.lang';

let current: Lang = (() => {
  try {
    return localStorage.getItem(KEY) === 'en' ? 'en' : 'zh';
  } catch {
    return 'zh';
  }
})();

export function lang(): Lang {
  return current;
}

export function setLang(next: Lang): void {
  current = next;
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

export function t(zh: string, en: string): string {
  return current === 'zh' ? zh : en;
}

const ERRORS: Record<string, [string, string]> = {
  network: ['无法连接服务器，请检查网络后重试。', 'Cannot reach the server; check the network and try again.'],
  invalid_credentials: ['用户名或密码不正确。', 'Wrong username or password.'],
  login_locked: ['登录失败次数过多，账号已暂时锁定，请稍后再试。', 'Too many failed sign-ins; try again later.'],
  token_expired: ['登录已过期，请重新登录。', 'Your session expired; sign in again.'],
  session_revoked: ['会话已结束，请重新登录。', 'Your session ended; sign in again.'],
  staff_disabled: ['您的账号已被停用。', 'Your account is disabled.'],
  permission_denied: ['您没有执行此操作的权限。', 'You do not have permission for this.'],
  invalid_input: ['有字段填写不正确，请检查标红的字段。', 'Some fields are not valid; check the marked fields.'],
  invalid_cursor: ['分页已失效，请回到第一页。', 'The page link expired; go back to the first page.'],
  profile_not_found: ['找不到该客户（或不在您的数据范围内）。', 'No such customer (or outside your data scope).'],
  not_found: ['找不到该记录。', 'Not found.'],
  code_not_found: ['核销码不存在，请核对后重试。', 'No such code; check it and try again.'],
  code_already_redeemed: ['该核销码已经使用过。', 'This code was already redeemed.'],
  code_expired: ['该核销码已过期。', 'This code has expired.'],
  code_revoked: ['该核销码已作废。', 'This code was revoked.'],
  code_wrong_owner: ['该核销码不属于此客户。', 'This code belongs to another customer.'],
  owner_required: [
    '该码绑定了客户，请填写客户 ID 以核对归属。',
    'This code is bound to its owner: enter the customer id.',
  ],
  code_typo: ['核销码格式不对，请核对每一位。', 'The code is mistyped; check each character.'],
  redeem_not_open: ['不在核销时间范围内。', 'Outside the redemption window.'],
  program_closed: ['该活动已关闭。', 'The program is closed.'],
  approval_needs_other_staff: [
    '需要另一位同事审批（不能审批自己发起的）。',
    'A different staff member must approve this.',
  ],
  approval_decided: ['该申请已经处理过了。', 'This request was already decided.'],
  approval_expired: ['该申请已过期。', 'This request has expired.'],
  username_taken: ['用户名已被使用。', 'That username is taken.'],
  cannot_disable_self: ['不能停用自己的账号。', 'You cannot disable your own account.'],
  out_of_scope: ['超出您的数据范围。', 'Outside your data scope.'],
  campaign_state: ['活动当前状态不允许此操作。', 'The campaign is not in a state that allows this.'],
  campaign_invalid: ['活动配置有误，请检查预算与奖品设置。', 'The campaign cannot be created as described.'],
  campaign_not_running: ['活动未在进行中。', 'The campaign is not running.'],
  rate_limited: ['操作太频繁，请稍后再试。', 'Too many attempts; wait a moment.'],
};

/** Words a staff member understands for an API failure. */
export function errorText(err: unknown): string {
  const e = err as Partial<ApiError> | undefined;
  const code = e?.code ?? '';
  const known = ERRORS[code];
  if (known) return t(...known);
  if (e?.status === 403) return t(...ERRORS.permission_denied!);
  if (e?.status === 404) return `${t(...ERRORS.not_found!)} (${code})`;
  if (e?.status && e.status >= 500)
    return t('服务器出错了，请稍后重试。', 'The server failed; try again shortly.') + ` (${code})`;
  const message = e?.message ?? String(err);
  return code ? `${message} (${code})` : message;
}
