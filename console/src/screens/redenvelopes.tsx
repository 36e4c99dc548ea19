/** Red-envelope campaigns: setup, approval by a second person, the live dashboard, risk reviews, payout cases. */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { navigate } from '../router';
import { useCan } from '../session';
import { Action, ErrorBox, Field, Loading, Table, fromLocal, time, toLocal, useForm, useLoad, yuan } from '../ui';

interface Numbers {
  budgetFen: number;
  wonFen: number;
  paidFen: number;
  inFlightFen: number;
  failedFen: number;
  leftFen: number;
  claims: number;
  lost: number;
  riskDecisions: Record<string, number>;
  invariantOk: boolean;
}
interface Campaign {
  id: string;
  name: string;
  status: string;
  statusReason?: string;
  accounts: string[];
  startAt: string;
  endAt: string;
  budgetFen: number;
  envelopes: number;
  keyword?: string;
  createdBy: string;
  approvedBy?: string;
  numbers?: Numbers;
}

export const campaignStatus = (s: string) =>
  ({
    draft: t('草稿（待审批）', 'Draft (awaiting approval)'),
    approved: t('已审批', 'Approved'),
    running: t('进行中', 'Running'),
    paused: t('已暂停', 'Paused'),
    ended: t('已结束', 'Ended'),
  })[s] ?? s;

export function RedEnvelopes() {
  const list = useLoad(() => api<{ items: Campaign[] }>('GET', '/campaigns/red-envelopes'), []);
  const [creating, setCreating] = useState(false);
  return (
    <section>
      <h1>{t('红包活动', 'Red-envelope campaigns')}</h1>
      <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
        {creating ? t('收起', 'Close form') : t('新建活动', 'New campaign')}
      </button>
      {creating && <CreateCampaign done={(id) => navigate(`/red-envelopes/${id}`)} />}
      <ErrorBox error={list.error} />
      <Loading on={list.loading} />
      <Table
        rows={list.data?.items}
        columns={[
          { label: t('名称', 'Name'), cell: (c) => <a href={`#/red-envelopes/${c.id}`}>{c.name}</a> },
          { label: t('状态', 'Status'), cell: (c) => campaignStatus(c.status) },
          { label: t('预算', 'Budget'), cell: (c) => yuan(c.budgetFen) },
          { label: t('红包数', 'Envelopes'), cell: (c) => c.envelopes },
          { label: t('开始', 'Start'), cell: (c) => time(c.startAt) },
          { label: t('结束', 'End'), cell: (c) => time(c.endAt) },
        ]}
      />
    </section>
  );
}

function CreateCampaign(props: { done: (id: string) => void }) {
  const now = new Date();
  const form = useForm({
    name: '',
    accounts: 'default',
    startAt: toLocal(now),
    endAt: toLocal(new Date(now.getTime() + 7 * 86400_000)),
    budgetYuan: '100',
    prizeKind: 'fixed',
    amountYuan: '1',
    minYuan: '1',
    maxYuan: '5',
    count: '100',
    keyword: '',
    entries: 'keyword,h5',
    perCustomerTotal: '1',
    tiers: '',
  });
  const e = form.errors;
  const fen = (y: string) => Math.round(Number(y) * 100);
  return (
    <form
      class="card"
      onSubmit={(ev) => {
        ev.preventDefault();
        void form.submit(
          async (v) => {
            const entries = v.entries.split(/[,，\s]+/).filter(Boolean);
            const tiers = v.tiers.split(/[,，\s]+/).filter(Boolean);
            const created = await api<Campaign>('POST', '/campaigns/red-envelopes', {
              body: {
                name: v.name.trim(),
                accounts: v.accounts.split(/[,，\s]+/).filter(Boolean),
                startAt: fromLocal(v.startAt),
                endAt: fromLocal(v.endAt),
                budgetFen: fen(v.budgetYuan),
                prize:
                  v.prizeKind === 'fixed'
                    ? { kind: 'fixed', amountFen: fen(v.amountYuan), count: Number(v.count) }
                    : { kind: 'random', minFen: fen(v.minYuan), maxFen: fen(v.maxYuan), count: Number(v.count) },
                entries,
                ...(v.keyword.trim() ? { keyword: v.keyword.trim() } : {}),
                perCustomerTotal: Number(v.perCustomerTotal),
                ...(tiers.length ? { eligibility: { tiers } } : {}),
              },
            });
            props.done(created.id);
          },
          (v) => ({
            ...(v.name.trim() ? {} : { name: t('请填写名称', 'Enter a name') }),
            ...(fen(v.budgetYuan) > 0 ? {} : { budgetFen: t('预算须大于 0', 'The budget must be above 0') }),
            ...(Number.isInteger(Number(v.count)) && Number(v.count) > 0
              ? {}
              : { prize: t('红包数须为正整数', 'A positive count') }),
            ...(v.endAt > v.startAt ? {} : { endAt: t('结束须晚于开始', 'Must end after it starts') }),
          }),
        );
      }}
    >
      <h2>{t('新建红包活动', 'New red-envelope campaign')}</h2>
      <ErrorBox error={form.failure} />
      <div class="grid">
        <Field label={t('名称', 'Name')} error={e.name}>
          {(id) => <input id={id} value={form.values.name} onInput={form.set('name')} />}
        </Field>
        <Field label={t('公众号（逗号分隔）', 'Accounts (comma separated)')} error={e.accounts}>
          {(id) => <input id={id} value={form.values.accounts} onInput={form.set('accounts')} />}
        </Field>
        <Field label={t('开始（北京时间）', 'Start (Beijing)')} error={e.startAt}>
          {(id) => <input id={id} type="datetime-local" value={form.values.startAt} onInput={form.set('startAt')} />}
        </Field>
        <Field label={t('结束', 'End')} error={e.endAt}>
          {(id) => <input id={id} type="datetime-local" value={form.values.endAt} onInput={form.set('endAt')} />}
        </Field>
        <Field label={t('预算（元）', 'Budget (yuan)')} error={e.budgetFen}>
          {(id) => (
            <input id={id} inputMode="decimal" value={form.values.budgetYuan} onInput={form.set('budgetYuan')} />
          )}
        </Field>
        <Field label={t('奖品方式', 'Prize')} error={e.prize}>
          {(id) => (
            <select id={id} value={form.values.prizeKind} onChange={form.set('prizeKind')}>
              <option value="fixed">{t('固定金额', 'Fixed amount')}</option>
              <option value="random">{t('随机金额', 'Random amount')}</option>
            </select>
          )}
        </Field>
        {form.values.prizeKind === 'fixed' ? (
          <Field label={t('每个金额（元）', 'Amount each (yuan)')}>
            {(id) => (
              <input id={id} inputMode="decimal" value={form.values.amountYuan} onInput={form.set('amountYuan')} />
            )}
          </Field>
        ) : (
          <>
            <Field label={t('最小金额（元）', 'Minimum (yuan)')}>
              {(id) => <input id={id} inputMode="decimal" value={form.values.minYuan} onInput={form.set('minYuan')} />}
            </Field>
            <Field label={t('最大金额（元）', 'Maximum (yuan)')}>
              {(id) => <input id={id} inputMode="decimal" value={form.values.maxYuan} onInput={form.set('maxYuan')} />}
            </Field>
          </>
        )}
        <Field label={t('红包个数', 'Envelopes')}>
          {(id) => <input id={id} type="number" min="1" value={form.values.count} onInput={form.set('count')} />}
        </Field>
        <Field label={t('参与入口（keyword,menu,qr,h5,api）', 'Entries (keyword,menu,qr,h5,api)')} error={e.entries}>
          {(id) => <input id={id} value={form.values.entries} onInput={form.set('entries')} />}
        </Field>
        <Field label={t('关键词', 'Keyword')} error={e.keyword}>
          {(id) => <input id={id} value={form.values.keyword} onInput={form.set('keyword')} />}
        </Field>
        <Field label={t('每人总次数', 'Draws per customer')} error={e.perCustomerTotal}>
          {(id) => (
            <input
              id={id}
              type="number"
              min="1"
              value={form.values.perCustomerTotal}
              onInput={form.set('perCustomerTotal')}
            />
          )}
        </Field>
        <Field label={t('限定等级（可空）', 'Tiers (optional)')} error={e.eligibility}>
          {(id) => <input id={id} value={form.values.tiers} onInput={form.set('tiers')} />}
        </Field>
      </div>
      <button type="submit" class="primary" disabled={form.busy}>
        {form.busy ? t('创建中…', 'Creating…') : t('创建（提交审批）', 'Create (for approval)')}
      </button>
    </form>
  );
}

interface ReviewItem {
  decisionId: string;
  profileId: string;
  rules: { rule: string; detail: string }[];
  at: string;
}

export function RedEnvelopeDetail({ params }: { params: Record<string, string> }) {
  const can = useCan();
  const c = useLoad(() => api<Campaign>('GET', `/campaigns/red-envelopes/${params.id}`), [params.id]);
  // The dashboard follows the campaign live while it runs.
  useEffect(() => {
    if (c.data?.status !== 'running') return;
    const timer = setInterval(c.reload, 5000);
    return () => clearInterval(timer);
  }, [c.data?.status]);
  const v = c.data;
  const n = v?.numbers;
  const reason = () => window.prompt(t('原因', 'Reason')) ?? '';
  return (
    <section>
      <p>
        <a href="#/red-envelopes">← {t('返回活动列表', 'Back to campaigns')}</a>
      </p>
      <ErrorBox error={c.error} />
      <Loading on={c.loading && !v} />
      {v && (
        <>
          <h1>
            {v.name} <span class={`badge ${v.status}`}>{campaignStatus(v.status)}</span>
          </h1>
          {v.statusReason && <p class="muted">{v.statusReason}</p>}
          <p>
            {time(v.startAt)} – {time(v.endAt)} · {t('公众号', 'Accounts')}: {v.accounts.join(', ')}
            {v.keyword ? ` · ${t('关键词', 'keyword')}: ${v.keyword}` : ''}
          </p>
          {n && (
            <>
              <dl class="stats" aria-label={t('实时数据', 'Live numbers')}>
                {(
                  [
                    [t('预算', 'Budget'), yuan(n.budgetFen)],
                    [t('已中奖', 'Won'), yuan(n.wonFen)],
                    [t('已到账', 'Paid'), yuan(n.paidFen)],
                    [t('发放中', 'In flight'), yuan(n.inFlightFen)],
                    [t('发放失败', 'Failed'), yuan(n.failedFen)],
                    [t('剩余预算', 'Budget left'), yuan(n.leftFen)],
                    [t('参与次数', 'Claims'), String(n.claims)],
                    [t('未中奖', 'Lost'), String(n.lost)],
                  ] as const
                ).map(([label, value]) => (
                  <div>
                    <dt>{label}</dt>
                    <dd>{value}</dd>
                  </div>
                ))}
              </dl>
              <Bar
                label={t('预算使用', 'Budget used')}
                parts={[
                  [t('已到账', 'Paid'), n.paidFen, 'paid'],
                  [t('发放中', 'In flight'), n.inFlightFen, 'flight'],
                  [t('失败', 'Failed'), n.failedFen, 'failed'],
                  [t('剩余', 'Left'), n.leftFen, 'left'],
                ]}
              />
              {!n.invariantOk && (
                <div class="error" role="alert">
                  {t(
                    '账目不平：已中奖金额与各状态之和不一致，请联系技术人员。',
                    'The books do not balance; call engineering.',
                  )}
                </div>
              )}
              <h2>{t('风控拦截（按规则）', 'Risk decisions by rule')}</h2>
              <Table
                rows={Object.entries(n.riskDecisions)}
                columns={[
                  { label: t('规则', 'Rule'), cell: ([rule]) => rule },
                  { label: t('次数', 'Count'), cell: ([, count]) => count },
                ]}
              />
            </>
          )}
          <div class="buttons">
            <button type="button" onClick={c.reload}>
              {t('刷新', 'Refresh')}
            </button>
            {can('campaign:approve') && v.status === 'draft' && (
              <Action
                kind="primary"
                label={t('审批通过', 'Approve')}
                run={() => api('POST', `/campaigns/red-envelopes/${v.id}/approve`)}
                done={c.reload}
              />
            )}
            {(v.status === 'approved' || v.status === 'paused') && (
              <Action
                kind="primary"
                label={t('开始', 'Start')}
                run={() => api('POST', `/campaigns/red-envelopes/${v.id}/start`)}
                done={c.reload}
              />
            )}
            {v.status === 'running' && (
              <Action
                label={t('暂停', 'Pause')}
                run={async () => {
                  const r = reason();
                  if (r) await api('POST', `/campaigns/red-envelopes/${v.id}/pause`, { body: { reason: r } });
                }}
                done={c.reload}
              />
            )}
            {v.status !== 'ended' && (
              <Action
                kind="danger"
                label={t('结束活动', 'End')}
                run={async () => {
                  const r = reason();
                  if (r) await api('POST', `/campaigns/red-envelopes/${v.id}/end`, { body: { reason: r } });
                }}
                done={c.reload}
              />
            )}
          </div>
          {can('risk:review') && <RiskReviews campaignId={v.id} />}
        </>
      )}
    </section>
  );
}

/** A stacked bar drawn with CSS: each part's share of the whole, with the numbers written out too. */
export function Bar(props: { label: string; parts: [string, number, string][] }) {
  const total = props.parts.reduce((s, [, v]) => s + v, 0) || 1;
  return (
    <figure class="bar">
      <figcaption>{props.label}</figcaption>
      <div class="bar-track" role="img" aria-label={props.parts.map(([l, v]) => `${l} ${yuan(v)}`).join(', ')}>
        {props.parts.map(([l, v, cls]) => (
          <span class={`bar-part ${cls}`} style={{ width: `${(v / total) * 100}%` }} title={`${l} ${yuan(v)}`} />
        ))}
      </div>
      <ul class="legend">
        {props.parts.map(([l, v, cls]) => (
          <li>
            <span class={`swatch ${cls}`} /> {l} {yuan(v)}
          </li>
        ))}
      </ul>
    </figure>
  );
}

function RiskReviews({ campaignId }: { campaignId: string }) {
  const list = useLoad(
    () => api<{ items: ReviewItem[] }>('GET', `/campaigns/red-envelopes/${campaignId}/reviews`),
    [campaignId],
  );
  return (
    <>
      <h2>{t('风控复核队列', 'Risk review queue')}</h2>
      <ErrorBox error={list.error} />
      <Table
        rows={list.data?.items}
        columns={[
          { label: t('客户', 'Customer'), cell: (r) => <a href={`#/customers/${r.profileId}`}>{r.profileId}</a> },
          { label: t('命中规则', 'Rules'), cell: (r) => r.rules.map((x) => `${x.rule}: ${x.detail}`).join('; ') },
          { label: t('时间', 'At'), cell: (r) => time(r.at) },
          {
            label: t('操作', 'Actions'),
            cell: (r) => (
              <>
                <Action
                  kind="primary"
                  label={t('放行', 'Allow')}
                  run={() => api('POST', `/campaigns/red-envelopes/reviews/${r.decisionId}/approve`)}
                  done={list.reload}
                />
                <Action
                  kind="danger"
                  label={t('拒绝', 'Refuse')}
                  run={() => api('POST', `/campaigns/red-envelopes/reviews/${r.decisionId}/reject`)}
                  done={list.reload}
                />
              </>
            ),
          },
        ]}
      />
    </>
  );
}

interface PayoutCase {
  claimId: string;
  campaignId: string;
  profileId: string;
  amountFen: number;
  failReason?: string;
  lastError?: string;
  wonAt: string;
}

/** Failed payouts: finance reads why, fixes the cause (merchant balance, the customer's real-name state), retries. */
export function PayoutCases() {
  const list = useLoad(() => api<{ items: PayoutCase[] }>('GET', '/payout-cases'), []);
  const [retried, setRetried] = useState<string[]>([]);
  return (
    <section>
      <h1>{t('发放异常处理', 'Payout cases')}</h1>
      <p class="muted">
        {t(
          '以下红包发放失败。排除原因（如商户余额不足）后点击“重新发放”。',
          'These payouts failed. Fix the cause (e.g. merchant balance) and retry.',
        )}
      </p>
      <ErrorBox error={list.error} />
      <Loading on={list.loading} />
      <Table
        rows={list.data?.items}
        empty={t('没有待处理的发放失败。', 'No failed payouts to handle.')}
        columns={[
          { label: t('活动', 'Campaign'), cell: (p) => <a href={`#/red-envelopes/${p.campaignId}`}>{p.campaignId}</a> },
          { label: t('客户', 'Customer'), cell: (p) => <a href={`#/customers/${p.profileId}`}>{p.profileId}</a> },
          { label: t('金额', 'Amount'), cell: (p) => yuan(p.amountFen) },
          {
            label: t('失败原因', 'Reason'),
            cell: (p) => [p.failReason, p.lastError].filter(Boolean).join(' · ') || '—',
          },
          { label: t('中奖时间', 'Won at'), cell: (p) => time(p.wonAt) },
          {
            label: t('操作', 'Actions'),
            cell: (p) =>
              retried.includes(p.claimId) ? (
                <span role="status">{t('已重新提交', 'Retry submitted')}</span>
              ) : (
                <Action
                  kind="primary"
                  label={t('重新发放', 'Retry payout')}
                  run={() => api('POST', `/payout-cases/${p.claimId}/retry`)}
                  done={() => setRetried([...retried, p.claimId])}
                />
              ),
          },
        ]}
      />
      <button type="button" onClick={list.reload}>
        {t('刷新', 'Refresh')}
      </button>
    </section>
  );
}
