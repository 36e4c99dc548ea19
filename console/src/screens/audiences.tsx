/**
 * Audiences: a condition builder over the API's whitelisted condition language (profile fields, tags,
 * consent, follows, events, T±N dates, and/or/not), combinations of saved audiences (union, intersection,
 * difference), a live size estimate with masked samples, and the saved list. The builder only composes
 * the JSON the admin API validates; it never sends a field or operator the API does not know.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { ErrorBox, Field, Loading, Pager, ProblemList, Table, time, useLoad, usePaged } from '../ui';

interface Member {
  profileId: string;
  name: string;
  tier: string;
  phone?: string;
}
interface AudienceSummary {
  id: string;
  name: string;
  kind: 'condition' | 'snapshot' | 'list' | 'combination';
  createdBy: string;
  createdAt: string;
  frozenCount?: number;
}
interface AudienceView extends AudienceSummary {
  size: number;
  preview: Member[];
  condition?: unknown;
  op?: string;
  audienceIds?: string[];
}

const kindLabel = (k: string) =>
  ({
    condition: t('动态条件', 'Dynamic'),
    snapshot: t('快照', 'Snapshot'),
    list: t('名单', 'List'),
    combination: t('组合', 'Combination'),
  })[k] ?? k;

/** One row of the builder: what it tests and how. `not` negates the row. */
export interface Row {
  type: 'field' | 'tag' | 'consent' | 'follows' | 'event';
  field: string;
  op: string;
  value: string;
  /** follows: account; event: event type; tag: tag name; consent: channel */
  name: string;
  from: string;
  until: string;
  countOp: string;
  count: string;
  not: boolean;
}

const FIELDS: { key: string; label: () => string; type: 'string' | 'date' | 'boolean' }[] = [
  { key: 'tier', label: () => t('等级', 'Tier'), type: 'string' },
  { key: 'stage', label: () => t('阶段', 'Stage'), type: 'string' },
  { key: 'region', label: () => t('地区', 'Region'), type: 'string' },
  { key: 'gender', label: () => t('性别', 'Gender'), type: 'string' },
  { key: 'source', label: () => t('来源', 'Source'), type: 'string' },
  { key: 'ownerStaffId', label: () => t('负责人', 'Owner'), type: 'string' },
  { key: 'createdAt', label: () => t('建档时间', 'Created'), type: 'date' },
  { key: 'lastInteractionAt', label: () => t('最近互动', 'Last interaction'), type: 'date' },
  { key: 'phoneVerified', label: () => t('手机已验证', 'Phone verified'), type: 'boolean' },
];
const OPS: Record<'string' | 'date' | 'boolean', [string, () => string][]> = {
  string: [
    ['eq', () => t('等于', 'is')],
    ['ne', () => t('不等于', 'is not')],
    ['in', () => t('属于（逗号分隔）', 'is one of (comma separated)')],
    ['nin', () => t('不属于', 'is none of')],
    ['exists', () => t('已填写', 'is set')],
  ],
  date: [
    ['gte', () => t('晚于或等于', 'on or after')],
    ['lt', () => t('早于', 'before')],
  ],
  boolean: [['eq', () => t('等于', 'is')]],
};

export const emptyRow = (): Row => ({
  type: 'field',
  field: 'tier',
  op: 'eq',
  value: '',
  name: '',
  from: '',
  until: '',
  countOp: 'gte',
  count: '1',
  not: false,
});

const split = (v: string) =>
  v
    .split(/[,，\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** A builder row as the API's condition JSON (or a message saying what is missing). */
export function rowCondition(row: Row): { condition?: unknown; problem?: string } {
  let leaf: unknown;
  switch (row.type) {
    case 'field': {
      const def = FIELDS.find((f) => f.key === row.field)!;
      if (row.op === 'exists') leaf = { field: row.field, op: 'exists', value: true };
      else if (!row.value.trim()) return { problem: t('请填写取值', 'Enter a value') };
      else if (def.type === 'boolean') leaf = { field: row.field, op: 'eq', value: row.value === 'true' };
      else if (row.op === 'in' || row.op === 'nin') leaf = { field: row.field, op: row.op, value: split(row.value) };
      else leaf = { field: row.field, op: row.op, value: row.value.trim() };
      break;
    }
    case 'tag':
      if (!row.name.trim()) return { problem: t('请填写标签', 'Enter a tag') };
      leaf = { tag: row.name.trim() };
      break;
    case 'consent':
      leaf = { consent: row.name || 'wechat', allowed: row.value !== 'false' };
      break;
    case 'follows':
      if (!row.name.trim()) return { problem: t('请填写公众号', 'Enter an account') };
      leaf = {
        follows: row.name.trim(),
        ...(row.from.trim() ? { since: row.from.trim() } : {}),
        ...(row.until.trim() ? { until: row.until.trim() } : {}),
      };
      break;
    case 'event':
      if (!row.name.trim()) return { problem: t('请填写事件类型', 'Enter an event type') };
      leaf = {
        event: row.name.trim(),
        ...(row.from.trim() ? { from: row.from.trim() } : {}),
        ...(row.until.trim() ? { until: row.until.trim() } : {}),
        count: { op: row.countOp, value: Number(row.count) || 0 },
      };
      break;
  }
  return { condition: row.not ? { not: leaf } : leaf };
}

export function builtCondition(rows: Row[], join: 'all' | 'any'): { condition?: unknown; problem?: string } {
  const parts = rows.map(rowCondition);
  const problem = parts.find((p) => p.problem)?.problem;
  if (problem) return { problem };
  const conditions = parts.map((p) => p.condition);
  return { condition: conditions.length === 1 ? conditions[0] : { [join]: conditions } };
}

function RowEditor(props: { row: Row; index: number; change: (row: Row) => void; remove?: () => void }) {
  const { row } = props;
  const set = (patch: Partial<Row>) => props.change({ ...row, ...patch });
  const def = FIELDS.find((f) => f.key === row.field) ?? FIELDS[0]!;
  const n = props.index + 1;
  return (
    <fieldset class="cond-row">
      <legend>{t(`条件 ${n}`, `Condition ${n}`)}</legend>
      <Field label={t('类型', 'Kind')}>
        {(id) => (
          <select
            id={id}
            value={row.type}
            onChange={(e) => set({ ...emptyRow(), type: e.currentTarget.value as Row['type'], not: row.not })}
          >
            <option value="field">{t('客户字段', 'Profile field')}</option>
            <option value="tag">{t('标签', 'Tag')}</option>
            <option value="consent">{t('营销授权', 'Consent')}</option>
            <option value="follows">{t('关注公众号', 'Follows account')}</option>
            <option value="event">{t('行为事件', 'Event')}</option>
          </select>
        )}
      </Field>
      {row.type === 'field' && (
        <>
          <Field label={t('字段', 'Field')}>
            {(id) => (
              <select
                id={id}
                value={row.field}
                onChange={(e) => {
                  const f = FIELDS.find((x) => x.key === e.currentTarget.value)!;
                  set({ field: f.key, op: OPS[f.type][0]![0], value: '' });
                }}
              >
                {FIELDS.map((f) => (
                  <option value={f.key}>{f.label()}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t('运算', 'Operator')}>
            {(id) => (
              <select id={id} value={row.op} onChange={(e) => set({ op: e.currentTarget.value })}>
                {OPS[def.type].map(([k, l]) => (
                  <option value={k}>{l()}</option>
                ))}
              </select>
            )}
          </Field>
          {row.op !== 'exists' && (
            <Field
              label={t('取值', 'Value')}
              hint={def.type === 'date' ? t('T 为今天，T-1 为昨天，T+7 为七天后', 'T today, T-1 yesterday, T+7') : ''}
            >
              {(id) =>
                def.type === 'boolean' ? (
                  <select id={id} value={row.value} onChange={(e) => set({ value: e.currentTarget.value })}>
                    <option value="">—</option>
                    <option value="true">{t('是', 'Yes')}</option>
                    <option value="false">{t('否', 'No')}</option>
                  </select>
                ) : (
                  <input id={id} value={row.value} onInput={(e) => set({ value: e.currentTarget.value })} />
                )
              }
            </Field>
          )}
        </>
      )}
      {row.type === 'tag' && (
        <Field label={t('标签名', 'Tag name')}>
          {(id) => <input id={id} value={row.name} onInput={(e) => set({ name: e.currentTarget.value })} />}
        </Field>
      )}
      {row.type === 'consent' && (
        <>
          <Field label={t('渠道', 'Channel')}>
            {(id) => (
              <select id={id} value={row.name || 'wechat'} onChange={(e) => set({ name: e.currentTarget.value })}>
                <option value="wechat">{t('微信', 'WeChat')}</option>
                <option value="wecom">{t('企业微信', 'WeCom')}</option>
                <option value="sms">{t('短信', 'SMS')}</option>
                <option value="email">{t('邮件', 'Email')}</option>
              </select>
            )}
          </Field>
          <Field label={t('是否同意', 'Allowed')}>
            {(id) => (
              <select id={id} value={row.value || 'true'} onChange={(e) => set({ value: e.currentTarget.value })}>
                <option value="true">{t('同意', 'Allowed')}</option>
                <option value="false">{t('拒绝', 'Refused')}</option>
              </select>
            )}
          </Field>
        </>
      )}
      {(row.type === 'follows' || row.type === 'event') && (
        <>
          <Field label={row.type === 'follows' ? t('公众号', 'Account') : t('事件类型', 'Event type')}>
            {(id) => <input id={id} value={row.name} onInput={(e) => set({ name: e.currentTarget.value })} />}
          </Field>
          <Field label={t('起始（如 T-7）', 'From (e.g. T-7)')}>
            {(id) => <input id={id} value={row.from} onInput={(e) => set({ from: e.currentTarget.value })} />}
          </Field>
          <Field label={t('截止（如 T）', 'Until (e.g. T)')}>
            {(id) => <input id={id} value={row.until} onInput={(e) => set({ until: e.currentTarget.value })} />}
          </Field>
        </>
      )}
      {row.type === 'event' && (
        <>
          <Field label={t('次数条件', 'Count')}>
            {(id) => (
              <select id={id} value={row.countOp} onChange={(e) => set({ countOp: e.currentTarget.value })}>
                <option value="gte">≥</option>
                <option value="eq">=</option>
                <option value="lt">&lt;</option>
              </select>
            )}
          </Field>
          <Field label={t('次数', 'Times')}>
            {(id) => (
              <input
                id={id}
                type="number"
                min={0}
                value={row.count}
                onInput={(e) => set({ count: e.currentTarget.value })}
              />
            )}
          </Field>
        </>
      )}
      <label class="check">
        <input type="checkbox" checked={row.not} onChange={(e) => set({ not: e.currentTarget.checked })} />
        {t('取反（排除符合的客户）', 'Not (exclude matching customers)')}
      </label>
      {props.remove && (
        <button type="button" class="danger" onClick={props.remove}>
          {t(`删除条件 ${n}`, `Remove condition ${n}`)}
        </button>
      )}
    </fieldset>
  );
}

function Samples(props: { members: Member[] }) {
  return (
    <Table
      caption={t('样例客户（已脱敏）', 'Sample customers (masked)')}
      rows={props.members}
      empty={t('没有符合的客户', 'No matching customers')}
      columns={[
        { label: t('姓名', 'Name'), cell: (m) => m.name || '—' },
        { label: t('等级', 'Tier'), cell: (m) => m.tier },
        { label: t('手机', 'Phone'), cell: (m) => m.phone ?? '—' },
      ]}
    />
  );
}

function Builder(props: { saved: () => void }) {
  const [mode, setMode] = useState<'condition' | 'combination'>('condition');
  const [rows, setRows] = useState<Row[]>([emptyRow()]);
  const [join, setJoin] = useState<'all' | 'any'>('all');
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'condition' | 'snapshot'>('condition');
  const [op, setOp] = useState('union');
  const [picked, setPicked] = useState<string[]>([]);
  const [estimate, setEstimate] = useState<{ size: number; tookMs: number; sample: Member[] } | null>(null);
  const [estimateError, setEstimateError] = useState<unknown>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const saved = useLoad(() => api<{ items: AudienceSummary[] }>('GET', '/audiences', { query: { limit: 100 } }), []);
  const built = builtCondition(rows, join);
  const key = JSON.stringify(built.condition ?? null);

  // The live estimate: a quarter second after the last change, and only for a complete condition.
  useEffect(() => {
    if (mode !== 'condition' || !built.condition) return;
    let live = true;
    const timer = setTimeout(() => {
      api<{ size: number; tookMs: number; sample: Member[] }>('POST', '/audiences/estimate', {
        body: { condition: built.condition, sample: 5 },
      }).then(
        (r) => live && (setEstimate(r), setEstimateError(null)),
        (err: unknown) => live && setEstimateError(err),
      );
    }, 250);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [key, mode]);

  const save = async () => {
    setFailure(null);
    if (!name.trim()) {
      setFailure(new Error(t('请填写人群名称', 'Enter a name for the audience')));
      return;
    }
    const body =
      mode === 'condition'
        ? built.condition
          ? { kind, name: name.trim(), condition: built.condition }
          : undefined
        : { kind: 'combination', name: name.trim(), op, audienceIds: picked };
    if (!body) {
      setFailure(new Error(built.problem ?? t('条件不完整', 'The condition is incomplete')));
      return;
    }
    setBusy(true);
    try {
      await api('POST', '/audiences', { body });
      setName('');
      props.saved();
      saved.reload();
    } catch (err) {
      setFailure(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="card"
      aria-label={t('人群构建器', 'Audience builder')}
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <h2>{t('新建人群', 'New audience')}</h2>
      <ErrorBox error={failure} />
      <ProblemList error={failure} />
      <div class="grid">
        <Field label={t('人群名称', 'Audience name')}>
          {(id) => <input id={id} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label={t('构建方式', 'Built from')}>
          {(id) => (
            <select id={id} value={mode} onChange={(e) => setMode(e.currentTarget.value as typeof mode)}>
              <option value="condition">{t('条件', 'Conditions')}</option>
              <option value="combination">{t('已有人群的集合运算', 'Set operation on saved audiences')}</option>
            </select>
          )}
        </Field>
      </div>
      {mode === 'condition' ? (
        <>
          <div class="grid">
            <Field label={t('条件之间', 'Between conditions')}>
              {(id) => (
                <select id={id} value={join} onChange={(e) => setJoin(e.currentTarget.value as typeof join)}>
                  <option value="all">{t('全部满足（且）', 'All of them (and)')}</option>
                  <option value="any">{t('满足任一（或）', 'Any of them (or)')}</option>
                </select>
              )}
            </Field>
            <Field label={t('保存为', 'Save as')}>
              {(id) => (
                <select id={id} value={kind} onChange={(e) => setKind(e.currentTarget.value as typeof kind)}>
                  <option value="condition">{t('动态人群（发送时计算）', 'Dynamic (evaluated at send time)')}</option>
                  <option value="snapshot">{t('快照（现在冻结成员）', 'Snapshot (members frozen now)')}</option>
                </select>
              )}
            </Field>
          </div>
          {rows.map((row, i) => (
            <RowEditor
              row={row}
              index={i}
              change={(next) => setRows(rows.map((r, k) => (k === i ? next : r)))}
              {...(rows.length > 1 ? { remove: () => setRows(rows.filter((_, k) => k !== i)) } : {})}
            />
          ))}
          <button type="button" onClick={() => setRows([...rows, emptyRow()])} disabled={rows.length >= 20}>
            {t('添加条件', 'Add a condition')}
          </button>
          <div class="estimate" aria-live="polite">
            {built.problem ? (
              <p class="muted">{built.problem}</p>
            ) : estimate ? (
              <p>
                <strong>{t(`预计人数：${estimate.size}`, `Estimated size: ${estimate.size}`)}</strong>{' '}
                <small class="muted">{t(`（${estimate.tookMs} 毫秒）`, `(${estimate.tookMs} ms)`)}</small>
              </p>
            ) : (
              <p class="muted">{t('正在估算…', 'Estimating…')}</p>
            )}
            <ErrorBox error={estimateError} />
            {estimate && !built.problem && <Samples members={estimate.sample} />}
          </div>
        </>
      ) : (
        <>
          <Field label={t('运算', 'Operation')}>
            {(id) => (
              <select id={id} value={op} onChange={(e) => setOp(e.currentTarget.value)}>
                <option value="union">{t('并集（任一人群）', 'Union (in any)')}</option>
                <option value="intersection">{t('交集（同时在所有人群）', 'Intersection (in all)')}</option>
                <option value="difference">{t('差集（第一个减去其余）', 'Difference (first minus the rest)')}</option>
              </select>
            )}
          </Field>
          <fieldset>
            <legend>{t('选择人群（至少两个，按顺序）', 'Audiences (two or more, in order)')}</legend>
            <Loading on={saved.loading} />
            {(saved.data?.items ?? []).map((a) => (
              <label class="check">
                <input
                  type="checkbox"
                  checked={picked.includes(a.id)}
                  onChange={(e) =>
                    setPicked(e.currentTarget.checked ? [...picked, a.id] : picked.filter((x) => x !== a.id))
                  }
                />
                {a.name} <small class="muted">{kindLabel(a.kind)}</small>
              </label>
            ))}
          </fieldset>
        </>
      )}
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
          {busy ? t('保存中…', 'Saving…') : t('保存人群', 'Save audience')}
        </button>
      </div>
    </form>
  );
}

function AudienceDetail(props: { id: string }) {
  const one = useLoad(() => api<AudienceView>('GET', `/audiences/${props.id}`), [props.id]);
  return (
    <div class="card">
      <ErrorBox error={one.error} />
      <Loading on={one.loading} />
      {one.data && (
        <>
          <h2>{one.data.name}</h2>
          <p>
            {kindLabel(one.data.kind)} · {t(`当前人数：${one.data.size}`, `Members now: ${one.data.size}`)}
          </p>
          {one.data.condition !== undefined && <pre class="code">{JSON.stringify(one.data.condition, null, 2)}</pre>}
          <Samples members={one.data.preview} />
        </>
      )}
    </div>
  );
}

export function Audiences() {
  const [building, setBuilding] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const page = usePaged<AudienceSummary>('/audiences', {});
  return (
    <section>
      <h1>{t('人群', 'Audiences')}</h1>
      <button type="button" class="primary" aria-expanded={building} onClick={() => setBuilding(!building)}>
        {building ? t('收起', 'Close builder') : t('新建人群', 'New audience')}
      </button>
      {building && <Builder saved={page.reload} />}
      <ErrorBox error={page.error} />
      <Loading on={page.loading} />
      <Table
        rows={page.data?.items}
        columns={[
          {
            label: t('名称', 'Name'),
            cell: (a) => (
              <button type="button" class="link" onClick={() => setOpen(open === a.id ? null : a.id)}>
                {a.name}
              </button>
            ),
          },
          { label: t('类型', 'Kind'), cell: (a) => kindLabel(a.kind) },
          { label: t('冻结人数', 'Frozen'), cell: (a) => a.frozenCount ?? '—' },
          { label: t('创建人', 'Created by'), cell: (a) => a.createdBy },
          { label: t('创建时间', 'Created'), cell: (a) => time(a.createdAt) },
        ]}
      />
      <Pager pageNo={page.pageNo} hasNext={!!page.data?.nextCursor} prev={page.prev} next={page.next} />
      {open && <AudienceDetail id={open} />}
    </section>
  );
}
