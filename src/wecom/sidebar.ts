/**
 * The staff sidebar inside WeCom (an H5 page opened from the chat toolbar). The page trades WeCom's OAuth
 * code for a short session (the member's userid, kept in Redis under a hash of a random token); the
 * customer card is then read with the data scope of the staff account the member is linked to — outside
 * it the customer does not exist (404), and the CRM view already masks phones.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { DomainError } from '../infra/errors.js';
import { isPlatformError } from '../platform/kernel/errors.js';
import { getUserInfoByCode } from '../platform/wecom/index.js';
import type { ScopeOf } from '../staff/index.js';
import { clientOf, corpOf, type WecomDeps } from './deps.js';
import { WecomContact, WecomRelation, WecomStaffLink } from './model.js';

const SESSION_SECONDS = 3600;
const sessionKey = (token: string) => `wecom:sidebar:${createHash('sha256').update(token).digest('hex')}`;

/** Exchanges an OAuth code from the WeCom client for a sidebar session token. */
export async function startSidebarSession(
  deps: WecomDeps,
  corp: string,
  code: string,
): Promise<{ token: string; expiresIn: number }> {
  let userid: string | undefined;
  try {
    ({ userid } = await getUserInfoByCode(clientOf(deps, corp), code));
  } catch (err) {
    if (isPlatformError(err) && !err.retryable && err.disposition === 'give_up')
      throw new DomainError('unauthenticated', 'invalid_code', 'The code is invalid or used.');
    throw err;
  }
  if (!userid) throw new DomainError('forbidden', 'not_a_member', 'Only members of the corp can open the sidebar.');
  const token = randomBytes(24).toString('base64url');
  await deps.redis.set(sessionKey(token), JSON.stringify({ corp, userid }), 'EX', SESSION_SECONDS);
  return { token, expiresIn: SESSION_SECONDS };
}

interface SidebarSession {
  corp: string;
  userid: string;
}

async function sessionOf(deps: WecomDeps, token: string): Promise<SidebarSession> {
  const raw = await deps.redis.get(sessionKey(token));
  if (!raw) throw new DomainError('unauthenticated', 'session_expired', 'Open the sidebar again.');
  return JSON.parse(raw) as SidebarSession;
}

/**
 * WeCom's OAuth page for the sidebar (snsapi_base, the corp's agent): it comes back to `redirectUri` with a
 * code. The sandbox serves its stand-in beside its API.
 * https://developer.work.weixin.qq.com/document/path/91022
 */
export function sidebarAuthorizeUrl(deps: WecomDeps, corp: string, redirectUri: string, state: string): string {
  const config = corpOf(deps, corp);
  const base = config.apiBase.includes('qyapi.weixin.qq.com') ? 'https://open.weixin.qq.com' : config.apiBase;
  const query = new URLSearchParams({
    appid: config.corpid,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'snsapi_base',
    state,
    ...(config.agentId ? { agentid: config.agentId } : {}),
  });
  return `${base}/connect/oauth2/authorize?${query.toString()}#wechat_redirect`;
}

export interface SidebarCustomerRow {
  externalUserId: string;
  name: string;
  remark: string;
  addedAt: string;
}

/** The member's own customers (active relationships, newest first): the sidebar's picker. */
export async function sidebarCustomers(deps: WecomDeps, token: string, limit = 100): Promise<SidebarCustomerRow[]> {
  const session = await sessionOf(deps, token);
  const relations = await WecomRelation.find({ corp: session.corp, userid: session.userid, status: 'active' })
    .sort({ addedAt: -1 })
    .limit(limit)
    .lean();
  const contacts = await WecomContact.find({
    corp: session.corp,
    externalUserId: { $in: relations.map((r) => r.externalUserId) },
  }).lean();
  const names = new Map(contacts.map((c) => [c.externalUserId, c.name ?? '']));
  return relations.map((r) => ({
    externalUserId: r.externalUserId,
    name: names.get(r.externalUserId) ?? '',
    remark: r.remark ?? '',
    addedAt: r.addedAt.toISOString(),
  }));
}

/** The customer card for the member of a sidebar session, within their staff account's scope. */
export async function sidebarCustomer(
  deps: WecomDeps,
  input: { token: string; externalUserId: string; scopeOf: (staffId: string) => Promise<ScopeOf | undefined> },
) {
  const session = await sessionOf(deps, input.token);
  const link = await WecomStaffLink.findOne({ corp: session.corp, userid: session.userid }).lean();
  const scope = link ? await input.scopeOf(link.staffId) : undefined;
  if (!scope) throw new DomainError('forbidden', 'member_not_linked', 'This member has no active staff account.');
  const contact = await WecomContact.findOne({ corp: session.corp, externalUserId: input.externalUserId }).lean();
  if (!contact?.profileId) throw new DomainError('not_found', 'customer_not_found', 'No such customer.');
  const view = await deps.crm.profiles.view({ profileId: new Types.ObjectId(contact.profileId), scope });
  const relations = await WecomRelation.find({ corp: session.corp, externalUserId: input.externalUserId }).lean();
  const extras = (await deps.customerExtras?.(view.profile.id)) ?? { openClaims: [], reservationCodes: [] };
  return {
    profile: view.profile,
    ...extras,
    tags: view.tags.map((t) => t.name),
    timeline: view.timeline,
    relations: relations.map((r) => ({
      userid: r.userid,
      status: r.status,
      addedAt: r.addedAt.toISOString(),
      state: r.state ?? '',
      remark: r.remark ?? '',
    })),
  };
}
