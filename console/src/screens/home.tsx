import { t } from '../i18n';
import { SCREENS } from '../screens';
import { useMe } from '../session';

export function Home() {
  const me = useMe();
  const mine = SCREENS.filter((s) => s.menu && (s.permission === null || me.permissions.includes(s.permission)));
  return (
    <section>
      <h1>{t(`您好，${me.staff.displayName}`, `Hello, ${me.staff.displayName}`)}</h1>
      <p class="muted">
        {t('角色', 'Roles')}: {me.staff.roles.join(', ')}
      </p>
      <ul class="tiles">
        {mine.map((s) => (
          <li>
            <a href={`#${s.path}`}>
              <strong>{s.menu!.label()}</strong>
              <span class="muted">{s.menu!.group()}</span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
