/** The audit log: every admin write (and denied attempt), filtered and paged on the server. */
import { useState } from 'preact/hooks';
import { t } from '../i18n';
import { ErrorBox, Field, Loading, Pager, Table, fromLocal, time, useForm, usePaged } from '../ui';

interface Entry {
  id: string;
  at: string;
  action: string;
  outcome: string;
  errorCode?: string;
  actorUsername?: string;
  targetType: string;
  targetId?: string;
  before?: unknown;
  after?: unknown;
  ip: string;
}

export function Audit() {
  const form = useForm({ action: '', actorId: '', targetType: '', targetId: '', outcome: '', from: '', to: '' });
  const [filters, setFilters] = useState<Record<string, string>>({});
  const page = usePaged<Entry>('/audit', filters, 50);
  return (
    <section>
      <h1>{t('审计日志', 'Audit log')}</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const v = form.values;
          setFilters({
            action: v.action.trim(),
            actorId: v.actorId.trim(),
            targetType: v.targetType.trim(),
            targetId: v.targetId.trim(),
            outcome: v.outcome,
            ...(v.from ? { from: fromLocal(v.from) } : {}),
            ...(v.to ? { to: fromLocal(v.to) } : {}),
          });
        }}
      >
        <Field label={t('操作', 'Action')}>
          {(id) => (
            <input id={id} placeholder="campaign.approve" value={form.values.action} onInput={form.set('action')} />
          )}
        </Field>
        <Field label={t('操作人 ID', 'Actor id')}>
          {(id) => <input id={id} value={form.values.actorId} onInput={form.set('actorId')} />}
        </Field>
        <Field label={t('对象类型', 'Target type')}>
          {(id) => <input id={id} value={form.values.targetType} onInput={form.set('targetType')} />}
        </Field>
        <Field label={t('对象 ID', 'Target id')}>
          {(id) => <input id={id} value={form.values.targetId} onInput={form.set('targetId')} />}
        </Field>
        <Field label={t('结果', 'Outcome')}>
          {(id) => (
            <select id={id} value={form.values.outcome} onChange={form.set('outcome')}>
              <option value="">{t('全部', 'All')}</option>
              <option value="ok">{t('成功', 'OK')}</option>
              <option value="denied">{t('被拒绝', 'Denied')}</option>
              <option value="failed">{t('失败', 'Failed')}</option>
            </select>
          )}
        </Field>
        <Field label={t('从（北京时间）', 'From (Beijing)')}>
          {(id) => <input id={id} type="datetime-local" value={form.values.from} onInput={form.set('from')} />}
        </Field>
        <Field label={t('到', 'To')}>
          {(id) => <input id={id} type="datetime-local" value={form.values.to} onInput={form.set('to')} />}
        </Field>
        <button type="submit" class="primary">
          {t('筛选', 'Filter')}
        </button>
      </form>
      <ErrorBox error={page.error} />
      <Loading on={page.loading} />
      <Table
        rows={page.data?.items}
        columns={[
          { label: t('时间', 'At'), cell: (a) => time(a.at) },
          { label: t('操作人', 'Actor'), cell: (a) => a.actorUsername ?? '—' },
          { label: t('操作', 'Action'), cell: (a) => a.action },
          { label: t('结果', 'Outcome'), cell: (a) => `${a.outcome}${a.errorCode ? ` (${a.errorCode})` : ''}` },
          { label: t('对象', 'Target'), cell: (a) => `${a.targetType} ${a.targetId ?? ''}` },
          {
            label: t('变更', 'Change'),
            cell: (a) =>
              a.before || a.after ? (
                <details>
                  <summary>{t('查看', 'Show')}</summary>
                  <code class="payload">{JSON.stringify({ before: a.before, after: a.after })}</code>
                </details>
              ) : (
                '—'
              ),
          },
          { label: 'IP', cell: (a) => a.ip },
        ]}
      />
      <Pager pageNo={page.pageNo} hasNext={!!page.data?.nextCursor} prev={page.prev} next={page.next} />
    </section>
  );
}
