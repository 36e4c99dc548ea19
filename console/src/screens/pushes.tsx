/**
 * Tiered pushes: compose a plan (audience, channel, content per tier and per A/B variant, schedule), preview
 * what one customer would receive, start it (a second staff member approves a large one), watch its
 * progress, pause / resume / cancel it, and read its report: the funnel per variant drawn as a chart, ROI,
 * the A/B verdict and the comparison with the previous run.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { navigate } from '../router';
import { useCan } from '../session';
import {
  Action,
  ErrorBox,
  Field,
  Loading,
  Notice,
  ProblemList,
  Table,
  fromLocal,
  time,
  toLocal,
  useLoad,
  yuan,
} from '../ui';

interface Content {
  tiers?: string[];
  variant: 'A' | 'B';
  kind?: string;
  text?: string;
  vars: Record<string, string>;
}
interface Progress {
  runs: number;
  targeted: number;
  byState: Record<string, number>;
  pendingTriggers?: number;
}
interface Plan {
  id: string;
  name: string;
  account: string;
  audienceId: string;
  channel: 'template' | 'customer_service' | 'wecom';
  contents: Content[];
  splitB: number;
  landingUrl: string | null;
  schedule: { kind: string; at?: string; cron?: string; event?: string; waitMinutes?: number };
  status: string;
  audienceSize: number | null;
  approvalId: string | null;
  createdBy: string;
  createdAt: string;
  progress?: Progress;
}
interface Row {
  variant: 'A' | 'B' | 'total';
  targeted: number;
  passed: number;
  sent: number;
  delivered: number;
  clicked: number;
  converted: number;
  unfollowed: number;
  failed: number;
  skippedBy: Record<string, number>;
  gainFen: number;
  harmFen: number;
  costFen: number;
  roi: number | null;
}
interface Test {
  controlRate: number;
  treatmentRate: number;
  relativeLift: number | null;
  pValue: number;
  significant: boolean;
  verdict: string;
}
interface Report {
  run: { runId: string; startedAt: string; rows: Row[] } | null;
  previous: { runId: string; startedAt: string; rows: Row[] } | null;
  ab: { clickRate: Test; conversionRate: Test; sampleRatio: { mismatch: boolean } } | null;
  vsPrevious: { clickRate: Test; conversionRate: Test } | null;
}
interface Preview {
  tier: string;
  variant: 'A' | 'B';
  follows: boolean;
  consent: boolean;
  content: number | null;
  rendered:
    | { kind: 'template'; template: string; title: string; fields: { name: string; value: string }[] }
    | { kind: 'text'; text: string }
    | null;
  problem: string | null;
}

export const planStatus = (s: string) =>
  ({
    draft: t('草稿', 'Draft'),
    awaiting_approval: t('待审批', 'Awaiting approval'),
    approved: t('已审批', 'Approved'),
    running: t('发送中', 'Sending'),
    paused: t('已暂停', 'Paused'),
    done: t('已完成', 'Done'),
    cancelled: t('已取消', 'Cancelled'),
  })[s] ?? s;

const channelLabel = (c: string) =>
  ({
    template: t('模板消息', 'Template message'),
    customer_service: t('客服消息（48 小时内互动过的粉丝）', 'Customer-service message (48-hour window)'),
    wecom: t('企业微信群发', 'WeCom group send'),
  })[c] ?? c;

function scheduleText(s: Plan['schedule']): string {
  if (s.kind === 'now') return t('立即', 'Now');
  if (s.kind === 'at') return t(`定时 ${time(s.at)}`, `At ${time(s.at)}`);
  if (s.kind === 'cron') return t(`周期 ${s.cron ?? ''}`, `Recurring ${s.cron ?? ''}`);
  return t(`事件 ${s.event ?? ''} 后 ${s.waitMinutes ?? 0} 分钟`, `${s.waitMinutes ?? 0} min after ${s.event ?? ''}`);
}

export function Pushes() {
  const can = useCan();
  const list = useLoad(() => api<{ items: Plan[] }>('GET', '/pushes/plans'), []);
  const [composing, setComposing] = useState(false);
  return (
    <section>
      <h1>{t('分层推送', 'Tiered pushes')}</h1>
      {can('push:send') && (
        <button type="button" class="primary" aria-expanded={composing} onClick={() => setComposing(!composing)}>
          {composing ? t('收起', 'Close form') : t('新建推送', 'New push')}
        </button>
      )}
      {composing && <Compose done={(id) => navigate(`/pushes/${id}`)} />}
      <ErrorBox error={list.error} />
      <Loading on={list.loading} />
      <Table
        rows={list.data?.items}
        columns={[
          { label: t('名称', 'Name'), cell: (p) => <a href={`#/pushes/${p.id}`}>{p.name}</a> },
          { label: t('状态', 'Status'), cell: (p) => planStatus(p.status) },
          { label: t('渠道', 'Channel'), cell: (p) => channelLabel(p.channel) },
          { label: t('时间', 'Schedule'), cell: (p) => scheduleText(p.schedule) },
          { label: t('人数', 'Audience'), cell: (p) => p.audienceSize ?? '—' },
          { label: t('创建时间', 'Created'), cell: (p) => time(p.createdAt) },
        ]}
      />
    </section>
  );
}

interface ContentDraft {
  tiers: string;
  variant: 'A' | 'B';
  kind: string;
  text: string;
  vars: string;
}
const emptyContent = (variant: 'A' | 'B' = 'A'): ContentDraft => ({
  tiers: '',
  variant,
  kind: 'campaign_notice',
  text: '',
  vars: 'title=\nbody=',
});

/** `title=新品\nbody=欢迎` → { title: '新品', body: '欢迎' } */
function parseVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) vars[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return vars;
}

function Compose(props: { done: (id: string) => void }) {
  const audiences = useLoad(
    () => api<{ items: { id: string; name: string }[] }>('GET', '/audiences', { query: { limit: 100 } }),
    [],
  );
  const [name, setName] = useState('');
  const [account, setAccount] = useState('default');
  const [audienceId, setAudienceId] = useState('');
  const [channel, setChannel] = useState<Plan['channel']>('template');
  const [contents, setContents] = useState<ContentDraft[]>([emptyContent()]);
  const [splitB, setSplitB] = useState('0');
  const [landingUrl, setLandingUrl] = useState('');
  const [schedule, setSchedule] = useState('now');
  const [at, setAt] = useState(toLocal(new Date(Date.now() + 3_600_000)));
  const [cron, setCron] = useState('0 10 * * 1');
  const [event, setEvent] = useState('subscribe');
  const [wait, setWait] = useState('60');
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const first = audiences.data?.items[0];
    if (!audienceId && first) setAudienceId(first.id);
  }, [audiences.data]);
  const change = (i: number, patch: Partial<ContentDraft>) =>
    setContents(contents.map((c, k) => (k === i ? { ...c, ...patch } : c)));

  const submit = async () => {
    setFailure(null);
    if (!name.trim() || !audienceId) {
      setFailure(new Error(t('请填写名称并选择人群', 'Enter a name and pick an audience')));
      return;
    }
    setBusy(true);
    try {
      const created = await api<Plan>('POST', '/pushes/plans', {
        body: {
          name: name.trim(),
          account,
          audienceId,
          channel,
          contents: contents.map((c) => {
            const tiers = c.tiers
              .split(/[,，\s]+/)
              .map((x) => x.trim())
              .filter(Boolean);
            return {
              ...(tiers.length ? { tiers } : {}),
              variant: c.variant,
              ...(channel === 'template' ? { kind: c.kind.trim() } : { text: c.text }),
              vars: parseVars(c.vars),
            };
          }),
          splitB: Number(splitB) / 100,
          ...(landingUrl.trim() ? { landingUrl: landingUrl.trim() } : {}),
          schedule:
            schedule === 'now'
              ? { kind: 'now' }
              : schedule === 'at'
                ? { kind: 'at', at: fromLocal(at) }
                : schedule === 'cron'
                  ? { kind: 'cron', cron: cron.trim() }
                  : { kind: 'event', event: event.trim(), waitMinutes: Number(wait) },
        },
      });
      props.done(created.id);
    } catch (err) {
      setFailure(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="card"
      aria-label={t('新建推送', 'New push')}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>{t('新建分层推送', 'New tiered push')}</h2>
      <ErrorBox error={failure} />
      <ProblemList error={failure} />
      <div class="grid">
        <Field label={t('推送名称', 'Push name')}>
          {(id) => <input id={id} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label={t('公众号', 'Account')}>
          {(id) => <input id={id} value={account} onInput={(e) => setAccount(e.currentTarget.value)} />}
        </Field>
        <Field label={t('目标人群', 'Audience')}>
          {(id) => (
            <select id={id} value={audienceId} onChange={(e) => setAudienceId(e.currentTarget.value)}>
              {(audiences.data?.items ?? []).map((a) => (
                <option value={a.id}>{a.name}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('渠道', 'Channel')}>
          {(id) => (
            <select id={id} value={channel} onChange={(e) => setChannel(e.currentTarget.value as Plan['channel'])}>
              {(['template', 'customer_service', 'wecom'] as const).map((c) => (
                <option value={c}>{channelLabel(c)}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('B 版本比例（%）', 'Share getting variant B (%)')} hint={t('0 表示不做 A/B', '0: no A/B test')}>
          {(id) => (
            <input
              id={id}
              type="number"
              min={0}
              max={90}
              value={splitB}
              onInput={(e) => setSplitB(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label={t('落地页链接', 'Landing URL')}>
          {(id) => <input id={id} value={landingUrl} onInput={(e) => setLandingUrl(e.currentTarget.value)} />}
        </Field>
      </div>
      {contents.map((c, i) => (
        <fieldset class="cond-row">
          <legend>{t(`内容 ${i + 1}`, `Content ${i + 1}`)}</legend>
          <Field label={t('适用等级（逗号分隔，空为其余等级）', 'Tiers (comma separated; empty: every other tier)')}>
            {(id) => <input id={id} value={c.tiers} onInput={(e) => change(i, { tiers: e.currentTarget.value })} />}
          </Field>
          <Field label={t('版本', 'Variant')}>
            {(id) => (
              <select
                id={id}
                value={c.variant}
                onChange={(e) => change(i, { variant: e.currentTarget.value as 'A' | 'B' })}
              >
                <option value="A">A</option>
                <option value="B">B</option>
              </select>
            )}
          </Field>
          {channel === 'template' ? (
            <Field label={t('消息模板', 'Message template')}>
              {(id) => <input id={id} value={c.kind} onInput={(e) => change(i, { kind: e.currentTarget.value })} />}
            </Field>
          ) : (
            <Field label={t('消息正文', 'Message text')}>
              {(id) => <textarea id={id} value={c.text} onInput={(e) => change(i, { text: e.currentTarget.value })} />}
            </Field>
          )}
          <Field label={t('变量（每行 名称=取值）', 'Variables (one name=value per line)')}>
            {(id) => (
              <textarea id={id} rows={3} value={c.vars} onInput={(e) => change(i, { vars: e.currentTarget.value })} />
            )}
          </Field>
          {contents.length > 1 && (
            <button type="button" class="danger" onClick={() => setContents(contents.filter((_, k) => k !== i))}>
              {t(`删除内容 ${i + 1}`, `Remove content ${i + 1}`)}
            </button>
          )}
        </fieldset>
      ))}
      <button type="button" onClick={() => setContents([...contents, emptyContent()])} disabled={contents.length >= 20}>
        {t('添加内容', 'Add content')}
      </button>
      <fieldset>
        <legend>{t('发送时间', 'When')}</legend>
        <Field label={t('方式', 'Schedule')}>
          {(id) => (
            <select id={id} value={schedule} onChange={(e) => setSchedule(e.currentTarget.value)}>
              <option value="now">{t('立即发送', 'Now')}</option>
              <option value="at">{t('定时发送', 'At a time')}</option>
              <option value="cron">{t('周期发送', 'Recurring')}</option>
              <option value="event">{t('事件触发后等待', 'After an event, with a wait')}</option>
            </select>
          )}
        </Field>
        {schedule === 'at' && (
          <Field label={t('发送时间（北京时间）', 'Send at (Beijing time)')}>
            {(id) => <input id={id} type="datetime-local" value={at} onInput={(e) => setAt(e.currentTarget.value)} />}
          </Field>
        )}
        {schedule === 'cron' && (
          <Field label={t('Cron 表达式（北京时间）', 'Cron (Beijing time)')} hint="0 10 * * 1">
            {(id) => <input id={id} value={cron} onInput={(e) => setCron(e.currentTarget.value)} />}
          </Field>
        )}
        {schedule === 'event' && (
          <>
            <Field label={t('事件类型', 'Event type')}>
              {(id) => <input id={id} value={event} onInput={(e) => setEvent(e.currentTarget.value)} />}
            </Field>
            <Field label={t('等待分钟', 'Wait (minutes)')}>
              {(id) => (
                <input id={id} type="number" min={0} value={wait} onInput={(e) => setWait(e.currentTarget.value)} />
              )}
            </Field>
          </>
        )}
      </fieldset>
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
          {busy ? t('保存中…', 'Saving…') : t('保存为草稿', 'Save as draft')}
        </button>
      </div>
    </form>
  );
}

function PreviewBox(props: { plan: Plan }) {
  const [profileId, setProfileId] = useState('');
  const [result, setResult] = useState<Preview | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  return (
    <form
      class="card"
      aria-label={t('预览', 'Preview')}
      onSubmit={(e) => {
        e.preventDefault();
        setFailure(null);
        api<Preview>('POST', `/pushes/plans/${props.plan.id}/preview`, { body: { profileId: profileId.trim() } }).then(
          setResult,
          (err: unknown) => (setResult(null), setFailure(err)),
        );
      }}
    >
      <h2>{t('按客户预览', 'Preview for a customer')}</h2>
      <Field label={t('客户 ID', 'Customer id')} hint={t('在客户查询中复制', 'Copy it from customer search')}>
        {(id) => <input id={id} value={profileId} onInput={(e) => setProfileId(e.currentTarget.value)} />}
      </Field>
      <button type="submit">{t('预览', 'Preview')}</button>
      <ErrorBox error={failure} />
      {result && (
        <div class="preview" role="region" aria-label={t('预览结果', 'Preview result')}>
          <p>
            {t(
              `等级 ${result.tier || '—'} · 版本 ${result.variant}`,
              `Tier ${result.tier || '—'} · variant ${result.variant}`,
            )}
            {!result.follows && ` · ${t('未关注该公众号：不会发送', 'does not follow the account: nothing is sent')}`}
            {!result.consent && ` · ${t('已拒绝营销：不会发送', 'refused marketing: nothing is sent')}`}
          </p>
          {result.content === null && (
            <p>{t('没有适用于该等级的内容：不会发送', 'No content for this tier: nothing is sent')}</p>
          )}
          {result.problem && <p class="error">{result.problem}</p>}
          {result.rendered?.kind === 'template' && (
            <div class="message">
              <strong>{result.rendered.title}</strong>
              <dl>
                {result.rendered.fields.map((f) => (
                  <>
                    <dt>{f.name}</dt>
                    <dd>{f.value}</dd>
                  </>
                ))}
              </dl>
            </div>
          )}
          {result.rendered?.kind === 'text' && <p class="message">{result.rendered.text}</p>}
        </div>
      )}
    </form>
  );
}

const STEPS: [keyof Row, () => string][] = [
  ['targeted', () => t('目标', 'Targeted')],
  ['passed', () => t('通过防打扰', 'Passed anti-harassment')],
  ['sent', () => t('已发送', 'Sent')],
  ['delivered', () => t('已送达', 'Delivered')],
  ['clicked', () => t('已点击', 'Clicked')],
  ['converted', () => t('已转化', 'Converted')],
  ['unfollowed', () => t('取关', 'Unfollowed')],
];

/** The funnel as an SVG bar chart: one group per step, one bar per variant, the number written on each. */
export function FunnelChart(props: { rows: Row[]; title: string }) {
  const rows = props.rows.filter((r) => r.variant !== 'total');
  const shown = rows.length > 0 ? rows : props.rows;
  const max = Math.max(1, ...shown.flatMap((r) => STEPS.map(([k]) => Number(r[k]))));
  const barW = 18;
  const groupW = shown.length * barW + 40;
  const height = 120;
  const width = STEPS.length * groupW + 20;
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height + 40}`} role="img" aria-label={props.title} width="100%">
        {STEPS.map(([key, label], s) =>
          shown.map((r, v) => {
            const value = Number(r[key]);
            const h = Math.round((value / max) * height);
            const x = 10 + s * groupW + v * barW;
            return (
              <g data-step={key} data-variant={r.variant}>
                <rect
                  x={x}
                  y={height - h + 14}
                  width={barW - 3}
                  height={h}
                  class={`bar-v${r.variant} ${key === 'unfollowed' ? 'harm' : ''}`}
                >
                  <title>{`${label()} ${r.variant}: ${value}`}</title>
                </rect>
                <text x={x + (barW - 3) / 2} y={height - h + 10} text-anchor="middle" font-size="10">
                  {value}
                </text>
              </g>
            );
          }),
        )}
        {STEPS.map(([, label], s) => (
          <text x={10 + s * groupW + (shown.length * barW) / 2} y={height + 30} text-anchor="middle" font-size="9">
            {label()}
          </text>
        ))}
      </svg>
      <ul class="legend">
        {shown.map((r) => (
          <li>
            <span class={`swatch bar-v${r.variant}`} />{' '}
            {r.variant === 'total' ? t('合计', 'All') : t(`版本 ${r.variant}`, `Variant ${r.variant}`)}
          </li>
        ))}
      </ul>
      <Table
        caption={t('漏斗数据', 'Funnel figures')}
        rows={props.rows}
        columns={[
          { label: t('版本', 'Variant'), cell: (r) => (r.variant === 'total' ? t('合计', 'All') : r.variant) },
          ...STEPS.map(([k, l]) => ({ label: l(), cell: (r: Row) => Number(r[k]) })),
          { label: t('收益', 'Gain'), cell: (r: Row) => yuan(r.gainFen) },
          { label: t('损失', 'Harm'), cell: (r: Row) => yuan(r.harmFen) },
          { label: t('成本', 'Cost'), cell: (r: Row) => yuan(r.costFen) },
          { label: 'ROI', cell: (r: Row) => (r.roi === null ? '—' : `${(r.roi * 100).toFixed(0)}%`) },
        ]}
      />
    </figure>
  );
}

const verdictText = (v: string) =>
  ({
    treatment_better: t('B 明显更好', 'B is better'),
    control_better: t('A 明显更好', 'A is better'),
    no_significant_difference: t('无显著差异', 'No significant difference'),
    insufficient_sample: t('样本不足', 'Not enough sample yet'),
  })[v] ?? v;

function ReportView(props: { plan: Plan; tick: number }) {
  const report = useLoad(
    () => api<Report>('GET', `/pushes/plans/${props.plan.id}/report`),
    [props.plan.id, props.tick],
  );
  const r = report.data;
  return (
    <section class="card" aria-label={t('推送报告', 'Push report')}>
      <h2>{t('效果报告', 'Report')}</h2>
      <ErrorBox error={report.error} />
      {!r?.run && !report.loading && <p class="muted">{t('尚未发送', 'Not sent yet')}</p>}
      {r?.run && (
        <FunnelChart
          rows={r.run.rows}
          title={t(`本次发送漏斗（${time(r.run.startedAt)}）`, `Funnel of this run (${time(r.run.startedAt)})`)}
        />
      )}
      {r?.ab && (
        <p>
          {t('A/B 点击率：', 'A/B click rate: ')}
          {verdictText(r.ab.clickRate.verdict)} (p = {r.ab.clickRate.pValue.toFixed(3)}) ·{' '}
          {t('转化率：', 'conversion rate: ')}
          {verdictText(r.ab.conversionRate.verdict)} (p = {r.ab.conversionRate.pValue.toFixed(3)})
          {r.ab.sampleRatio.mismatch && <strong> · {t('分流比例异常', 'sample ratio mismatch')}</strong>}
        </p>
      )}
      {r?.previous && (
        <FunnelChart
          rows={r.previous.rows}
          title={t(`上一次发送（${time(r.previous.startedAt)}）`, `Previous run (${time(r.previous.startedAt)})`)}
        />
      )}
      {r?.vsPrevious && (
        <p>
          {t('与上次相比，点击率：', 'Against the previous run, click rate: ')}
          {verdictText(r.vsPrevious.clickRate.verdict)} · {t('转化率：', 'conversion rate: ')}
          {verdictText(r.vsPrevious.conversionRate.verdict)}
        </p>
      )}
    </section>
  );
}

export function PushDetail(props: { params: Record<string, string> }) {
  const id = props.params.id!;
  const can = useCan();
  const [tick, setTick] = useState(0);
  const plan = useLoad(() => api<Plan>('GET', `/pushes/plans/${id}`), [id, tick]);
  const p = plan.data;
  // While a plan sends, its progress and report refresh every two seconds.
  useEffect(() => {
    if (p?.status !== 'running' && p?.status !== 'awaiting_approval') return;
    const timer = setTimeout(() => setTick((n) => n + 1), 2000);
    return () => clearTimeout(timer);
  }, [p, tick]);
  const reload = () => setTick((n) => n + 1);
  const byState = p?.progress?.byState ?? {};
  return (
    <section>
      <p>
        <a href="#/pushes">{t('← 返回推送列表', '← Back to pushes')}</a>
      </p>
      <ErrorBox error={plan.error} />
      {!p && <Loading on={plan.loading} />}
      {p && (
        <>
          <h1>{p.name}</h1>
          <dl class="stats" aria-label={t('进度', 'Progress')}>
            {(
              [
                [t('状态', 'Status'), planStatus(p.status)],
                [t('渠道', 'Channel'), channelLabel(p.channel)],
                [t('时间', 'Schedule'), scheduleText(p.schedule)],
                [t('人数', 'Audience'), p.audienceSize ?? '—'],
                [t('已发送', 'Sent'), (byState.sent ?? 0) + (byState.delivered ?? 0)],
                [t('已送达', 'Delivered'), byState.delivered ?? 0],
                [t('未发送', 'Skipped'), byState.skipped ?? 0],
                [t('失败', 'Failed'), byState.failed ?? 0],
              ] as [string, string | number][]
            ).map(([k, v]) => (
              <div>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
          {p.status === 'awaiting_approval' && (
            <Notice>
              {t(
                '该推送人数较多，需另一位同事在“审批”中通过后，再点击“开始发送”。',
                'This push is large: a colleague approves it under Approvals, then press Start.',
              )}
            </Notice>
          )}
          {can('push:send') && (
            <div class="buttons">
              {['draft', 'awaiting_approval', 'approved'].includes(p.status) && (
                <Action
                  kind="primary"
                  label={t('开始发送', 'Start')}
                  run={() => api('POST', `/pushes/plans/${id}/start`)}
                  done={reload}
                />
              )}
              {p.status === 'running' && (
                <Action label={t('暂停', 'Pause')} run={() => api('POST', `/pushes/plans/${id}/pause`)} done={reload} />
              )}
              {p.status === 'paused' && (
                <Action
                  label={t('继续', 'Resume')}
                  run={() => api('POST', `/pushes/plans/${id}/resume`)}
                  done={reload}
                />
              )}
              {['draft', 'awaiting_approval', 'approved', 'running', 'paused'].includes(p.status) && (
                <Action
                  kind="danger"
                  label={t('取消推送', 'Cancel push')}
                  confirm={t('取消后不可恢复，确定吗？', 'A cancelled push cannot resume. Cancel it?')}
                  run={() => api('POST', `/pushes/plans/${id}/cancel`)}
                  done={reload}
                />
              )}
            </div>
          )}
          <Table
            caption={t('各等级内容', 'Content per tier')}
            rows={p.contents}
            columns={[
              { label: t('等级', 'Tiers'), cell: (c) => c.tiers?.join(', ') || t('其余等级', 'Every other tier') },
              { label: t('版本', 'Variant'), cell: (c) => c.variant },
              { label: t('模板/正文', 'Template / text'), cell: (c) => c.kind ?? c.text ?? '' },
              {
                label: t('变量', 'Variables'),
                cell: (c) =>
                  Object.entries(c.vars)
                    .map(([k, v]) => `${k}=${v}`)
                    .join('; '),
              },
            ]}
          />
          <PreviewBox plan={p} />
          {can('report:read') && <ReportView plan={p} tick={tick} />}
        </>
      )}
    </section>
  );
}
