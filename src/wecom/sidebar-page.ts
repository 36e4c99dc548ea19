/**
 * The sidebar as staff see it inside WeCom: one server-rendered HTML page (inline CSS, no script), reached
 * from the chat toolbar. Without a session it sends the member through WeCom's OAuth; the code becomes a
 * sidebar session in an httpOnly cookie scoped to the page, and the page lists the member's own customers
 * or shows one customer's card (profile, tier, tags, recent timeline, advisers) within the member's staff
 * scope — phones come masked from the CRM view. Every value is escaped by `html`.
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { html, page, sendPage, type Raw } from '../h5/page.js';
import { DomainError, HTTP_STATUS_BY_KIND, isDomainError } from '../infra/errors.js';
import { parse } from '../infra/http/parse.js';
import type { ScopeOf } from '../staff/index.js';
import { corpOf, type WecomDeps } from './deps.js';
import {
  sidebarAuthorizeUrl,
  sidebarCustomer,
  sidebarCustomers,
  startSidebarSession,
  type SidebarCustomerRow,
} from './sidebar.js';

const COOKIE = 'scrm_wecom_sidebar';
const stateKey = (state: string) => `wecom:sidebar:oauth:${state}`;
const PATH = '/wecom/sidebar/page';
const shanghai = (iso: string) =>
  new Date(iso).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }).replace(/\//g, '-');

const CLAIM_STATES: Record<string, string> = {
  pending: '发放中',
  submitted: '发放中',
  wait_user_confirm: '待客户确认收款',
};
const CODE_STATES: Record<string, string> = {
  active: '未使用',
  redeemed: '已使用',
  revoked: '已作废',
  expired: '已过期',
};

const PageQuery = z
  .object({
    corp: z.string().max(32).optional(),
    code: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,128}$/)
      .optional(),
    state: z.string().max(128).optional(),
    customer: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .optional(),
  })
  .strict();

export interface SidebarPageDeps {
  wecomDomain: WecomDeps;
  scopeOf: (staffId: string) => Promise<ScopeOf | undefined>;
  publicBaseUrl: string;
  secureCookies: boolean;
}

function listBody(rows: SidebarCustomerRow[], corp: string): Raw {
  if (rows.length === 0) return html`<div class="card muted">您还没有客户。</div>`;
  return html`${rows.map(
    (r) =>
      html`<a class="card row" href="${PATH}?corp=${corp}&customer=${r.externalUserId}"
        ><strong>${r.name || r.externalUserId}</strong
        >${r.remark ? html` <span class="muted">(${r.remark})</span>` : ''}
        <div class="muted">添加于 ${shanghai(r.addedAt)}</div></a
      >`,
  )}`;
}

function cardBody(card: Awaited<ReturnType<typeof sidebarCustomer>>, corp: string): Raw {
  const p = card.profile;
  return html`<div class="card">
      <div><strong>${p.name ?? '(未命名)'}</strong> <span class="state">${p.tier}</span></div>
      <div class="muted">手机 ${p.phone ?? '—'}${p.phoneVerified ? ' · 已验证' : ''} · 阶段 ${p.stage}</div>
      <div>${card.tags.map((t) => html`<span class="state">${t}</span> `)}</div>
    </div>
    <div class="card">
      <strong>最近动态</strong>
      ${card.timeline.events.slice(0, 10).map((e) => html`<div class="muted">${shanghai(e.at)} · ${e.type}</div>`)}
    </div>
    <div class="card">
      <strong>待到账红包</strong>
      ${
        card.openClaims.length === 0
          ? html`<div class="muted">无</div>`
          : card.openClaims.map(
              (c) =>
                html`<div class="muted">
                  ${c.campaignName} · ¥${(c.amountFen / 100).toFixed(2)} · ${CLAIM_STATES[c.state] ?? c.state}
                </div>`,
            )
      }
    </div>
    <div class="card">
      <strong>预约码</strong>
      ${
        card.reservationCodes.length === 0
          ? html`<div class="muted">无</div>`
          : card.reservationCodes.map(
              (c) =>
                html`<div class="muted">
                  ${c.programName} · ${c.masked} · ${CODE_STATES[c.status] ?? c.status} · 有效至
                  ${shanghai(c.expiresAt.toISOString())}
                </div>`,
            )
      }
    </div>
    <div class="card">
      <strong>服务顾问</strong>
      ${card.relations.map(
        (r) => html`<div class="muted">${r.userid} · ${r.status === 'active' ? '在服务' : r.status}</div>`,
      )}
    </div>
    <a class="btn" href="${PATH}?corp=${corp}">全部客户</a>`;
}

const ROW_STYLE = html`<style>
  a.row {
    display: block;
    color: inherit;
    text-decoration: none;
  }
</style>`;

export function wecomSidebarPageRoutes(deps: SidebarPageDeps): Router {
  const router = new Router();
  const redis = deps.wecomDomain.redis;
  router.get(PATH, async (ctx: Context) => {
    const q = parse(PageQuery, ctx.query);
    const corp = corpOf(deps.wecomDomain, q.corp).key;
    if (q.code) {
      // The state proves this browser started the sign-in (no one can plant their session on a member).
      const started = q.state && /^[0-9a-f]{16}$/.test(q.state) ? await redis.getdel(stateKey(q.state)) : null;
      if (started !== corp)
        throw new DomainError(
          'invalid',
          'oauth_state_invalid',
          'The sign-in link is not valid; open the sidebar again.',
        );
      // The code is single use: trade it, keep the session in a cookie, and drop the code from the URL.
      const session = await startSidebarSession(deps.wecomDomain, corp, q.code);
      ctx.cookies.set(COOKIE, session.token, {
        httpOnly: true,
        sameSite: 'lax',
        secure: deps.secureCookies,
        path: '/wecom/sidebar',
        maxAge: session.expiresIn * 1000,
      });
      ctx.redirect(`${PATH}?corp=${encodeURIComponent(corp)}`);
      return;
    }
    const token = ctx.cookies.get(COOKIE);
    const signIn = async () => {
      const state = randomBytes(8).toString('hex');
      await redis.set(stateKey(state), corp, 'EX', 600);
      const back = `${deps.publicBaseUrl}${PATH}?corp=${encodeURIComponent(corp)}`;
      ctx.redirect(sidebarAuthorizeUrl(deps.wecomDomain, corp, back, state));
    };
    if (!token) return signIn();
    try {
      if (q.customer) {
        const card = await sidebarCustomer(deps.wecomDomain, {
          token,
          externalUserId: q.customer,
          scopeOf: deps.scopeOf,
        });
        sendPage(ctx, page('客户资料', html`${ROW_STYLE}${cardBody(card, corp)}`));
      } else {
        const rows = await sidebarCustomers(deps.wecomDomain, token);
        sendPage(ctx, page('我的客户', html`${ROW_STYLE}${listBody(rows, corp)}`));
      }
    } catch (err) {
      if (isDomainError(err) && err.code === 'session_expired') return signIn();
      if (isDomainError(err) && (err.kind === 'not_found' || err.kind === 'forbidden'))
        return sendPage(
          ctx,
          page('客户资料', html`<div class="card err">${err.message}</div>`),
          HTTP_STATUS_BY_KIND[err.kind],
        );
      throw err;
    }
  });
  return router;
}
