/** Customers: server-side search and paging, the profile page, and the merge-candidate queue. */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { navigate } from '../router';
import { useCan } from '../session';
import { Action, ErrorBox, Field, Loading, Pager, Table, time, useForm, useLoad, usePaged } from '../ui';
import { CustomerCodes } from './reservations';

interface Profile {
  id: string;
  name?: string;
  region?: string;
  phone?: string;
  tier: string;
  stage: string;
  source: string;
  lastInteractionAt?: string;
  createdAt: string;
}

const STAGES = ['lead', 'follower', 'customer', 'churned'];
const stageName = (s: string) =>
  ({
    lead: t('线索', 'Lead'),
    follower: t('粉丝', 'Follower'),
    customer: t('客户', 'Customer'),
    churned: t('流失', 'Churned'),
  })[s] ?? s;

export function Customers() {
  const blank = { name: '', phone: '', identityKind: 'openid', identity: '', tier: '', stage: '' };
  const form = useForm(blank);
  const [filters, setFilters] = useState<Record<string, string>>({});
  const page = usePaged<Profile>('/crm/profiles', filters);
  return (
    <section>
      <h1>{t('客户查询', 'Customer search')}</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const v = form.values;
          setFilters({
            name: v.name.trim(),
            phone: v.phone.trim(),
            ...(v.identity.trim() ? { identityKind: v.identityKind, identity: v.identity.trim() } : {}),
            tier: v.tier.trim(),
            stage: v.stage,
          });
        }}
      >
        <Field label={t('姓名', 'Name')}>
          {(id) => <input id={id} value={form.values.name} onInput={form.set('name')} />}
        </Field>
        <Field label={t('手机号', 'Phone')}>
          {(id) => <input id={id} inputMode="tel" value={form.values.phone} onInput={form.set('phone')} />}
        </Field>
        <Field label={t('标识类型', 'Identity kind')}>
          {(id) => (
            <select id={id} value={form.values.identityKind} onChange={form.set('identityKind')}>
              <option value="openid">OpenID</option>
              <option value="unionid">UnionID</option>
              <option value="customer_no">{t('会员号', 'Customer no.')}</option>
              <option value="external_userid">{t('企业微信外部联系人', 'WeCom external user')}</option>
            </select>
          )}
        </Field>
        <Field label={t('标识', 'Identity')}>
          {(id) => <input id={id} value={form.values.identity} onInput={form.set('identity')} />}
        </Field>
        <Field label={t('等级', 'Tier')}>
          {(id) => <input id={id} value={form.values.tier} onInput={form.set('tier')} />}
        </Field>
        <Field label={t('阶段', 'Stage')}>
          {(id) => (
            <select id={id} value={form.values.stage} onChange={form.set('stage')}>
              <option value="">{t('全部', 'All')}</option>
              {STAGES.map((s) => (
                <option value={s}>{stageName(s)}</option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" class="primary">
          {t('查询', 'Search')}
        </button>
      </form>
      <ErrorBox error={page.error} />
      <Loading on={page.loading} />
      <Table
        rows={page.data?.items}
        columns={[
          {
            label: t('姓名', 'Name'),
            cell: (p) => <a href={`#/customers/${p.id}`}>{p.name || t('（未填写）', '(no name)')}</a>,
          },
          { label: t('手机号', 'Phone'), cell: (p) => p.phone ?? '—' },
          { label: t('等级', 'Tier'), cell: (p) => p.tier },
          { label: t('阶段', 'Stage'), cell: (p) => stageName(p.stage) },
          { label: t('地区', 'Region'), cell: (p) => p.region ?? '—' },
          { label: t('最近互动', 'Last interaction'), cell: (p) => time(p.lastInteractionAt) },
          { label: t('创建时间', 'Created'), cell: (p) => time(p.createdAt) },
        ]}
      />
      <Pager pageNo={page.pageNo} hasNext={!!page.data?.nextCursor} prev={page.prev} next={page.next} />
    </section>
  );
}

interface ProfileView {
  profile: Profile & { gender?: string; phoneVerified?: boolean; mergedInto?: string };
  identities: { kind: string; value: string; verified: boolean; source: string; linkedAt: string }[];
  followers: { account: string; openid: string; subscribed: boolean; lastSubscribedAt?: string }[];
  tags: { id: string; name: string }[];
  consent: Record<string, boolean>;
  merges: { id?: string; sourceId?: string; targetId?: string; at?: string }[];
  timeline: { events: TimelineEvent[]; nextCursor?: string };
}
interface TimelineEvent {
  id: string;
  type: string;
  at: string;
  source: string;
  payload: Record<string, unknown>;
}

export function CustomerDetail({ params }: { params: Record<string, string> }) {
  const can = useCan();
  const view = useLoad(() => api<ProfileView>('GET', `/crm/profiles/${params.id}`), [params.id]);
  const v = view.data;
  return (
    <section>
      <p>
        <a href="#/customers">← {t('返回客户查询', 'Back to search')}</a>
      </p>
      <ErrorBox error={view.error} />
      <Loading on={view.loading && !v} />
      {v && (
        <>
          <h1>{v.profile.name || t('（未填写姓名）', '(no name)')}</h1>
          <dl class="facts">
            <dt>{t('等级', 'Tier')}</dt>
            <dd>{v.profile.tier}</dd>
            <dt>{t('阶段', 'Stage')}</dt>
            <dd>{stageName(v.profile.stage)}</dd>
            <dt>{t('手机号', 'Phone')}</dt>
            <dd>
              {v.profile.phone ?? '—'} {v.profile.phoneVerified ? t('（已验证）', '(verified)') : ''}
            </dd>
            <dt>{t('地区', 'Region')}</dt>
            <dd>{v.profile.region ?? '—'}</dd>
            <dt>{t('来源', 'Source')}</dt>
            <dd>{v.profile.source}</dd>
            <dt>{t('创建时间', 'Created')}</dt>
            <dd>{time(v.profile.createdAt)}</dd>
          </dl>
          {can('customer:write') && <TierForm id={v.profile.id} tier={v.profile.tier} done={view.reload} />}
          <h2>{t('身份标识', 'Identities')}</h2>
          <Table
            rows={v.identities}
            columns={[
              { label: t('类型', 'Kind'), cell: (i) => i.kind },
              { label: t('值', 'Value'), cell: (i) => <code>{i.value}</code> },
              { label: t('已验证', 'Verified'), cell: (i) => (i.verified ? '✓' : '—') },
              { label: t('来源', 'Source'), cell: (i) => i.source },
              { label: t('关联时间', 'Linked'), cell: (i) => time(i.linkedAt) },
            ]}
          />
          <h2>{t('公众号关注', 'Follows')}</h2>
          <Table
            rows={v.followers}
            columns={[
              { label: t('公众号', 'Account'), cell: (f) => f.account },
              { label: 'OpenID', cell: (f) => <code>{f.openid}</code> },
              {
                label: t('状态', 'State'),
                cell: (f) => (f.subscribed ? t('关注中', 'Following') : t('已取关', 'Unfollowed')),
              },
              { label: t('最近关注', 'Last followed'), cell: (f) => time(f.lastSubscribedAt) },
            ]}
          />
          <h2>{t('标签', 'Tags')}</h2>
          <ul class="chips">
            {v.tags.map((tag) => (
              <li>
                {tag.name}
                {can('tag:manage') && (
                  <Action
                    label={t('移除', 'Remove')}
                    run={() => api('DELETE', `/crm/profiles/${v.profile.id}/tags/${tag.id}`)}
                    done={view.reload}
                  />
                )}
              </li>
            ))}
            {v.tags.length === 0 && <li class="muted">{t('无标签', 'No tags')}</li>}
          </ul>
          {can('tag:manage') && <AddTag id={v.profile.id} done={view.reload} />}
          <h2>{t('营销授权', 'Consent')}</h2>
          <ul class="chips">
            {Object.entries(v.consent).map(([channel, allowed]) => (
              <li>
                {channel}: {allowed ? t('允许', 'allowed') : t('拒收', 'refused')}
                {can('customer:write') && (
                  <Action
                    label={allowed ? t('设为拒收', 'Refuse') : t('设为允许', 'Allow')}
                    run={() =>
                      api('POST', `/crm/profiles/${v.profile.id}/consent`, {
                        body: { channel, allowed: !allowed, reason: 'staff console' },
                      })
                    }
                    done={view.reload}
                  />
                )}
              </li>
            ))}
          </ul>
          {can('reservation:verify') && <CustomerCodes profileId={v.profile.id} />}
          <Timeline id={v.profile.id} first={v.timeline} />
        </>
      )}
    </section>
  );
}

function TierForm(props: { id: string; tier: string; done: () => void }) {
  const form = useForm({ tier: props.tier, reason: '' });
  return (
    <form
      class="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        void form.submit(
          async (v) => {
            await api('POST', `/crm/profiles/${props.id}/tier`, {
              body: { tier: v.tier.trim(), reason: v.reason.trim() },
            });
            props.done();
          },
          (v) => (v.reason.trim() ? {} : { reason: t('请填写调整原因', 'Give a reason') }),
        );
      }}
    >
      <Field label={t('调整等级', 'Change tier')} error={form.errors.tier}>
        {(id) => <input id={id} value={form.values.tier} onInput={form.set('tier')} />}
      </Field>
      <Field label={t('原因', 'Reason')} error={form.errors.reason}>
        {(id) => <input id={id} value={form.values.reason} onInput={form.set('reason')} />}
      </Field>
      <button type="submit" disabled={form.busy}>
        {t('保存', 'Save')}
      </button>
      <ErrorBox error={form.failure} />
    </form>
  );
}

function AddTag(props: { id: string; done: () => void }) {
  const tags = useLoad(() => api<{ items: { id: string; name: string }[] }>('GET', '/crm/tags'), []);
  const form = useForm({ tagId: '' });
  return (
    <form
      class="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        void form.submit(
          async (v) => {
            await api('POST', `/crm/profiles/${props.id}/tags`, { body: { tagId: v.tagId } });
            props.done();
          },
          (v) => (v.tagId ? {} : { tagId: t('请选择标签', 'Choose a tag') }),
        );
      }}
    >
      <Field label={t('添加标签', 'Add a tag')} error={form.errors.tagId}>
        {(id) => (
          <select id={id} value={form.values.tagId} onChange={form.set('tagId')}>
            <option value="">—</option>
            {(tags.data?.items ?? []).map((tag) => (
              <option value={tag.id}>{tag.name}</option>
            ))}
          </select>
        )}
      </Field>
      <button type="submit" disabled={form.busy}>
        {t('添加', 'Add')}
      </button>
      <ErrorBox error={form.failure ?? tags.error} />
    </form>
  );
}

function Timeline(props: { id: string; first: { events: TimelineEvent[]; nextCursor?: string } }) {
  const [events, setEvents] = useState(props.first.events);
  const [cursor, setCursor] = useState(props.first.nextCursor);
  const [error, setError] = useState<unknown>(null);
  return (
    <>
      <h2>{t('时间线', 'Timeline')}</h2>
      <ol class="timeline">
        {events.map((e) => (
          <li>
            <time dateTime={e.at}>{time(e.at)}</time> <strong>{e.type}</strong> <span class="muted">{e.source}</span>
            <code class="payload">{JSON.stringify(e.payload)}</code>
          </li>
        ))}
        {events.length === 0 && <li class="muted">{t('暂无事件', 'No events yet')}</li>}
      </ol>
      <ErrorBox error={error} />
      {cursor && (
        <button
          type="button"
          onClick={() => {
            api<{ items: TimelineEvent[]; nextCursor: string | null }>('GET', `/crm/profiles/${props.id}/timeline`, {
              query: { cursor, limit: 20 },
            }).then((page) => {
              setEvents([...events, ...page.items]);
              setCursor(page.nextCursor ?? undefined);
            }, setError);
          }}
        >
          {t('加载更多', 'Load more')}
        </button>
      )}
    </>
  );
}

interface Review {
  id: string;
  profileIds: string[];
  identityKind: string;
  identity: string;
  reason: string;
  status: string;
  createdAt: string;
}

export function MergeReviews() {
  const [status, setStatus] = useState('open');
  const list = useLoad(() => api<{ items: Review[] }>('GET', '/crm/reviews', { query: { status } }), [status]);
  return (
    <section>
      <h1>{t('待合并客户', 'Merge candidates')}</h1>
      <Field label={t('状态', 'Status')}>
        {(id) => (
          <select id={id} value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="open">{t('待处理', 'Open')}</option>
            <option value="merged">{t('已合并', 'Merged')}</option>
            <option value="dismissed">{t('已忽略', 'Dismissed')}</option>
          </select>
        )}
      </Field>
      <ErrorBox error={list.error} />
      <Loading on={list.loading} />
      <Table
        rows={list.data?.items}
        columns={[
          { label: t('冲突标识', 'Conflicting identity'), cell: (r) => `${r.identityKind}: ${r.identity}` },
          { label: t('原因', 'Reason'), cell: (r) => r.reason },
          {
            label: t('涉及客户', 'Profiles'),
            cell: (r) => (
              <ul>
                {r.profileIds.map((id) => (
                  <li>
                    <a href={`#/customers/${id}`}>{id}</a>
                  </li>
                ))}
              </ul>
            ),
          },
          { label: t('时间', 'At'), cell: (r) => time(r.createdAt) },
          {
            label: t('操作', 'Actions'),
            cell: (r) =>
              r.status === 'open' ? (
                <>
                  <Action
                    kind="primary"
                    label={t('合并', 'Merge')}
                    confirm={t('确认合并这些客户档案？', 'Merge these profiles?')}
                    run={() => api('POST', `/crm/reviews/${r.id}/decide`, { body: { decision: 'merge' } })}
                    done={list.reload}
                  />
                  <Action
                    label={t('忽略', 'Dismiss')}
                    run={() => api('POST', `/crm/reviews/${r.id}/decide`, { body: { decision: 'dismiss' } })}
                    done={list.reload}
                  />
                </>
              ) : (
                r.status
              ),
          },
        ]}
      />
      <p class="muted">
        <button type="button" onClick={() => navigate('/customers')}>
          {t('去客户查询', 'Go to customer search')}
        </button>
      </p>
    </section>
  );
}
