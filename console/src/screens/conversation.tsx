/**
 * Conversation: the account's menus in a visual editor that shows WeChat's limits while you type (3 top-level
 * buttons, 5 sub-buttons, 16 / 60 bytes per name, what each button type needs), the diff with what is live and
 * publishing; keyword rules with a "test this message" box; welcome messages and service hours; the report
 * of questions nothing answered; and the hand-offs to human agents.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { t } from '../i18n';
import { useCan } from '../session';
import { Action, ErrorBox, Field, Loading, Notice, Pager, ProblemList, Table, time, useLoad, usePaged } from '../ui';

interface Button {
  name: string;
  type?: string;
  key?: string;
  url?: string;
  sub_button?: Button[];
}
interface MenuSet {
  default: Button[];
  conditional: { name: string; tier: string; buttons: Button[] }[];
  actions: Record<string, { action: string; params?: Record<string, unknown> }>;
}
interface Rule {
  id: string;
  account: string;
  name: string;
  match: string;
  pattern: string;
  priority: number;
  tiers?: string[];
  command?: string;
  answer: { action: string; params?: Record<string, unknown> };
  enabled: boolean;
}

const TOP_MAX = 3;
const SUB_MAX = 5;
const TOP_BYTES = 16;
const SUB_BYTES = 60;
const bytes = (s: string) => new TextEncoder().encode(s).length;
const TYPES = ['click', 'view', 'scancode_push', 'scancode_waitmsg', 'pic_sysphoto', 'location_select'];
const needsUrl = (type?: string) => type === 'view';

function Tabs(props: { tabs: [string, string][]; current: string; pick: (key: string) => void }) {
  return (
    <div class="buttons" role="tablist">
      {props.tabs.map(([key, label]) => (
        <button
          type="button"
          role="tab"
          aria-selected={props.current === key}
          class={props.current === key ? 'primary' : ''}
          onClick={() => props.pick(key)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

export function Conversation() {
  const [tab, setTab] = useState('menus');
  const [account, setAccount] = useState('default');
  return (
    <section>
      <h1>{t('对话服务', 'Conversation')}</h1>
      <Field label={t('公众号', 'Account')}>
        {(id) => <input id={id} value={account} onChange={(e) => setAccount(e.currentTarget.value.trim())} />}
      </Field>
      <Tabs
        current={tab}
        pick={setTab}
        tabs={[
          ['menus', t('自定义菜单', 'Menus')],
          ['rules', t('关键词规则', 'Keyword rules')],
          ['welcome', t('欢迎语与服务时间', 'Welcome & hours')],
          ['unmatched', t('未匹配问题', 'Unmatched questions')],
          ['handoffs', t('人工转接', 'Hand-offs')],
        ]}
      />
      {tab === 'menus' && <MenuEditor account={account} />}
      {tab === 'rules' && <Rules account={account} />}
      {tab === 'welcome' && <Welcome account={account} />}
      {tab === 'unmatched' && <Unmatched account={account} />}
      {tab === 'handoffs' && <Handoffs account={account} />}
    </section>
  );
}

function ButtonFields(props: { button: Button; top: boolean; change: (b: Button) => void; label: string }) {
  const b = props.button;
  const limit = props.top ? TOP_BYTES : SUB_BYTES;
  const used = bytes(b.name);
  return (
    <>
      <Field
        label={t(`${props.label}名称`, `${props.label} name`)}
        hint={t(`${used}/${limit} 字节`, `${used}/${limit} bytes`)}
        error={used > limit ? t(`名称最多 ${limit} 字节`, `At most ${limit} bytes`) : undefined}
      >
        {(id) => <input id={id} value={b.name} onInput={(e) => props.change({ ...b, name: e.currentTarget.value })} />}
      </Field>
      {!b.sub_button && (
        <>
          <Field label={t(`${props.label}类型`, `${props.label} type`)}>
            {(id) => (
              <select
                id={id}
                value={b.type ?? 'click'}
                onChange={(e) => props.change({ ...b, type: e.currentTarget.value })}
              >
                {TYPES.map((x) => (
                  <option value={x}>{x}</option>
                ))}
              </select>
            )}
          </Field>
          {needsUrl(b.type) ? (
            <Field label={t(`${props.label}链接`, `${props.label} URL`)}>
              {(id) => (
                <input
                  id={id}
                  value={b.url ?? ''}
                  onInput={(e) => props.change({ ...b, url: e.currentTarget.value })}
                />
              )}
            </Field>
          ) : (
            <Field label={t(`${props.label} Key`, `${props.label} key`)}>
              {(id) => (
                <input
                  id={id}
                  value={b.key ?? ''}
                  onInput={(e) => props.change({ ...b, key: e.currentTarget.value })}
                />
              )}
            </Field>
          )}
        </>
      )}
    </>
  );
}

/** Drops the fields a button's type does not use, so what is saved is what WeChat would accept. */
function clean(b: Button): Button {
  if (b.sub_button) return { name: b.name, sub_button: b.sub_button.map(clean) };
  const type = b.type ?? 'click';
  return needsUrl(type) ? { name: b.name, type, url: b.url ?? '' } : { name: b.name, type, key: b.key ?? '' };
}

function MenuEditor(props: { account: string }) {
  const can = useCan();
  const loaded = useLoad(() => api<MenuSet>('GET', `/conversation/menus/${props.account}`), [props.account]);
  const [set, setSet] = useState<MenuSet | null>(null);
  const [which, setWhich] = useState(-1); // -1: the default menu; else a conditional menu
  const [failure, setFailure] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [diff, setDiff] = useState<string[] | null>(null);
  const [limitNote, setLimitNote] = useState('');
  useEffect(() => {
    if (loaded.data) setSet(loaded.data);
  }, [loaded.data]);
  if (!set)
    return (
      <>
        <ErrorBox error={loaded.error} />
        <Loading on={loaded.loading} />
      </>
    );
  const buttons = which < 0 ? set.default : (set.conditional[which]?.buttons ?? []);
  const put = (next: Button[]) => {
    setSaved(false);
    setSet(
      which < 0
        ? { ...set, default: next }
        : { ...set, conditional: set.conditional.map((c, i) => (i === which ? { ...c, buttons: next } : c)) },
    );
  };
  const addTop = () => {
    if (buttons.length >= TOP_MAX) {
      setLimitNote(t(`一级菜单最多 ${TOP_MAX} 个`, `At most ${TOP_MAX} top-level buttons`));
      return;
    }
    setLimitNote('');
    put([...buttons, { name: t('新菜单', 'New'), type: 'click', key: `KEY_${Date.now() % 100000}` }]);
  };
  const addSub = (i: number) => {
    const top = buttons[i]!;
    const subs = top.sub_button ?? [];
    if (subs.length >= SUB_MAX) {
      setLimitNote(t(`每个一级菜单最多 ${SUB_MAX} 个子菜单`, `At most ${SUB_MAX} sub-buttons per button`));
      return;
    }
    setLimitNote('');
    const first = top.sub_button
      ? []
      : [{ name: t('子菜单', 'Item'), type: top.type ?? 'click', key: top.key ?? `KEY_${i}` }];
    put(
      buttons.map((b, k) =>
        k === i
          ? {
              name: b.name,
              sub_button: [
                ...subs,
                ...first,
                { name: t('子菜单', 'Item'), type: 'click', key: `KEY_${Date.now() % 100000}` },
              ],
            }
          : b,
      ),
    );
  };
  const save = async () => {
    setFailure(null);
    try {
      const body = {
        ...set,
        default: set.default.map(clean),
        conditional: set.conditional.map((c) => ({ ...c, buttons: c.buttons.map(clean) })),
      };
      setSet(await api<MenuSet>('PUT', `/conversation/menus/${props.account}`, { body }));
      setSaved(true);
      setDiff((await api<{ changed: string[] }>('GET', `/conversation/menus/${props.account}/diff`)).changed);
    } catch (err) {
      setFailure(err);
    }
  };
  return (
    <div class="card" aria-label={t('菜单编辑器', 'Menu editor')} role="region">
      <Field label={t('编辑的菜单', 'Menu')}>
        {(id) => (
          <select id={id} value={String(which)} onChange={(e) => setWhich(Number(e.currentTarget.value))}>
            <option value="-1">{t('默认菜单', 'Default menu')}</option>
            {set.conditional.map((c, i) => (
              <option value={String(i)}>
                {t(`个性化菜单：${c.name}（${c.tier}）`, `Conditional: ${c.name} (${c.tier})`)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <p class="muted">
        {t(
          `一级菜单 ${buttons.length}/${TOP_MAX}；名称最多 ${TOP_BYTES} 字节，子菜单 ${SUB_BYTES} 字节（一个汉字 3 字节）。`,
          `Top-level ${buttons.length}/${TOP_MAX}; names at most ${TOP_BYTES} bytes, sub-buttons ${SUB_BYTES} (a Chinese character is 3).`,
        )}
      </p>
      {buttons.map((b, i) => (
        <fieldset class="cond-row">
          <legend>{t(`一级菜单 ${i + 1}`, `Button ${i + 1}`)}</legend>
          <ButtonFields
            button={b}
            top
            label={t(`菜单${i + 1}`, `Button ${i + 1}`)}
            change={(nb) => put(buttons.map((x, k) => (k === i ? nb : x)))}
          />
          {(b.sub_button ?? []).map((s, j) => (
            <div class="cond-row">
              <ButtonFields
                button={s}
                top={false}
                label={t(`子菜单${i + 1}-${j + 1}`, `Item ${i + 1}-${j + 1}`)}
                change={(ns) =>
                  put(
                    buttons.map((x, k) =>
                      k === i ? { ...x, sub_button: x.sub_button!.map((y, m) => (m === j ? ns : y)) } : x,
                    ),
                  )
                }
              />
              <button
                type="button"
                class="danger"
                onClick={() => {
                  const rest = b.sub_button!.filter((_, m) => m !== j);
                  put(
                    buttons.map((x, k) =>
                      k === i
                        ? rest.length
                          ? { ...x, sub_button: rest }
                          : { name: x.name, type: 'click', key: `KEY_${i}` }
                        : x,
                    ),
                  );
                }}
              >
                {t(`删除子菜单${i + 1}-${j + 1}`, `Remove item ${i + 1}-${j + 1}`)}
              </button>
            </div>
          ))}
          <button type="button" onClick={() => addSub(i)}>
            {t(`添加子菜单到菜单${i + 1}`, `Add an item to button ${i + 1}`)}
          </button>
          {buttons.length > 1 && (
            <button type="button" class="danger" onClick={() => put(buttons.filter((_, k) => k !== i))}>
              {t(`删除菜单${i + 1}`, `Remove button ${i + 1}`)}
            </button>
          )}
        </fieldset>
      ))}
      <button type="button" onClick={addTop}>
        {t('添加一级菜单', 'Add a top-level button')}
      </button>
      {limitNote && (
        <p class="error" role="alert">
          {limitNote}
        </p>
      )}
      <ErrorBox error={failure} />
      <ProblemList error={failure} />
      <div class="buttons">
        <button type="button" class="primary" onClick={() => void save()}>
          {t('保存菜单', 'Save menus')}
        </button>
        {can('menu:publish') && saved && (
          <Action
            label={t('发布到微信', 'Publish to WeChat')}
            run={() => api('POST', `/conversation/menus/${props.account}/publish`)}
            done={() => setDiff([])}
          />
        )}
      </div>
      {saved && <Notice>{t('菜单已保存', 'Menus saved')}</Notice>}
      {diff && (
        <p>
          {diff.length === 0
            ? t('与线上菜单一致', 'Same as what is live')
            : t(`与线上不同：${diff.join('、')}`, `Differs from live: ${diff.join(', ')}`)}
        </p>
      )}
    </div>
  );
}

function Rules(props: { account: string }) {
  const list = useLoad(
    () => api<{ items: Rule[] }>('GET', '/conversation/rules', { query: { account: props.account } }),
    [props.account],
  );
  const [form, setForm] = useState({
    name: '',
    match: 'exact',
    pattern: '',
    priority: '0',
    command: '',
    tiers: '',
    reply: '',
  });
  const [failure, setFailure] = useState<unknown>(null);
  const [text, setText] = useState('');
  const [tier, setTier] = useState('');
  const [tested, setTested] = useState<{
    matched: boolean;
    commandList?: boolean;
    rule?: { name?: string };
    answer?: unknown;
  } | null>(null);
  const [testError, setTestError] = useState<unknown>(null);
  const set = (k: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const create = async () => {
    setFailure(null);
    try {
      const tiers = form.tiers.split(/[,，\s]+/).filter(Boolean);
      await api('POST', '/conversation/rules', {
        body: {
          account: props.account,
          name: form.name.trim(),
          match: form.match,
          pattern: form.pattern,
          priority: Number(form.priority) || 0,
          ...(form.command.trim() ? { command: form.command.trim() } : {}),
          ...(tiers.length ? { tiers } : {}),
          answer: { action: 'reply', params: { text: form.reply } },
        },
      });
      setForm({ ...form, name: '', pattern: '', command: '', reply: '' });
      list.reload();
    } catch (err) {
      setFailure(err);
    }
  };
  return (
    <>
      <form
        class="card"
        aria-label={t('测试消息', 'Test a message')}
        onSubmit={(e) => {
          e.preventDefault();
          setTestError(null);
          api<typeof tested>('GET', '/conversation/test', {
            query: { account: props.account, text, tier: tier || undefined },
          }).then(setTested, (err: unknown) => (setTested(null), setTestError(err)));
        }}
      >
        <h2>{t('测试这条消息', 'Test this message')}</h2>
        <div class="grid">
          <Field label={t('客户发送的内容', 'What the customer sends')}>
            {(id) => <input id={id} value={text} onInput={(e) => setText(e.currentTarget.value)} />}
          </Field>
          <Field label={t('客户等级（可选）', 'Customer tier (optional)')}>
            {(id) => <input id={id} value={tier} onInput={(e) => setTier(e.currentTarget.value)} />}
          </Field>
        </div>
        <button type="submit">{t('测试', 'Test')}</button>
        <ErrorBox error={testError} />
        {tested && (
          <p role="status">
            {!tested.matched
              ? t('没有规则匹配：将回复默认内容', 'No rule matches: the default reply answers')
              : tested.commandList
                ? t('匹配：回复数字命令列表', 'Matches: the numbered command list')
                : t(`匹配规则：${tested.rule?.name ?? ''}`, `Matches rule: ${tested.rule?.name ?? ''}`)}
            {tested.answer !== undefined && <code> {JSON.stringify(tested.answer)}</code>}
          </p>
        )}
      </form>
      <form
        class="card"
        aria-label={t('新建关键词规则', 'New keyword rule')}
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <h2>{t('新建关键词规则', 'New keyword rule')}</h2>
        <ErrorBox error={failure} />
        <ProblemList error={failure} />
        <div class="grid">
          <Field label={t('规则名称', 'Rule name')}>
            {(id) => <input id={id} value={form.name} onInput={set('name')} />}
          </Field>
          <Field label={t('匹配方式', 'Match')}>
            {(id) => (
              <select id={id} value={form.match} onChange={set('match')}>
                <option value="exact">{t('完全匹配', 'Exact')}</option>
                <option value="prefix">{t('前缀', 'Prefix')}</option>
                <option value="contains">{t('包含', 'Contains')}</option>
                <option value="regex">{t('正则表达式', 'Regular expression')}</option>
              </select>
            )}
          </Field>
          <Field label={t('关键词', 'Pattern')}>
            {(id) => <input id={id} value={form.pattern} onInput={set('pattern')} />}
          </Field>
          <Field label={t('优先级', 'Priority')}>
            {(id) => <input id={id} type="number" value={form.priority} onInput={set('priority')} />}
          </Field>
          <Field label={t('数字命令（可选）', 'Number command (optional)')}>
            {(id) => <input id={id} value={form.command} onInput={set('command')} />}
          </Field>
          <Field label={t('适用等级（可选）', 'Tiers (optional)')}>
            {(id) => <input id={id} value={form.tiers} onInput={set('tiers')} />}
          </Field>
          <Field label={t('回复内容', 'Reply text')} hint={t('可用 {{name}}、{{tier}}', 'May use {{name}}, {{tier}}')}>
            {(id) => <textarea id={id} value={form.reply} onInput={set('reply')} />}
          </Field>
        </div>
        <button type="submit" class="primary">
          {t('保存规则', 'Save rule')}
        </button>
      </form>
      <ErrorBox error={list.error} />
      <Loading on={list.loading} />
      <Table
        caption={t('关键词规则（优先级从高到低）', 'Keyword rules (highest priority first)')}
        rows={list.data?.items}
        columns={[
          { label: t('名称', 'Name'), cell: (r) => r.name },
          { label: t('匹配', 'Match'), cell: (r) => `${r.match}: ${r.pattern}` },
          { label: t('优先级', 'Priority'), cell: (r) => r.priority },
          { label: t('命令', 'Command'), cell: (r) => r.command ?? '—' },
          { label: t('等级', 'Tiers'), cell: (r) => r.tiers?.join(', ') ?? t('全部', 'All') },
          { label: t('动作', 'Action'), cell: (r) => r.answer.action },
          {
            label: t('操作', 'Actions'),
            cell: (r) => (
              <Action
                kind="danger"
                label={t('删除', 'Delete')}
                confirm={t(`删除规则“${r.name}”？`, `Delete rule "${r.name}"?`)}
                run={() => api('DELETE', `/conversation/rules/${r.id}`)}
                done={list.reload}
              />
            ),
          },
        ]}
      />
    </>
  );
}

interface Settings {
  welcome: Partial<Record<string, { type: string; text?: string }>>;
  serviceHours: { days?: number[]; from: string; to: string };
  handoffClosedText: string;
  defaultReplyCooldownSeconds: number;
  defaultReply?: { type: string; text?: string };
  kfAccount?: string;
}

function Welcome(props: { account: string }) {
  const loaded = useLoad(
    () => api<Settings & { account: string }>('GET', `/conversation/settings/${props.account}`),
    [props.account],
  );
  const [s, setS] = useState<Settings | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (loaded.data) {
      const { account: _account, ...rest } = loaded.data;
      setS(rest);
    }
  }, [loaded.data]);
  if (!s) return <Loading on={loaded.loading} />;
  const scenes: [string, string][] = [
    ['plain', t('普通关注', 'Plain subscribe')],
    ['referral', t('推荐关注', 'Referral')],
    ['campaign', t('活动二维码', 'Campaign QR')],
    ['staff', t('员工渠道', 'Staff channel')],
    ['returning', t('回流关注', 'Returning')],
  ];
  const welcomeText = (k: string) => s.welcome[k]?.text ?? '';
  const setWelcome = (k: string, text: string) => {
    const welcome = { ...s.welcome };
    if (text) welcome[k] = { type: 'text', text };
    else delete welcome[k];
    setS({ ...s, welcome });
  };
  return (
    <form
      class="card"
      aria-label={t('欢迎语', 'Welcome messages')}
      onSubmit={(e) => {
        e.preventDefault();
        setFailure(null);
        setSaved(false);
        api('PUT', `/conversation/settings/${props.account}`, { body: s }).then(
          () => setSaved(true),
          (err: unknown) => setFailure(err),
        );
      }}
    >
      <h2>{t('欢迎语（按关注场景）', 'Welcome messages by scene')}</h2>
      <ErrorBox error={failure} />
      <ProblemList error={failure} />
      {scenes.map(([k, label]) => (
        <Field label={label}>
          {(id) => <textarea id={id} value={welcomeText(k)} onInput={(e) => setWelcome(k, e.currentTarget.value)} />}
        </Field>
      ))}
      <div class="grid">
        <Field label={t('人工服务开始', 'Service hours from')}>
          {(id) => (
            <input
              id={id}
              value={s.serviceHours.from}
              onInput={(e) => setS({ ...s, serviceHours: { ...s.serviceHours, from: e.currentTarget.value } })}
            />
          )}
        </Field>
        <Field label={t('人工服务结束', 'Service hours to')}>
          {(id) => (
            <input
              id={id}
              value={s.serviceHours.to}
              onInput={(e) => setS({ ...s, serviceHours: { ...s.serviceHours, to: e.currentTarget.value } })}
            />
          )}
        </Field>
        <Field label={t('非服务时间回复', 'Out-of-hours reply')}>
          {(id) => (
            <textarea
              id={id}
              value={s.handoffClosedText}
              onInput={(e) => setS({ ...s, handoffClosedText: e.currentTarget.value })}
            />
          )}
        </Field>
      </div>
      <button type="submit" class="primary">
        {t('保存设置', 'Save settings')}
      </button>
      {saved && <Notice>{t('设置已保存', 'Settings saved')}</Notice>}
    </form>
  );
}

function Unmatched(props: { account: string }) {
  const [days, setDays] = useState('7');
  const report = useLoad(
    () =>
      api<{ items: { text: string; count: number }[] }>('GET', '/conversation/unmatched', {
        query: { account: props.account, days },
      }),
    [props.account, days],
  );
  return (
    <div class="card">
      <Field label={t('统计天数', 'Days')}>
        {(id) => (
          <select id={id} value={days} onChange={(e) => setDays(e.currentTarget.value)}>
            <option value="1">1</option>
            <option value="7">7</option>
            <option value="30">30</option>
          </select>
        )}
      </Field>
      <ErrorBox error={report.error} />
      <Table
        caption={t('没有规则回答的问题（按次数）', 'Questions nothing answered (most frequent first)')}
        rows={report.data?.items}
        columns={[
          { label: t('内容', 'Text'), cell: (r) => r.text },
          { label: t('次数', 'Times'), cell: (r) => r.count },
        ]}
      />
    </div>
  );
}

function Handoffs(props: { account: string }) {
  const page = usePaged<{ id: string; openid: string; profileId?: string; outcome: string; at: string }>(
    '/conversation/handoffs',
    {
      account: props.account,
    },
  );
  return (
    <div class="card">
      <ErrorBox error={page.error} />
      <Loading on={page.loading} />
      <Table
        caption={t(
          '人工转接记录（服务时间内转入微信客服，之外回复排队说明）',
          'Hand-offs (to WeChat customer service in hours; a queue message outside)',
        )}
        rows={page.data?.items}
        columns={[
          { label: t('时间', 'When'), cell: (h) => time(h.at) },
          {
            label: t('粉丝', 'Follower'),
            cell: (h) => (h.profileId ? <a href={`#/customers/${h.profileId}`}>{h.openid}</a> : h.openid),
          },
          {
            label: t('结果', 'Outcome'),
            cell: (h) =>
              h.outcome === 'transferred' ? t('已转人工', 'Passed to an agent') : t('非服务时间', 'Out of hours'),
          },
        ]}
      />
      <Pager pageNo={page.pageNo} hasNext={!!page.data?.nextCursor} prev={page.prev} next={page.next} />
    </div>
  );
}
