/**
 * Red envelopes on the customer's H5 pages (inside WeChat, signed in by OAuth):
 *   GET  /h5/red-envelopes                  "my red envelopes": each winning claim and its true payout state,
 *                                           with WeChat's confirm-receipt button for transfers awaiting it
 *   GET  /h5/campaigns/:id                  a campaign's landing page: what it is and, in plain words,
 *                                           whether this customer can take part
 *   GET  /api/h5/red-envelopes/claims       the same claims as JSON
 *   POST /api/h5/red-envelopes/campaigns/:id/claim   a draw from the landing page (Idempotency-Key)
 */
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AppConfig } from '../../infra/config.js';
import { isDomainError } from '../../infra/errors.js';
import { idempotencyKeyOf, jsonBody, parse } from '../../infra/http/parse.js';
import { requireCustomer } from '../../h5/session.js';
import { customerOrRedirect, html, page, Raw, sendPage } from '../../h5/page.js';
import { CUSTOMER_WORDING, type RedEnvelopeErrorCode } from './errors.js';
import type { PayoutState } from './model.js';
import {
  claimEnvelope,
  claimsOf,
  getCampaign,
  yuan,
  type CampaignEligibilityRule,
  type ClaimStatus,
  type RedEnvelopeDeps,
} from './service.js';

export interface RedEnvelopeH5Deps {
  config: AppConfig;
  redEnvelopes: RedEnvelopeDeps;
  /** JS-SDK configuration of a page (signature from the official-account client). */
  signJsSdk(
    account: string,
    url: string,
  ): Promise<{ appId: string; timestamp: number; nonceStr: string; signature: string }>;
}

const CampaignId = z.object({ id: z.string().regex(/^re_[0-9a-f]{20}$/) }).strict();

const STATE_WORDS: Record<PayoutState, { label: string; next: string }> = {
  pending: { label: '正在发放', next: '红包正在发放，通常几分钟内到账微信零钱。' },
  submitted: { label: '正在发放', next: '微信支付正在处理，通常几分钟内到账微信零钱。' },
  wait_user_confirm: { label: '待您确认收款', next: '请点击下方按钮，在微信中确认收款后即可到账。' },
  success: { label: '已到账', next: '已转入您的微信零钱。' },
  failed: { label: '发放失败', next: '我们会尽快处理并重新发放，客服可能会联系您，无需重新领取。' },
};

const shanghai = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
});

function claimCard(c: ClaimStatus): Raw {
  const words = STATE_WORDS[c.state];
  return html`<section class="card" data-claim="${c.claimId}" data-state="${c.state}">
    <div class="muted">${c.campaignName} · ${shanghai.format(c.wonAt)}</div>
    <div class="amount">¥${yuan(c.amountFen)}</div>
    <span class="state s-${c.state}">${words.label}</span>
    <p class="muted">${words.next}${c.state === 'failed' && c.failReason ? `（原因：${c.failReason}）` : ''}</p>
    ${
      c.state === 'wait_user_confirm' && c.packageInfo
        ? html`<button type="button" class="confirm" data-package="${c.packageInfo}">确认收款</button>
            <p class="err" role="alert" hidden></p>`
        : ''
    }
  </section>`;
}

/**
 * The confirm button: WeChat's requestMerchantTransfer (JS-SDK after wx.config, or WeixinJSBridge), then a
 * reload so the page shows the state the backend has, never a guess.
 */
const CONFIRM_SCRIPT = `(function(){var cfg=JSON.parse(document.getElementById('jssdk').textContent);
function done(){setTimeout(function(){location.reload()},1500)}
function fail(p,m){p.hidden=false;p.textContent=m}
document.querySelectorAll('button.confirm').forEach(function(b){b.addEventListener('click',function(){
var p=b.nextElementSibling,arg={mchId:cfg.mchId,appId:cfg.appId,package:b.getAttribute('data-package')};b.disabled=true;
function cb(r){b.disabled=false;var m=(r&&(r.err_msg||r.errMsg))||'';if(/ok$/.test(m))done();else if(/cancel/.test(m))fail(p,'您已取消，可稍后再确认。');else fail(p,'暂时无法确认，请稍后再试。')}
if(window.wx&&wx.requestMerchantTransfer){wx.requestMerchantTransfer(Object.assign({},arg,{success:function(){done()},fail:cb}))}
else if(window.WeixinJSBridge){WeixinJSBridge.invoke('requestMerchantTransfer',arg,cb)}
else{b.disabled=false;fail(p,'请在微信中打开本页确认收款。')}})});
if(cfg.signature){var s=document.createElement('script');s.src='https://res.wx.qq.com/open/js/jweixin-1.6.0.js';s.onload=function(){wx.config({debug:false,appId:cfg.appId,timestamp:cfg.timestamp,nonceStr:cfg.nonceStr,signature:cfg.signature,jsApiList:[],openTagList:[]})};document.head.appendChild(s)}})();`;

function pageUrl(config: AppConfig, ctx: Context): string {
  return `${config.publicBaseUrl}${ctx.originalUrl}`;
}

function customerWords(err: unknown): string | undefined {
  if (!isDomainError(err)) return undefined;
  return (CUSTOMER_WORDING as Record<string, string | undefined>)[err.code as RedEnvelopeErrorCode];
}

export function redEnvelopeH5Routes(deps: RedEnvelopeH5Deps): Router {
  const router = new Router();
  const { config } = deps;

  router.get('/h5/red-envelopes', async (ctx) => {
    const me = await customerOrRedirect(ctx, config, '/h5/red-envelopes');
    if (!me) return;
    const claims = await claimsOf(me.profileId);
    const waiting = claims.some((c) => c.state === 'wait_user_confirm' && c.packageInfo);
    let script: string | undefined;
    let jssdk: Raw = html``;
    if (waiting) {
      // The JS-SDK signature is asked for only when a button needs it (one jsapi_ticket call, cached).
      const signed = await deps.signJsSdk(me.account, pageUrl(config, ctx)).catch(() => undefined);
      const cfg = { mchId: config.pay?.mchid ?? '', appId: signed?.appId ?? '', ...signed };
      jssdk = html`<script type="application/json" id="jssdk">
        ${rawJson(cfg)}
      </script>`;
      script = CONFIRM_SCRIPT;
    }
    const list = claims.length
      ? claims.map(claimCard)
      : html`<div class="card">
          <p>您还没有领取过红包。</p>
          <p class="muted">关注公众号活动，参与抽红包吧。</p>
        </div>`;
    sendPage(
      ctx,
      page(
        '我的红包',
        html`${list}${jssdk}
          <p class="muted">金额以微信零钱到账为准。状态每次打开本页时从系统实时读取。</p>
          <a class="btn" href="/h5/red-envelopes">刷新</a>`,
        script,
      ),
    );
  });

  router.get('/h5/campaigns/:id', async (ctx) => {
    const { id } = parse(CampaignId, ctx.params);
    const me = await customerOrRedirect(ctx, config, `/h5/campaigns/${id}`);
    if (!me) return;
    const campaign = await getCampaign(id).catch(() => undefined);
    if (!campaign) {
      sendPage(
        ctx,
        page('活动不存在', html`<div class="card"><p>${CUSTOMER_WORDING.campaign_not_found}</p></div>`),
        404,
      );
      return;
    }
    const now = new Date();
    let answer: string;
    let canDraw = false;
    if (campaign.status !== 'running' || now < campaign.startAt || now > campaign.endAt) {
      answer = now < campaign.startAt ? '活动还没开始，敬请期待。' : CUSTOMER_WORDING.campaign_not_running;
    } else if (!campaign.entries.includes('h5') || !campaign.accounts.includes(me.account)) {
      answer = CUSTOMER_WORDING.entry_not_allowed;
    } else {
      const verdict = await deps.redEnvelopes.eligibility.check(
        me.profileId,
        (campaign.eligibility ?? {}) as CampaignEligibilityRule,
      );
      canDraw = verdict.eligible;
      answer = verdict.eligible ? '您符合参与条件，点击下方按钮抽红包。' : CUSTOMER_WORDING.not_eligible;
    }
    const body = html`<section class="card">
        <h2>${campaign.name}</h2>
        <p class="muted">活动时间：${shanghai.format(campaign.startAt)} – ${shanghai.format(campaign.endAt)}</p>
        <p id="answer" role="status">${answer}</p>
        ${canDraw ? html`<button type="button" id="draw">抽红包</button>` : ''}
      </section>
      <a class="btn" href="/h5/red-envelopes">我的红包</a>`;
    const script = canDraw
      ? `(function(){var b=document.getElementById('draw'),a=document.getElementById('answer'),k='h5-'+Date.now()+'-'+Math.random().toString(36).slice(2);
b.addEventListener('click',function(){b.disabled=true;fetch('/api/h5/red-envelopes/campaigns/${id}/claim',{method:'POST',headers:{'content-type':'application/json','idempotency-key':k},body:'{}',credentials:'same-origin'})
.then(function(r){return r.json()}).then(function(j){a.textContent=j.message;if(j.status==='won')b.hidden=true;else b.disabled=false}).catch(function(){a.textContent='网络不太好，请稍后再试。';b.disabled=false})})})();`
      : undefined;
    sendPage(ctx, page('红包活动', body, script));
  });

  const api = new Router({ prefix: '/api/h5/red-envelopes' });
  api.use(requireCustomer(config), jsonBody(config.http.jsonBodyLimitBytes));
  api.get('/claims', async (ctx) => {
    const me = ctx.state.customer!;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      items: (await claimsOf(me.profileId)).map((c) => ({
        claimId: c.claimId,
        campaignName: c.campaignName,
        amountFen: c.amountFen,
        state: c.state,
        stateText: STATE_WORDS[c.state].label,
        ...(c.packageInfo ? { packageInfo: c.packageInfo } : {}),
        ...(c.failReason ? { failReason: c.failReason } : {}),
        wonAt: c.wonAt.toISOString(),
      })),
    };
  });
  api.post('/campaigns/:id/claim', async (ctx) => {
    const { id } = parse(CampaignId, ctx.params);
    const me = ctx.state.customer!;
    const key = idempotencyKeyOf(ctx) ?? randomUUID();
    try {
      const result = await claimEnvelope(deps.redEnvelopes, {
        campaignId: id,
        profileId: me.profileId,
        account: me.account,
        openid: me.openid,
        entry: 'h5',
        requestKey: `h5:${me.profileId}:${key}`,
        subject: { ip: ctx.ip },
      });
      ctx.body =
        result.status === 'won'
          ? {
              status: 'won',
              amountFen: result.amountFen,
              message: `恭喜您抽中 ¥${yuan(result.amountFen)}！可在“我的红包”查看到账情况。`,
            }
          : result.status === 'lost'
            ? { status: 'lost', message: '很遗憾，这次没有抽中，感谢参与！' }
            : { status: 'review', message: '您的领取正在审核，结果会通过公众号通知您。' };
    } catch (err) {
      const words = customerWords(err);
      if (!words) throw err;
      ctx.status = 409;
      ctx.body = { status: 'refused', code: (err as { code: string }).code, message: words };
    }
  });
  router.use(api.routes(), api.allowedMethods());
  return router;
}

/** JSON inside a <script type="application/json">: `<` escaped so no value can close the tag. */
function rawJson(data: unknown): Raw {
  return new Raw(JSON.stringify(data).replace(/</g, '\\u003c'));
}
