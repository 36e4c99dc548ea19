/**
 * The referrer's H5 page inside WeChat (signed in by OAuth): GET /h5/referrals shows, for every running
 * referral campaign of the account, the customer's personal QR code and share link (made on first visit,
 * renewed by the code cache), their progress towards the next milestone, and each reward with its state.
 * A customer who may not refer is told so in plain words.
 */
import Router from '@koa/router';
import type { AppConfig } from '../../infra/config.js';
import { isDomainError } from '../../infra/errors.js';
import { customerOrRedirect, html, page, type Raw, sendPage } from '../../h5/page.js';
import { codeFor } from './codes.js';
import { CUSTOMER_WORDING, type ReferralErrorCode } from './errors.js';
import { ReferralCampaign, ReferralReward } from './model.js';
import { progressOf } from './report.js';
import { isLive, type Campaign, type ReferralDeps } from './service.js';

const REWARD_STATE: Record<string, string> = { granting: '发放中', granted: '已发放', failed: '发放失败，正在处理' };
const REWARD_KIND: Record<string, string> = {
  points: '积分',
  tag: '会员权益',
  redenvelope: '现金红包',
  reservation: '预约资格',
};

const shanghaiDay = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', dateStyle: 'short' });

function rewardLine(r: { reward: { kind?: string; points?: number }; state: string; key: string }): Raw {
  const kind = REWARD_KIND[r.reward.kind ?? ''] ?? '奖励';
  const what = r.reward.kind === 'points' && r.reward.points ? `${r.reward.points} ${kind}` : kind;
  const why = r.key.startsWith('milestone:') ? '（阶段奖励）' : '';
  return html`<li data-reward-state="${r.state}">${what}${why} · ${REWARD_STATE[r.state] ?? r.state}</li>`;
}

async function campaignCard(
  deps: ReferralDeps,
  campaign: Campaign,
  me: { profileId: string; openid: string },
): Promise<Raw> {
  let code: Raw;
  try {
    const view = await codeFor(deps, { campaignId: campaign._id, profileId: me.profileId, openid: me.openid });
    code = html`<img class="qr" src="${view.imageUrl}" alt="我的专属邀请二维码" width="200" height="200" />
      <p class="muted">
        好友长按识别二维码关注即可。${
          view.expiresAt ? `二维码有效期至 ${shanghaiDay.format(new Date(view.expiresAt))}，到期前会自动更新。` : ''
        }
      </p>
      <p><a class="btn" href="${view.shareUrl}">分享链接（长按可复制）</a></p>`;
  } catch (err) {
    if (!isDomainError(err)) throw err;
    const words = (CUSTOMER_WORDING as Record<string, string | undefined>)[err.code as ReferralErrorCode];
    code = html`<p role="alert">${words ?? '暂时无法生成邀请码，请稍后再试。'}</p>`;
  }
  const [progress, rewards] = await Promise.all([
    progressOf(campaign._id, me.profileId),
    ReferralReward.find({ campaignId: campaign._id, profileId: me.profileId })
      .sort({ createdAt: -1 })
      .limit(50)
      .lean<{ reward: { kind?: string; points?: number }; state: string; key: string }[]>(),
  ]);
  const next = progress.nextMilestone
    ? html`<p>
        再成功邀请 <strong>${progress.nextMilestone.missing}</strong> 位好友，即可获得 ${progress.nextMilestone.friends}
        人阶段奖励。
      </p>`
    : '';
  return html`<section class="card" data-campaign="${campaign._id}">
    <h2>${campaign.name}</h2>
    ${code}
    <p data-progress>已成功邀请 <strong>${progress.confirmed}</strong> 位 · 待确认 ${progress.pending} 位</p>
    ${next}
    <p class="muted">好友关注后，在 ${campaign.qualify.withinDays} 天内完成活动要求即算成功邀请。</p>
    ${
      rewards.length
        ? html`<h3>我的奖励</h3>
            <ul>
              ${rewards.map(rewardLine)}
            </ul>`
        : html`<p class="muted">还没有奖励，邀请好友一起来吧。</p>`
    }
  </section>`;
}

export function referralH5Routes(deps: ReferralDeps, config: AppConfig): Router {
  const router = new Router();
  router.get('/h5/referrals', async (ctx) => {
    const me = await customerOrRedirect(ctx, config, '/h5/referrals');
    if (!me) return;
    const at = deps.now();
    const campaigns = (
      await ReferralCampaign.find({ account: me.account, status: 'running' })
        .sort({ startAt: -1 })
        .limit(5)
        .lean<Campaign[]>()
    ).filter((c) => isLive(c, at));
    const cards = [];
    for (const c of campaigns) cards.push(await campaignCard(deps, c, me));
    sendPage(
      ctx,
      page(
        '邀请好友',
        cards.length ? html`${cards}` : html`<div class="card"><p>当前没有进行中的邀请活动，敬请期待。</p></div>`,
      ),
    );
  });
  return router;
}
