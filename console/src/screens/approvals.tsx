/** Four-eyes approvals: requests waiting for a second person, approve or reject with a reason. */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { useCan } from '../session';
import { Action, ErrorBox, Field, Loading, Pager, Table, time, usePaged } from '../ui';

interface Approval {
  id: string;
  action: string;
  subjectType: string;
  subjectId: string;
  summary: Record<string, unknown>;
  status: string;
  requestedByUsername: string;
  requestedAt: string;
  expiresAt: string;
  reason: string | null;
}

export function Approvals() {
  const can = useCan();
  const [status, setStatus] = useState('pending');
  const page = usePaged<Approval>('/approvals', { status });
  return (
    <section>
      <h1>{t('审批', 'Approvals')}</h1>
      <Field label={t('状态', 'Status')}>
        {(id) => (
          <select id={id} value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="pending">{t('待审批', 'Pending')}</option>
            <option value="approved">{t('已通过', 'Approved')}</option>
            <option value="rejected">{t('已拒绝', 'Rejected')}</option>
            <option value="expired">{t('已过期', 'Expired')}</option>
          </select>
        )}
      </Field>
      <ErrorBox error={page.error} />
      <Loading on={page.loading} />
      <Table
        rows={page.data?.items}
        columns={[
          { label: t('事项', 'Action'), cell: (a) => `${a.action} · ${a.subjectType} ${a.subjectId}` },
          { label: t('摘要', 'Summary'), cell: (a) => <code>{JSON.stringify(a.summary)}</code> },
          { label: t('申请人', 'Requested by'), cell: (a) => a.requestedByUsername },
          { label: t('申请时间', 'Requested'), cell: (a) => time(a.requestedAt) },
          { label: t('过期时间', 'Expires'), cell: (a) => time(a.expiresAt) },
          {
            label: t('操作', 'Actions'),
            cell: (a) =>
              a.status === 'pending' && can('approval:decide') ? (
                <>
                  <Action
                    kind="primary"
                    label={t('通过', 'Approve')}
                    run={() => api('POST', `/approvals/${a.id}/approve`, { body: {} })}
                    done={page.reload}
                  />
                  <Action
                    kind="danger"
                    label={t('拒绝', 'Reject')}
                    run={async () => {
                      const reason = window.prompt(t('拒绝原因', 'Reason')) ?? '';
                      if (reason) await api('POST', `/approvals/${a.id}/reject`, { body: { reason } });
                    }}
                    done={page.reload}
                  />
                </>
              ) : (
                (a.reason ?? '')
              ),
          },
        ]}
      />
      <Pager pageNo={page.pageNo} hasNext={!!page.data?.nextCursor} prev={page.prev} next={page.next} />
    </section>
  );
}
