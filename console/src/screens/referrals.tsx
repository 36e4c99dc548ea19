/**
 * Referral campaigns: setup (who may refer, what qualifies, rewards, caps), approval by a second person,
 * start / pause / end, and the report with the states by reason, the viral coefficient and the leaderboard.
 */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { navigate } from '../router';
import { useCan } from '../session';
import { Action, ErrorBox, Field, Loading, Table, fromLocal, time, toLocal, useForm, useLoad } from '../ui';
import { campaignStatus } from './redenvelopes';

interface Campaign {
  id: string;
  name: string;
  status: string;
  statusReason?: string;
  account: string;
  startAt: string;
  endAt: string;
  qualify: { action: string; withinDays: number };
  capTotal: number;
  capPerDay: number;
  codeKind: string;
  keyword: string;
  createdBy: string;
  approvedBy?: string;
}
interface Report {
  referrers: number;
  friends: number;
  states: { pending: number; confirmed: number; rejected: number };
  rejectedByReason: Record<string, number>;
  rewards: { granted: number; failed: number; byKind: Record<string, number> };
  viral: { day: string; friends: number; referrers: number; k: number }[];
  leaderboard: { rank: number; name: string; confirmed: number; pending: number }[];
}

const qualifyLabel = (a: string) =>
  ({
    phone_verified: t('验证手机号', 'Verifies a phone'),
    purchase: t('完成购买', 'Makes a purchase'),
    stay: t('持续关注', 'Stays subscribed'),
  })[a] ?? a;

export function Referrals() {
  const list = useLoad(() => api<{ items: Campaign[] }>('GET', '/campaigns/referrals'), []);
  const [creating, setCreating] = useState(false);
  return (
    <section>
      <h1>{t('推荐有礼', 'Referral campaigns')}</h1>
      <button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
        {creating ? t('收起', 'Close form') : t('新建推荐活动', 'New referral campaign')}
      </button>
      {creating && <CreateReferral done={(id) => navigate(`/referrals/${id}`)} />}
      <ErrorBox error={list.error} />
      <Loading on={list.loading} />
      <Table
        rows={list.data?.items}
        columns={[
          { label: t('名称', 'Name'), cell: (c) => <a href={`#/referrals/${c.id}`}>{c.name}</a> },
          { label: t('状态', 'Status'), cell: (c) => campaignStatus(c.status) },
          {
            label: t('达标条件', 'Qualifies when'),
            cell: (c) => `${qualifyLabel(c.qualify.action)} · ${c.qualify.withinDays} ${t('天内', 'days')}`,
          },
          { label: t('开始', 'Start'), cell: (c) => time(c.startAt) },
          { label: t('结束', 'End'), cell: (c) => time(c.endAt) },
        ]}
      />
    </section>
  );
}

function CreateReferral(props: { done: (id: string) => void }) {
  const now = new Date();
  const form = useForm({
    name: '',
    account: 'default',
    startAt: toLocal(now),
    endAt: toLocal(new Date(now.getTime() + 30 * 86400_000)),
    action: 'phone_verified',
    withinDays: '7',
    points: '100',
    capTotal: '20',
    capPerDay: '5',
    keyword: '',
    tiers: '',
  });
  const e = form.errors;
  const v = form.values;
  return (
    <form
      class="card"
      aria-label={t('新建推荐活动', 'New referral campaign')}
      onSubmit={(ev) => {
        ev.preventDefault();
        void form.submit(
          async (x) => {
            const tiers = x.tiers.split(/[,，\s]+/).filter(Boolean);
            const created = await api<Campaign>('POST', '/campaigns/referrals', {
              body: {
                name: x.name.trim(),
                account: x.account.trim(),
                startAt: fromLocal(x.startAt),
                endAt: fromLocal(x.endAt),
                qualify: { action: x.action, withinDays: Number(x.withinDays) },
                referrerReward: { kind: 'points', points: Number(x.points) },
                capTotal: Number(x.capTotal),
                capPerDay: Number(x.capPerDay),
                ...(x.keyword.trim() ? { keyword: x.keyword.trim() } : {}),
                ...(tiers.length ? { referrers: { tiers } } : {}),
              },
            });
            props.done(created.id);
          },
          (x) => ({
            ...(x.name.trim() ? {} : { name: t('请填写名称', 'Enter a name') }),
            ...(x.endAt > x.startAt ? {} : { endAt: t('结束须晚于开始', 'Must end after it starts') }),
          }),
        );
      }}
    >
      <h2>{t('新建推荐活动', 'New referral campaign')}</h2>
      <ErrorBox error={form.failure} />
      <div class="grid">
        <Field label={t('名称', 'Name')} error={e.name}>
          {(id) => <input id={id} value={v.name} onInput={form.set('name')} />}
        </Field>
        <Field label={t('公众号', 'Account')} error={e.account}>
          {(id) => <input id={id} value={v.account} onInput={form.set('account')} />}
        </Field>
        <Field label={t('开始（北京时间）', 'Start (Beijing time)')} error={e.startAt}>
          {(id) => <input id={id} type="datetime-local" value={v.startAt} onInput={form.set('startAt')} />}
        </Field>
        <Field label={t('结束（北京时间）', 'End (Beijing time)')} error={e.endAt}>
          {(id) => <input id={id} type="datetime-local" value={v.endAt} onInput={form.set('endAt')} />}
        </Field>
        <Field label={t('好友达标条件', 'The friend qualifies by')} error={e.qualify}>
          {(id) => (
            <select id={id} value={v.action} onChange={form.set('action')}>
              {['phone_verified', 'purchase', 'stay'].map((a) => (
                <option value={a}>{qualifyLabel(a)}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('达标期限（天）', 'Within (days)')}>
          {(id) => (
            <input id={id} type="number" min={1} max={90} value={v.withinDays} onInput={form.set('withinDays')} />
          )}
        </Field>
        <Field label={t('推荐人奖励积分', 'Referrer reward (points)')} error={e.referrerReward}>
          {(id) => <input id={id} type="number" min={1} value={v.points} onInput={form.set('points')} />}
        </Field>
        <Field label={t('每人奖励上限', 'Cap per referrer')} error={e.capTotal}>
          {(id) => <input id={id} type="number" min={1} value={v.capTotal} onInput={form.set('capTotal')} />}
        </Field>
        <Field label={t('每人每日上限', 'Cap per referrer per day')} error={e.capPerDay}>
          {(id) => <input id={id} type="number" min={1} value={v.capPerDay} onInput={form.set('capPerDay')} />}
        </Field>
        <Field label={t('领取推荐码的关键词（可选）', 'Keyword for the code (optional)')} error={e.keyword}>
          {(id) => <input id={id} value={v.keyword} onInput={form.set('keyword')} />}
        </Field>
        <Field label={t('可推荐的等级（可选）', 'Tiers who may refer (optional)')}>
          {(id) => <input id={id} value={v.tiers} onInput={form.set('tiers')} />}
        </Field>
      </div>
      <button type="submit" class="primary" disabled={form.busy}>
        {t('保存为草稿', 'Save as draft')}
      </button>
    </form>
  );
}

export function ReferralDetail(props: { params: Record<string, string> }) {
  const id = props.params.id!;
  const can = useCan();
  const one = useLoad(() => api<Campaign>('GET', `/campaigns/referrals/${id}`), [id]);
  const report = useLoad(() => api<Report>('GET', `/campaigns/referrals/${id}/report`), [id]);
  const c = one.data;
  const reload = () => {
    one.reload();
    report.reload();
  };
  const r = report.data;
  return (
    <section>
      <p>
        <a href="#/referrals">{t('← 返回推荐活动', '← Back to referral campaigns')}</a>
      </p>
      <ErrorBox error={one.error} />
      <Loading on={one.loading} />
      {c && (
        <>
          <h1>{c.name}</h1>
          <p>
            {campaignStatus(c.status)}
            {c.statusReason ? ` · ${c.statusReason}` : ''} · {qualifyLabel(c.qualify.action)} ·{' '}
            {t(`关键词“${c.keyword}”`, `keyword "${c.keyword}"`)}
          </p>
          <div class="buttons">
            {c.status === 'draft' && can('campaign:approve') && (
              <Action
                kind="primary"
                label={t('审批通过', 'Approve')}
                run={() => api('POST', `/campaigns/referrals/${id}/approve`)}
                done={reload}
              />
            )}
            {(c.status === 'approved' || c.status === 'paused') && (
              <Action
                kind="primary"
                label={t('开始', 'Start')}
                run={() => api('POST', `/campaigns/referrals/${id}/start`)}
                done={reload}
              />
            )}
            {c.status === 'running' && (
              <Action
                label={t('暂停', 'Pause')}
                run={async () => {
                  const reason = window.prompt(t('暂停原因', 'Reason')) ?? '';
                  if (reason) await api('POST', `/campaigns/referrals/${id}/pause`, { body: { reason } });
                }}
                done={reload}
              />
            )}
            {['running', 'paused', 'approved'].includes(c.status) && (
              <Action
                kind="danger"
                label={t('结束', 'End')}
                run={async () => {
                  const reason = window.prompt(t('结束原因', 'Reason')) ?? '';
                  if (reason) await api('POST', `/campaigns/referrals/${id}/end`, { body: { reason } });
                }}
                done={reload}
              />
            )}
          </div>
        </>
      )}
      <ErrorBox error={report.error} />
      {r && (
        <>
          <dl class="stats" aria-label={t('推荐数据', 'Referral numbers')}>
            {(
              [
                [t('推荐人', 'Referrers'), r.referrers],
                [t('好友', 'Friends'), r.friends],
                [t('待达标', 'Pending'), r.states.pending],
                [t('已达标', 'Confirmed'), r.states.confirmed],
                [t('未通过', 'Rejected'), r.states.rejected],
                [t('已发奖励', 'Rewards granted'), r.rewards.granted],
                [t('奖励失败', 'Rewards failed'), r.rewards.failed],
              ] as [string, number][]
            ).map(([k, n]) => (
              <div>
                <dt>{k}</dt>
                <dd>{n}</dd>
              </div>
            ))}
          </dl>
          <Table
            caption={t('推荐排行榜', 'Referral leaderboard')}
            rows={r.leaderboard}
            columns={[
              { label: t('名次', 'Rank'), cell: (x) => x.rank },
              { label: t('推荐人', 'Referrer'), cell: (x) => x.name },
              { label: t('已达标', 'Confirmed'), cell: (x) => x.confirmed },
              { label: t('待达标', 'Pending'), cell: (x) => x.pending },
            ]}
          />
          <Table
            caption={t('未通过原因', 'Rejected, by reason')}
            rows={Object.entries(r.rejectedByReason)}
            columns={[
              { label: t('原因', 'Reason'), cell: ([k]) => k },
              { label: t('人数', 'Friends'), cell: ([, n]) => n },
            ]}
          />
          <Table
            caption={t('每日传播系数', 'Viral coefficient per day')}
            rows={r.viral}
            columns={[
              { label: t('日期', 'Day'), cell: (x) => x.day },
              { label: t('新好友', 'Friends'), cell: (x) => x.friends },
              { label: t('推荐人', 'Referrers'), cell: (x) => x.referrers },
              { label: 'K', cell: (x) => x.k.toFixed(2) },
            ]}
          />
        </>
      )}
    </section>
  );
}
