/**
 * Every screen of the console, in one table: its route, its menu entry and the permission it needs (the same
 * permission the admin API checks). The menu shows only what the staff member may use, and a route they
 * may not use shows "no access" instead of the screen. New domains (conversation, pushes and reports,
 * referrals, WeCom) add their rows here and their files under screens/.
 */
import type { FunctionComponent } from 'preact';
import { t } from './i18n';
import { Approvals } from './screens/approvals';
import { Audiences } from './screens/audiences';
import { Audit } from './screens/audit';
import { Conversation } from './screens/conversation';
import { CustomerDetail, Customers, MergeReviews } from './screens/customers';
import { Home } from './screens/home';
import { PushDetail, Pushes } from './screens/pushes';
import { PayoutCases, RedEnvelopeDetail, RedEnvelopes } from './screens/redenvelopes';
import { ReferralDetail, Referrals } from './screens/referrals';
import { ProgramDetail, Programs, Redeem } from './screens/reservations';
import { Staff } from './screens/staff';
import { WecomChannels, WecomLosses } from './screens/wecom';

export interface Screen {
  path: string;
  permission: string | null;
  component: FunctionComponent<{ params: Record<string, string> }>;
  /** In the menu when set: group and label (functions: the language can change at any time). */
  menu?: { group: () => string; label: () => string };
}

const g = {
  customers: () => t('客户', 'Customers'),
  marketing: () => t('营销', 'Marketing'),
  service: () => t('门店服务', 'Service'),
  finance: () => t('财务与风控', 'Finance & risk'),
  wecom: () => t('企业微信', 'WeCom'),
  admin: () => t('系统', 'System'),
};

export const SCREENS: Screen[] = [
  { path: '/', permission: null, component: Home },
  {
    path: '/customers',
    permission: 'customer:read',
    component: Customers,
    menu: { group: g.customers, label: () => t('客户查询', 'Customer search') },
  },
  { path: '/customers/:id', permission: 'customer:read', component: CustomerDetail },
  {
    path: '/merge-reviews',
    permission: 'customer:merge',
    component: MergeReviews,
    menu: { group: g.customers, label: () => t('待合并客户', 'Merge candidates') },
  },
  {
    path: '/audiences',
    permission: 'audience:manage',
    component: Audiences,
    menu: { group: g.marketing, label: () => t('人群', 'Audiences') },
  },
  {
    path: '/pushes',
    permission: 'push:send',
    component: Pushes,
    menu: { group: g.marketing, label: () => t('分层推送', 'Tiered pushes') },
  },
  { path: '/pushes/:id', permission: 'push:send', component: PushDetail },
  {
    path: '/red-envelopes',
    permission: 'campaign:manage',
    component: RedEnvelopes,
    menu: { group: g.marketing, label: () => t('红包活动', 'Red envelopes') },
  },
  { path: '/red-envelopes/:id', permission: 'campaign:manage', component: RedEnvelopeDetail },
  {
    path: '/referrals',
    permission: 'campaign:manage',
    component: Referrals,
    menu: { group: g.marketing, label: () => t('推荐有礼', 'Referrals') },
  },
  { path: '/referrals/:id', permission: 'campaign:manage', component: ReferralDetail },
  {
    path: '/reservations',
    permission: 'reservation:manage',
    component: Programs,
    menu: { group: g.marketing, label: () => t('预约核销活动', 'Reservation programs') },
  },
  { path: '/reservations/:id', permission: 'reservation:manage', component: ProgramDetail },
  {
    path: '/conversation',
    permission: 'conversation:manage',
    component: Conversation,
    menu: { group: g.service, label: () => t('对话服务', 'Conversation') },
  },
  {
    path: '/redeem',
    permission: 'reservation:verify',
    component: Redeem,
    menu: { group: g.service, label: () => t('核销验码', 'Verify & redeem') },
  },
  {
    path: '/payout-cases',
    permission: 'payout:review',
    component: PayoutCases,
    menu: { group: g.finance, label: () => t('发放异常处理', 'Payout cases') },
  },
  {
    path: '/approvals',
    permission: 'approval:read',
    component: Approvals,
    menu: { group: g.finance, label: () => t('审批', 'Approvals') },
  },
  {
    path: '/wecom/channels',
    permission: 'report:read',
    component: WecomChannels,
    menu: { group: g.wecom, label: () => t('渠道活码', 'Channel codes') },
  },
  {
    path: '/wecom/losses',
    permission: 'report:read',
    component: WecomLosses,
    menu: { group: g.wecom, label: () => t('流失提醒', 'Loss alerts') },
  },
  {
    path: '/staff',
    permission: 'staff:manage',
    component: Staff,
    menu: { group: g.admin, label: () => t('员工与角色', 'Staff & roles') },
  },
  {
    path: '/audit',
    permission: 'audit:read',
    component: Audit,
    menu: { group: g.admin, label: () => t('审计日志', 'Audit log') },
  },
];
