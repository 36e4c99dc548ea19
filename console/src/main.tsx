import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, logout, onSessionEnd, storedTokens } from './api';
import { lang, setLang, t } from './i18n';
import { match, navigate, usePath } from './router';
import { SCREENS } from './screens';
import { Login } from './screens/login';
import { MeContext, type Me } from './session';
import { ErrorBox, Loading } from './ui';
import './style.css';

function Shell({ me, onLogout }: { me: Me; onLogout: () => void }) {
  const path = usePath();
  const can = (p: string | null) => p === null || me.permissions.includes(p);
  const groups = new Map<string, { path: string; label: string }[]>();
  for (const s of SCREENS) {
    if (!s.menu || !can(s.permission)) continue;
    const group = s.menu.group();
    groups.set(group, [...(groups.get(group) ?? []), { path: s.path, label: s.menu.label() }]);
  }
  let body = <NotFound />;
  for (const screen of SCREENS) {
    const params = match(screen.path, path);
    if (!params) continue;
    body = can(screen.permission) ? <screen.component params={params} /> : <NoAccess />;
    break;
  }
  return (
    <div class="shell">
      <a class="skip" href="#main">
        {t('跳到正文', 'Skip to content')}
      </a>
      <header class="top">
        <a class="brand" href="#/">
          SCRM {t('运营后台', 'Console')}
        </a>
        <span class="who">
          {me.staff.displayName} ({me.staff.username})
        </span>
        <LangSwitch />
        <button type="button" onClick={onLogout}>
          {t('退出登录', 'Sign out')}
        </button>
      </header>
      <nav class="side" aria-label={t('主菜单', 'Main menu')}>
        {[...groups].map(([group, items]) => (
          <div class="menu-group">
            <h2>{group}</h2>
            <ul>
              {items.map((i) => (
                <li>
                  <a href={`#${i.path}`} aria-current={path.startsWith(i.path) ? 'page' : undefined}>
                    {i.label}
                  </a>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <main id="main" tabIndex={-1}>
        {body}
      </main>
    </div>
  );
}

function LangSwitch() {
  const [, rerender] = useState(0);
  return (
    <button
      type="button"
      lang={lang() === 'zh' ? 'en' : 'zh-CN'}
      onClick={() => {
        setLang(lang() === 'zh' ? 'en' : 'zh');
        rerender((n) => n + 1);
        window.dispatchEvent(new Event('langchange'));
      }}
    >
      {lang() === 'zh' ? 'English' : '中文'}
    </button>
  );
}

function NoAccess() {
  return (
    <section class="no-access">
      <h1>{t('无权访问', 'No access')}</h1>
      <p>
        {t(
          '您的角色没有此页面的权限，如需使用请联系管理员。',
          'Your roles do not include this page; ask an administrator.',
        )}
      </p>
    </section>
  );
}

function NotFound() {
  return (
    <section>
      <h1>{t('页面不存在', 'Page not found')}</h1>
      <a href="#/">{t('返回首页', 'Back to the start')}</a>
    </section>
  );
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(() => storedTokens() !== null);
  const [error, setError] = useState<unknown>(null);
  const [ended, setEnded] = useState<'expired' | 'signed_out' | null>(null);
  const [, setLangTick] = useState(0);

  const loadMe = () => {
    setChecking(true);
    api<Me>('GET', '/me').then(
      (m) => {
        setMe(m);
        setEnded(null);
        setChecking(false);
      },
      (err: unknown) => {
        setChecking(false);
        setError(err);
      },
    );
  };
  useEffect(() => {
    const off = onSessionEnd((reason) => {
      setMe(null);
      setEnded(reason);
    });
    const onLang = () => setLangTick((n) => n + 1);
    window.addEventListener('langchange', onLang);
    if (storedTokens()) loadMe();
    return () => {
      off();
      window.removeEventListener('langchange', onLang);
    };
  }, []);

  if (checking) return <Loading on />;
  if (!me)
    return (
      <>
        <ErrorBox error={ended ? null : error} />
        <Login expired={ended === 'expired'} onSignedIn={loadMe} />
      </>
    );
  return (
    <MeContext.Provider value={me}>
      <Shell
        me={me}
        onLogout={() => {
          void logout().then(() => navigate('/'));
        }}
      />
    </MeContext.Provider>
  );
}

setLang(lang());
render(<App />, document.getElementById('app')!);
