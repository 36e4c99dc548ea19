/**
 * WeCom: channel QR codes ("联系我") with their images and results per channel and staff member (adds,
 * deletions, net), and the loss alerts (customers who deleted their adviser).
 */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { useCan } from '../session';
import { ErrorBox, Field, Loading, Table, time, useForm, useLoad } from '../ui';

interface Channel {
  id: string;
  name: string;
  state: string;
  kind: string;
  users: string[];
  qrCode?: string;
  createdAt: string;
}
interface Counts {
  adds: number;
  deletions: number;
  net: number;
}
interface ChannelResult extends Counts {
  state: string;
  name: string;
  byStaff: ({ userid: string } & Counts)[];
}

const kindLabel = (k: string) =>
  ({
    branch: t('网点', 'Branch'),
    event: t('活动', 'Event'),
    poster: t('海报', 'Poster'),
    referral: t('推荐', 'Referral'),
    other: t('其他', 'Other'),
  })[k] ?? k;

export function WecomChannels() {
  const can = useCan();
  const [corp, setCorp] = useState('');
  const query = corp ? { corp } : {};
  const channels = useLoad(() => api<{ channels: Channel[] }>('GET', '/wecom/channels', { query }), [corp]);
  const results = useLoad(
    () => api<{ channels: ChannelResult[] }>('GET', '/wecom/reports/channels', { query }),
    [corp],
  );
  const form = useForm({ name: '', state: '', kind: 'branch', users: '' });
  return (
    <section>
      <h1>{t('企业微信渠道活码', 'WeCom channel codes')}</h1>
      <Field label={t('企业（留空为默认）', 'Corp (empty: the default)')}>
        {(id) => <input id={id} value={corp} onChange={(e) => setCorp(e.currentTarget.value.trim())} />}
      </Field>
      {can('campaign:manage') && (
        <form
          class="card"
          aria-label={t('新建渠道活码', 'New channel code')}
          onSubmit={(ev) => {
            ev.preventDefault();
            void form.submit(
              async (v) => {
                await api('POST', '/wecom/channels', {
                  query,
                  body: {
                    name: v.name.trim(),
                    state: v.state.trim(),
                    kind: v.kind,
                    users: v.users.split(/[,，\s]+/).filter(Boolean),
                  },
                });
                form.reset();
                channels.reload();
                results.reload();
              },
              (v) => ({
                ...(v.name.trim() ? {} : { name: t('请填写名称', 'Enter a name') }),
                ...(/^[A-Za-z0-9_-]{1,30}$/.test(v.state.trim())
                  ? {}
                  : { state: t('渠道标识：字母、数字、_ 或 -，最多 30 个', 'Letters, digits, _ or -, at most 30') }),
                ...(v.users.trim() ? {} : { users: t('至少一名员工', 'At least one staff member') }),
              }),
            );
          }}
        >
          <h2>{t('新建渠道活码', 'New channel code')}</h2>
          <ErrorBox error={form.failure} />
          <div class="grid">
            <Field label={t('渠道名称', 'Channel name')} error={form.errors.name}>
              {(id) => <input id={id} value={form.values.name} onInput={form.set('name')} />}
            </Field>
            <Field label={t('渠道标识（state）', 'Channel key (state)')} error={form.errors.state}>
              {(id) => <input id={id} value={form.values.state} onInput={form.set('state')} />}
            </Field>
            <Field label={t('类型', 'Kind')}>
              {(id) => (
                <select id={id} value={form.values.kind} onChange={form.set('kind')}>
                  {['branch', 'event', 'poster', 'referral', 'other'].map((k) => (
                    <option value={k}>{kindLabel(k)}</option>
                  ))}
                </select>
              )}
            </Field>
            <Field
              label={t(
                '接待员工（企业微信账号，逗号分隔，轮流分配）',
                'Staff (WeCom userids, comma separated, in rotation)',
              )}
              error={form.errors.users}
            >
              {(id) => <input id={id} value={form.values.users} onInput={form.set('users')} />}
            </Field>
          </div>
          <button type="submit" class="primary" disabled={form.busy}>
            {t('生成活码', 'Create the code')}
          </button>
        </form>
      )}
      <ErrorBox error={channels.error} />
      <Loading on={channels.loading} />
      <Table
        caption={t('渠道活码', 'Channel codes')}
        rows={channels.data?.channels}
        columns={[
          { label: t('名称', 'Name'), cell: (c) => c.name },
          { label: t('标识', 'Key'), cell: (c) => <code>{c.state}</code> },
          { label: t('类型', 'Kind'), cell: (c) => kindLabel(c.kind) },
          { label: t('员工', 'Staff'), cell: (c) => c.users.join(', ') },
          {
            label: t('二维码', 'QR code'),
            cell: (c) =>
              c.qrCode ? (
                <img src={c.qrCode} alt={t(`${c.name}的二维码`, `QR code of ${c.name}`)} width={72} height={72} />
              ) : (
                '—'
              ),
          },
          { label: t('创建时间', 'Created'), cell: (c) => time(c.createdAt) },
        ]}
      />
      <ErrorBox error={results.error} />
      <Table
        caption={t('各渠道效果（添加、删除、净增）', 'Results per channel (adds, deletions, net)')}
        rows={(results.data?.channels ?? []).flatMap((c) => [
          { label: c.name || c.state, sub: false, ...c },
          ...c.byStaff.map((s) => ({ label: `— ${s.userid}`, sub: true, ...s })),
        ])}
        columns={[
          { label: t('渠道 / 员工', 'Channel / staff'), cell: (r) => (r.sub ? r.label : <strong>{r.label}</strong>) },
          { label: t('添加', 'Adds'), cell: (r) => r.adds },
          { label: t('删除', 'Deletions'), cell: (r) => r.deletions },
          { label: t('净增', 'Net'), cell: (r) => r.net },
        ]}
      />
    </section>
  );
}

export function WecomLosses() {
  const [corp, setCorp] = useState('');
  const losses = useLoad(
    () =>
      api<{ losses: { externalUserId: string; userid: string; profileId?: string; state?: string; lostAt: string }[] }>(
        'GET',
        '/wecom/reports/losses',
        { query: corp ? { corp } : {} },
      ),
    [corp],
  );
  return (
    <section>
      <h1>{t('客户流失提醒', 'Loss alerts')}</h1>
      <Field label={t('企业（留空为默认）', 'Corp (empty: the default)')}>
        {(id) => <input id={id} value={corp} onChange={(e) => setCorp(e.currentTarget.value.trim())} />}
      </Field>
      <ErrorBox error={losses.error} />
      <Loading on={losses.loading} />
      <Table
        caption={t('删除了顾问的客户（最新在前）', 'Customers who deleted their adviser (newest first)')}
        rows={losses.data?.losses}
        columns={[
          { label: t('时间', 'When'), cell: (l) => time(l.lostAt) },
          { label: t('员工', 'Staff'), cell: (l) => l.userid },
          {
            label: t('客户', 'Customer'),
            cell: (l) =>
              l.profileId ? (
                <a href={`#/customers/${l.profileId}`}>{l.externalUserId.slice(0, 8)}…</a>
              ) : (
                `${l.externalUserId.slice(0, 8)}…`
              ),
          },
          { label: t('来源渠道', 'Channel'), cell: (l) => l.state ?? '—' },
        ]}
      />
    </section>
  );
}
