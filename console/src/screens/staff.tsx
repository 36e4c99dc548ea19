/** Staff, roles and data scopes: list (server-side filters and paging), create, change roles/scope, disable. */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { useMe } from '../session';
import { Action, ErrorBox, Field, Loading, Pager, Table, time, useForm, useLoad, usePaged } from '../ui';

interface Scope {
  own?: boolean;
  regions?: string[];
  tiers?: string[];
}
interface StaffMember {
  id: string;
  username: string;
  displayName: string;
  roles: string[];
  scope: Scope;
  status: 'active' | 'disabled';
  lastLoginAt: string | null;
}

const ROLES = ['admin', 'marketing', 'sales', 'service', 'finance', 'auditor'];
export const roleName = (r: string) =>
  ({
    admin: t('管理员', 'Admin'),
    marketing: t('市场', 'Marketing'),
    sales: t('销售', 'Sales'),
    service: t('客服/门店', 'Service'),
    finance: t('财务', 'Finance'),
    auditor: t('审计', 'Auditor'),
  })[r] ?? r;

const scopeText = (s: Scope) =>
  [
    s.own ? t('仅本人客户', 'own customers') : '',
    s.regions?.length ? `${t('地区', 'regions')}: ${s.regions.join(',')}` : '',
    s.tiers?.length ? `${t('等级', 'tiers')}: ${s.tiers.join(',')}` : '',
  ]
    .filter(Boolean)
    .join('; ') || t('全部客户', 'all customers');

const list = (s: string) => s.split(/[,，\s]+/).filter(Boolean);

export function Staff() {
  const me = useMe();
  const [filters, setFilters] = useState({ status: '', role: '' });
  const page = usePaged<StaffMember>('/staff', filters);
  const [editing, setEditing] = useState<StaffMember | null>(null);
  const roles = useLoad(() => api<{ roles: { role: string; permissions: string[] }[] }>('GET', '/roles'), []);
  return (
    <section>
      <h1>{t('员工与角色', 'Staff & roles')}</h1>
      <div class="filters">
        <Field label={t('状态', 'Status')}>
          {(id) => (
            <select
              id={id}
              value={filters.status}
              onChange={(e) => setFilters({ ...filters, status: e.currentTarget.value })}
            >
              <option value="">{t('全部', 'All')}</option>
              <option value="active">{t('在职', 'Active')}</option>
              <option value="disabled">{t('已停用', 'Disabled')}</option>
            </select>
          )}
        </Field>
        <Field label={t('角色', 'Role')}>
          {(id) => (
            <select
              id={id}
              value={filters.role}
              onChange={(e) => setFilters({ ...filters, role: e.currentTarget.value })}
            >
              <option value="">{t('全部', 'All')}</option>
              {ROLES.map((r) => (
                <option value={r}>{roleName(r)}</option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <ErrorBox error={page.error} />
      <Loading on={page.loading} />
      <Table
        rows={page.data?.items}
        columns={[
          { label: t('用户名', 'Username'), cell: (s) => s.username },
          { label: t('姓名', 'Name'), cell: (s) => s.displayName },
          { label: t('角色', 'Roles'), cell: (s) => s.roles.map(roleName).join(', ') },
          { label: t('数据范围', 'Data scope'), cell: (s) => scopeText(s.scope) },
          {
            label: t('状态', 'Status'),
            cell: (s) => (s.status === 'active' ? t('在职', 'Active') : t('已停用', 'Disabled')),
          },
          { label: t('最近登录', 'Last sign-in'), cell: (s) => time(s.lastLoginAt) },
          {
            label: t('操作', 'Actions'),
            cell: (s) => (
              <>
                <button type="button" onClick={() => setEditing(s)}>
                  {t('编辑', 'Edit')}
                </button>
                {s.id !== me.staff.id &&
                  (s.status === 'active' ? (
                    <Action
                      kind="danger"
                      label={t('停用', 'Disable')}
                      run={() => api('POST', `/staff/${s.id}/disable`)}
                      done={page.reload}
                    />
                  ) : (
                    <Action
                      label={t('启用', 'Enable')}
                      run={() => api('POST', `/staff/${s.id}/enable`)}
                      done={page.reload}
                    />
                  ))}
              </>
            ),
          },
        ]}
      />
      <Pager pageNo={page.pageNo} hasNext={!!page.data?.nextCursor} prev={page.prev} next={page.next} />
      {editing ? (
        <EditStaff key={editing.id} staff={editing} done={() => (setEditing(null), page.reload())} />
      ) : (
        <CreateStaff done={page.reload} />
      )}
      <h2>{t('角色与权限', 'Roles and permissions')}</h2>
      <ErrorBox error={roles.error} />
      <Table
        rows={roles.data?.roles}
        columns={[
          { label: t('角色', 'Role'), cell: (r) => roleName(r.role) },
          { label: t('权限', 'Permissions'), cell: (r) => <code>{r.permissions.join(' ')}</code> },
        ]}
      />
    </section>
  );
}

function ScopeFields(props: { form: ReturnType<typeof useForm<StaffForm>> }) {
  const { form } = props;
  return (
    <>
      <Field label={t('角色（逗号分隔）', 'Roles (comma separated)')} error={form.errors.roles} hint={ROLES.join(', ')}>
        {(id) => <input id={id} value={form.values.roles} onInput={form.set('roles')} />}
      </Field>
      <Field label={t('仅本人客户', 'Own customers only')} error={form.errors.scope}>
        {(id) => (
          <select id={id} value={form.values.own} onChange={form.set('own')}>
            <option value="">{t('否', 'No')}</option>
            <option value="yes">{t('是', 'Yes')}</option>
          </select>
        )}
      </Field>
      <Field label={t('限定地区（可空）', 'Regions (optional)')}>
        {(id) => <input id={id} value={form.values.regions} onInput={form.set('regions')} />}
      </Field>
      <Field label={t('限定等级（可空）', 'Tiers (optional)')}>
        {(id) => <input id={id} value={form.values.tiers} onInput={form.set('tiers')} />}
      </Field>
    </>
  );
}

type StaffForm = {
  username: string;
  displayName: string;
  password: string;
  roles: string;
  own: string;
  regions: string;
  tiers: string;
};

const scopeOf = (v: StaffForm): Scope => ({
  ...(v.own ? { own: true } : {}),
  ...(list(v.regions).length ? { regions: list(v.regions) } : {}),
  ...(list(v.tiers).length ? { tiers: list(v.tiers) } : {}),
});

const checkRoles = (v: StaffForm) =>
  list(v.roles).length && list(v.roles).every((r) => ROLES.includes(r))
    ? {}
    : { roles: t('请填写有效角色', 'Enter valid roles') };

function CreateStaff(props: { done: () => void }) {
  const form = useForm<StaffForm>({
    username: '',
    displayName: '',
    password: '',
    roles: 'service',
    own: '',
    regions: '',
    tiers: '',
  });
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void form.submit(async (v) => {
          await api('POST', '/staff', {
            body: {
              username: v.username.trim(),
              displayName: v.displayName.trim(),
              password: v.password,
              roles: list(v.roles),
              scope: scopeOf(v),
            },
          });
          form.reset();
          props.done();
        }, checkRoles);
      }}
    >
      <h2>{t('新增员工', 'Add a staff member')}</h2>
      <ErrorBox error={form.failure} />
      <div class="grid">
        <Field label={t('用户名', 'Username')} error={form.errors.username} hint="a-z 0-9 _ . -">
          {(id) => <input id={id} autoComplete="off" value={form.values.username} onInput={form.set('username')} />}
        </Field>
        <Field label={t('姓名', 'Display name')} error={form.errors.displayName}>
          {(id) => <input id={id} value={form.values.displayName} onInput={form.set('displayName')} />}
        </Field>
        <Field label={t('初始密码', 'Initial password')} error={form.errors.password}>
          {(id) => (
            <input
              id={id}
              type="password"
              autoComplete="new-password"
              value={form.values.password}
              onInput={form.set('password')}
            />
          )}
        </Field>
        <ScopeFields form={form} />
      </div>
      <button type="submit" class="primary" disabled={form.busy}>
        {t('新增', 'Add')}
      </button>
    </form>
  );
}

function EditStaff(props: { staff: StaffMember; done: () => void }) {
  const s = props.staff;
  const form = useForm<StaffForm>({
    username: s.username,
    displayName: s.displayName,
    password: '',
    roles: s.roles.join(','),
    own: s.scope.own ? 'yes' : '',
    regions: (s.scope.regions ?? []).join(','),
    tiers: (s.scope.tiers ?? []).join(','),
  });
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void form.submit(async (v) => {
          await api('PATCH', `/staff/${s.id}`, {
            body: { displayName: v.displayName.trim(), roles: list(v.roles), scope: scopeOf(v) },
          });
          if (v.password) await api('POST', `/staff/${s.id}/reset-password`, { body: { password: v.password } });
          props.done();
        }, checkRoles);
      }}
    >
      <h2>
        {t('编辑员工', 'Edit staff member')} {s.username}
      </h2>
      <ErrorBox error={form.failure} />
      <div class="grid">
        <Field label={t('姓名', 'Display name')} error={form.errors.displayName}>
          {(id) => <input id={id} value={form.values.displayName} onInput={form.set('displayName')} />}
        </Field>
        <Field label={t('重置密码（可空）', 'New password (optional)')} error={form.errors.password}>
          {(id) => (
            <input
              id={id}
              type="password"
              autoComplete="new-password"
              value={form.values.password}
              onInput={form.set('password')}
            />
          )}
        </Field>
        <ScopeFields form={form} />
      </div>
      <button type="submit" class="primary" disabled={form.busy}>
        {t('保存', 'Save')}
      </button>
      <button type="button" onClick={props.done}>
        {t('取消', 'Cancel')}
      </button>
    </form>
  );
}
