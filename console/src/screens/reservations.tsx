/** Reservation programs: create, issue, counts, CSV export, close; codes by owner; the counter's redeem screen. */
import { useState } from 'preact/hooks';
import { api, download } from '../api';
import { t } from '../i18n';
import { navigate } from '../router';
import { useCan } from '../session';
import { Action, ErrorBox, Field, Loading, Notice, Table, fromLocal, time, toLocal, useForm, useLoad } from '../ui';

interface Stats {
  quota: number;
  issued: number;
  redeemed: number;
  revoked: number;
  expired: number;
  remaining: number;
}
interface Program {
  id: string;
  name: string;
  description: string;
  productRef: string;
  quota: number;
  issueFrom: string;
  issueUntil: string;
  redeemFrom: string;
  redeemUntil: string;
  perCustomerLimit: number;
  issueMode: 'push' | 'claim';
  status: 'active' | 'closed';
  stats?: Stats;
}

const statusName = (s: string) =>
  ({
    active: t('有效', 'Active'),
    closed: t('已关闭', 'Closed'),
    redeemed: t('已核销', 'Redeemed'),
    revoked: t('已作废', 'Revoked'),
    expired: t('已过期', 'Expired'),
  })[s] ?? s;

export function Programs() {
  const list = useLoad(() => api<{ items: Program[] }>('GET', '/reservations/programs'), []);
  const [creating, setCreating] = useState(false);
  return (
    <section>
      <h1>{t('预约核销活动', 'Reservation programs')}</h1>
      <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
        {creating ? t('收起', 'Close form') : t('新建活动', 'New program')}
      </button>
      {creating && <CreateProgram done={(id) => navigate(`/reservations/${id}`)} />}
      <ErrorBox error={list.error} />
      <Loading on={list.loading} />
      <Table
        rows={list.data?.items}
        columns={[
          { label: t('名称', 'Name'), cell: (p) => <a href={`#/reservations/${p.id}`}>{p.name}</a> },
          { label: t('状态', 'Status'), cell: (p) => statusName(p.status) },
          {
            label: t('发放方式', 'Issue mode'),
            cell: (p) => (p.issueMode === 'claim' ? t('客户领取', 'Claim') : t('定向发放', 'Push')),
          },
          { label: t('已发/总量', 'Issued/quota'), cell: (p) => `${p.stats?.issued ?? '—'} / ${p.quota}` },
          { label: t('已核销', 'Redeemed'), cell: (p) => p.stats?.redeemed ?? '—' },
          { label: t('核销截止', 'Redeem until'), cell: (p) => time(p.redeemUntil) },
        ]}
      />
    </section>
  );
}

function CreateProgram(props: { done: (id: string) => void }) {
  const now = new Date();
  const form = useForm({
    name: '',
    description: '',
    productRef: '',
    quota: '100',
    perCustomerLimit: '1',
    issueMode: 'claim',
    issueFrom: toLocal(now),
    issueUntil: toLocal(new Date(now.getTime() + 7 * 86400_000)),
    redeemFrom: toLocal(now),
    redeemUntil: toLocal(new Date(now.getTime() + 30 * 86400_000)),
    tiers: '',
  });
  const e = form.errors;
  return (
    <form
      class="card"
      onSubmit={(ev) => {
        ev.preventDefault();
        void form.submit(
          async (v) => {
            const tiers = v.tiers.split(/[,，\s]+/).filter(Boolean);
            const created = await api<Program>('POST', '/reservations/programs', {
              body: {
                name: v.name.trim(),
                ...(v.description.trim() ? { description: v.description.trim() } : {}),
                ...(v.productRef.trim() ? { productRef: v.productRef.trim() } : {}),
                quota: Number(v.quota),
                perCustomerLimit: Number(v.perCustomerLimit),
                issueMode: v.issueMode,
                issueFrom: fromLocal(v.issueFrom),
                issueUntil: fromLocal(v.issueUntil),
                redeemFrom: fromLocal(v.redeemFrom),
                redeemUntil: fromLocal(v.redeemUntil),
                ...(tiers.length ? { eligibility: { tiers } } : {}),
              },
            });
            props.done(created.id);
          },
          (v) => ({
            ...(v.name.trim() ? {} : { name: t('请填写名称', 'Enter a name') }),
            ...(Number.isInteger(Number(v.quota)) && Number(v.quota) > 0
              ? {}
              : { quota: t('请填写正整数', 'A positive whole number') }),
            ...(v.issueUntil > v.issueFrom
              ? {}
              : { issueUntil: t('结束时间须晚于开始时间', 'Must be after the start') }),
            ...(v.redeemUntil > v.redeemFrom
              ? {}
              : { redeemUntil: t('结束时间须晚于开始时间', 'Must be after the start') }),
          }),
        );
      }}
    >
      <h2>{t('新建预约核销活动', 'New reservation program')}</h2>
      <ErrorBox error={form.failure} />
      <div class="grid">
        <Field label={t('名称', 'Name')} error={e.name}>
          {(id) => <input id={id} value={form.values.name} onInput={form.set('name')} required />}
        </Field>
        <Field label={t('商品编号', 'Product ref')} error={e.productRef}>
          {(id) => <input id={id} value={form.values.productRef} onInput={form.set('productRef')} />}
        </Field>
        <Field label={t('总量', 'Quota')} error={e.quota}>
          {(id) => <input id={id} type="number" min="1" value={form.values.quota} onInput={form.set('quota')} />}
        </Field>
        <Field label={t('每人限领', 'Per customer')} error={e.perCustomerLimit}>
          {(id) => (
            <input
              id={id}
              type="number"
              min="1"
              value={form.values.perCustomerLimit}
              onInput={form.set('perCustomerLimit')}
            />
          )}
        </Field>
        <Field label={t('发放方式', 'Issue mode')} error={e.issueMode}>
          {(id) => (
            <select id={id} value={form.values.issueMode} onChange={form.set('issueMode')}>
              <option value="claim">{t('客户领取', 'Customers claim')}</option>
              <option value="push">{t('定向发放', 'Staff issue')}</option>
            </select>
          )}
        </Field>
        <Field label={t('限定等级（逗号分隔，可空）', 'Tiers (comma separated, optional)')} error={e.eligibility}>
          {(id) => <input id={id} value={form.values.tiers} onInput={form.set('tiers')} />}
        </Field>
        <Field label={t('发放开始（北京时间）', 'Issue from (Beijing)')} error={e.issueFrom}>
          {(id) => (
            <input id={id} type="datetime-local" value={form.values.issueFrom} onInput={form.set('issueFrom')} />
          )}
        </Field>
        <Field label={t('发放结束', 'Issue until')} error={e.issueUntil}>
          {(id) => (
            <input id={id} type="datetime-local" value={form.values.issueUntil} onInput={form.set('issueUntil')} />
          )}
        </Field>
        <Field label={t('核销开始', 'Redeem from')} error={e.redeemFrom}>
          {(id) => (
            <input id={id} type="datetime-local" value={form.values.redeemFrom} onInput={form.set('redeemFrom')} />
          )}
        </Field>
        <Field label={t('核销结束', 'Redeem until')} error={e.redeemUntil}>
          {(id) => (
            <input id={id} type="datetime-local" value={form.values.redeemUntil} onInput={form.set('redeemUntil')} />
          )}
        </Field>
      </div>
      <Field label={t('说明', 'Description')} error={e.description}>
        {(id) => <textarea id={id} value={form.values.description} onInput={form.set('description')} />}
      </Field>
      <button type="submit" class="primary" disabled={form.busy}>
        {form.busy ? t('创建中…', 'Creating…') : t('创建', 'Create')}
      </button>
    </form>
  );
}

export function ProgramDetail({ params }: { params: Record<string, string> }) {
  const program = useLoad(() => api<Program>('GET', `/reservations/programs/${params.id}`), [params.id]);
  const p = program.data;
  const issue = useForm({ profileIds: '' });
  const [issued, setIssued] = useState<Record<string, number> | null>(null);
  return (
    <section>
      <p>
        <a href="#/reservations">← {t('返回活动列表', 'Back to programs')}</a>
      </p>
      <ErrorBox error={program.error} />
      <Loading on={program.loading && !p} />
      {p && (
        <>
          <h1>{p.name}</h1>
          <p class="muted">{p.description}</p>
          <dl class="stats" aria-label={t('数量', 'Counts')}>
            {(['quota', 'issued', 'redeemed', 'revoked', 'expired', 'remaining'] as const).map((k) => (
              <div>
                <dt>
                  {
                    {
                      quota: t('总量', 'Quota'),
                      issued: t('已发放', 'Issued'),
                      redeemed: t('已核销', 'Redeemed'),
                      revoked: t('已作废', 'Revoked'),
                      expired: t('已过期', 'Expired'),
                      remaining: t('剩余', 'Remaining'),
                    }[k]
                  }
                </dt>
                <dd>{p.stats?.[k] ?? '—'}</dd>
              </div>
            ))}
          </dl>
          <p>
            {t('状态', 'Status')}: {statusName(p.status)} · {t('发放', 'Issue')} {time(p.issueFrom)} –{' '}
            {time(p.issueUntil)} · {t('核销', 'Redeem')} {time(p.redeemFrom)} – {time(p.redeemUntil)}
          </p>
          <div class="buttons">
            <button type="button" onClick={program.reload}>
              {t('刷新数量', 'Refresh counts')}
            </button>
            <Action
              label={t('导出 CSV', 'Export CSV')}
              run={() => download(`/reservations/programs/${p.id}/export`, `reservation-${p.id}.csv`)}
            />
            {p.status === 'active' && (
              <Action
                kind="danger"
                label={t('关闭活动', 'Close program')}
                confirm={t('关闭后不能再发放，确认？', 'No more codes can be issued after closing. Close?')}
                run={() => api('POST', `/reservations/programs/${p.id}/close`)}
                done={program.reload}
              />
            )}
          </div>
          {p.status === 'active' && (
            <form
              class="card"
              onSubmit={(e) => {
                e.preventDefault();
                void issue.submit(
                  async (v) => {
                    const ids = v.profileIds.split(/[\s,，]+/).filter(Boolean);
                    setIssued(await api('POST', `/reservations/programs/${p.id}/issue`, { body: { profileIds: ids } }));
                    program.reload();
                  },
                  (v) =>
                    v.profileIds
                      .split(/[\s,，]+/)
                      .filter(Boolean)
                      .every((id) => /^[0-9a-f]{24}$/.test(id)) && v.profileIds.trim()
                      ? {}
                      : { profileIds: t('每行一个 24 位客户 ID', 'One 24-character customer id per line') },
                );
              }}
            >
              <h2>{t('定向发放', 'Issue codes')}</h2>
              <ErrorBox error={issue.failure} />
              <Field label={t('客户 ID（每行一个）', 'Customer ids (one per line)')} error={issue.errors.profileIds}>
                {(id) => (
                  <textarea id={id} rows={4} value={issue.values.profileIds} onInput={issue.set('profileIds')} />
                )}
              </Field>
              <button type="submit" class="primary" disabled={issue.busy}>
                {t('发放', 'Issue')}
              </button>
              {issued && (
                <Notice>
                  {t(
                    `新发 ${issued.issued}，已持有 ${issued.alreadyHeld}，不符合条件 ${issued.notEligible}，已发完 ${issued.soldOut}`,
                    `issued ${issued.issued}, already held ${issued.alreadyHeld}, not eligible ${issued.notEligible}, sold out ${issued.soldOut}`,
                  )}
                </Notice>
              )}
            </form>
          )}
        </>
      )}
    </section>
  );
}

interface OwnedCode {
  codeId: string;
  programName: string;
  masked: string;
  status: string;
  expiresAt: string;
  issuedAt: string;
  outcome?: { at: string; channel?: string; actor: string; orderRef?: string; reason?: string };
}

/** A customer's codes and their history (masked; the full code is only ever shown to its owner). */
export function CustomerCodes({ profileId }: { profileId: string }) {
  const can = useCan();
  const codes = useLoad(
    () => api<{ items: OwnedCode[] }>('GET', `/reservations/customers/${profileId}/codes`),
    [profileId],
  );
  return (
    <>
      <h2>{t('预约核销码', 'Reservation codes')}</h2>
      <ErrorBox error={codes.error} />
      <Table
        rows={codes.data?.items}
        columns={[
          { label: t('活动', 'Program'), cell: (c) => c.programName },
          { label: t('核销码', 'Code'), cell: (c) => <code>{c.masked}</code> },
          { label: t('状态', 'Status'), cell: (c) => statusName(c.status) },
          { label: t('发放时间', 'Issued'), cell: (c) => time(c.issuedAt) },
          { label: t('到期', 'Expires'), cell: (c) => time(c.expiresAt) },
          {
            label: t('记录', 'History'),
            cell: (c) =>
              c.outcome
                ? `${time(c.outcome.at)} ${c.outcome.channel ?? ''} ${c.outcome.actor} ${c.outcome.orderRef ?? ''} ${c.outcome.reason ?? ''}`
                : '—',
          },
          {
            label: t('操作', 'Actions'),
            cell: (c) =>
              c.status === 'active' && can('reservation:manage') ? (
                <Action
                  kind="danger"
                  label={t('作废', 'Revoke')}
                  run={async () => {
                    const reason = window.prompt(t('作废原因', 'Reason for revoking'));
                    if (reason) await api('POST', `/reservations/codes/${c.codeId}/revoke`, { body: { reason } });
                  }}
                  done={codes.reload}
                />
              ) : null,
          },
        ]}
      />
    </>
  );
}

interface Redemption {
  masked: string;
  profileId: string;
  channel: string;
  orderRef?: string;
  at: string;
}

/** The counter: a service agent types (or scans) the customer's code and redeems it once. */
export function Redeem() {
  const form = useForm({ code: '', orderRef: '', profileId: '' });
  const [done, setDone] = useState<Redemption | null>(null);
  const [lookup, setLookup] = useState('');
  return (
    <section>
      <h1>{t('核销验码', 'Verify & redeem')}</h1>
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          setDone(null);
          void form.submit(
            async (v) => {
              const r = await api<Redemption>('POST', '/reservations/redeem', {
                body: {
                  code: v.code.trim(),
                  ...(v.orderRef.trim() ? { orderRef: v.orderRef.trim() } : {}),
                  ...(v.profileId.trim() ? { profileId: v.profileId.trim() } : {}),
                },
              });
              setDone(r);
              form.setValues({ code: '', orderRef: '', profileId: '' });
            },
            (v) => (v.code.trim() ? {} : { code: t('请输入核销码', 'Enter the code') }),
          );
        }}
      >
        <ErrorBox error={form.failure} />
        <Field label={t('核销码', 'Code')} error={form.errors.code}>
          {(id) => (
            <input
              id={id}
              name="code"
              autoComplete="off"
              autoFocus
              class="big"
              value={form.values.code}
              onInput={form.set('code')}
            />
          )}
        </Field>
        <Field label={t('订单号（可选）', 'Order ref (optional)')} error={form.errors.orderRef}>
          {(id) => <input id={id} name="orderRef" value={form.values.orderRef} onInput={form.set('orderRef')} />}
        </Field>
        <Field
          label={t('客户 ID（可选，核对归属）', 'Customer id (optional, checks the owner)')}
          error={form.errors.profileId}
        >
          {(id) => <input id={id} name="profileId" value={form.values.profileId} onInput={form.set('profileId')} />}
        </Field>
        <button type="submit" class="primary" disabled={form.busy}>
          {form.busy ? t('核销中…', 'Redeeming…') : t('核销', 'Redeem')}
        </button>
      </form>
      {done && (
        <Notice>
          <strong>{t('核销成功', 'Redeemed')}</strong> <code>{done.masked}</code> · {time(done.at)}
          {done.orderRef ? ` · ${done.orderRef}` : ''}
        </Notice>
      )}
      <h2>{t('按客户查码', 'Codes of a customer')}</h2>
      <Field label={t('客户 ID', 'Customer id')}>
        {(id) => (
          <input
            id={id}
            value={lookup}
            onChange={(e) => setLookup(e.currentTarget.value.trim())}
            placeholder="24 hex"
          />
        )}
      </Field>
      {/^[0-9a-f]{24}$/.test(lookup) && <CustomerCodes profileId={lookup} />}
    </section>
  );
}
