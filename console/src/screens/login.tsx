import { login } from '../api';
import { t } from '../i18n';
import { ErrorBox, Field, Notice, useForm } from '../ui';

export function Login(props: { expired: boolean; onSignedIn: () => void }) {
  const form = useForm({ username: '', password: '' });
  return (
    <main class="login" id="main">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(
            async (v) => {
              await login(v.username.trim(), v.password);
              props.onSignedIn();
            },
            (v) => ({
              ...(v.username.trim() ? {} : { username: t('请输入用户名', 'Enter your username') }),
              ...(v.password ? {} : { password: t('请输入密码', 'Enter your password') }),
            }),
          );
        }}
      >
        <h1>{t('SCRM 运营后台登录', 'Sign in to the SCRM console')}</h1>
        {props.expired && <Notice>{t('登录已过期，请重新登录。', 'Your session expired; sign in again.')}</Notice>}
        <ErrorBox error={form.failure} />
        <Field label={t('用户名', 'Username')} error={form.errors.username}>
          {(id) => (
            <input
              id={id}
              name="username"
              autoComplete="username"
              value={form.values.username}
              onInput={form.set('username')}
            />
          )}
        </Field>
        <Field label={t('密码', 'Password')} error={form.errors.password}>
          {(id) => (
            <input
              id={id}
              name="password"
              type="password"
              autoComplete="current-password"
              value={form.values.password}
              onInput={form.set('password')}
            />
          )}
        </Field>
        <button type="submit" class="primary" disabled={form.busy}>
          {form.busy ? t('登录中…', 'Signing in…') : t('登录', 'Sign in')}
        </button>
      </form>
    </main>
  );
}
