/**
 * Browser tests: Debian's chromium (installed by scripts/launch.mjs when missing) driven by playwright-core,
 * against the live service (test/support/live.ts) serving the built console. Few and fast: one browser per
 * file, a fresh context per person.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/** The WeChat in-app browser's user agent (the H5 pages send anything else to "open this in WeChat"). */
export const WECHAT_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI Language/zh_CN';

/** `npm test` builds the console first (launch.mjs); a bare vitest run builds it here when missing or stale. */
export function ensureConsoleBuilt(): void {
  const result = spawnSync(process.execPath, ['scripts/console-build.mjs', '--if-stale'], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('the console build failed');
}

export function useBrowser(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    ensureConsoleBuilt();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Containers run as root without user namespaces: chromium's own sandbox cannot start there.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('the browser is not started yet');
    return browser;
  };
}

/** Signs in through the console's own form, as a person would. */
export async function signIn(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(`${url}/console/`);
  await page.getByLabel(/用户名|Username/).fill(username);
  await page.getByLabel(/^密码$|^Password$/).fill(password);
  await page.getByRole('button', { name: /^登录$|^Sign in$/ }).click();
  await page.getByRole('navigation', { name: /主菜单|Main menu/ }).waitFor();
}
