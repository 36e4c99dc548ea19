/**
 * Server-rendered H5 pages for customers inside WeChat: one small HTML document per page (inline CSS, no
 * framework, script only where a button needs it), so a weak phone network loads it in one round trip.
 * Every value goes through `html` (escaped); pages are `no-store` because they show personal state.
 */
import type { Context } from 'koa';
import type { AppConfig } from '../infra/config.js';
import { requireCustomer, type CustomerSession } from './session.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escaped HTML text; `Raw` values (already built by `html`) pass through. */
export class Raw {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const items = Array.isArray(v) ? v : [v];
    for (const item of items)
      out +=
        item instanceof Raw
          ? item.value
          : item === undefined || item === null || item === false
            ? ''
            : String(item as string | number).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
    out += strings[i + 1] ?? '';
  });
  return new Raw(out);
}

const STYLE = `*{box-sizing:border-box}body{margin:0;font:16px/1.5 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#1f2328;background:#f5f5f5}
header{background:#c9302c;color:#fff;padding:16px}h1{font-size:20px;margin:0}main{padding:12px}
.card{background:#fff;border-radius:10px;padding:14px;margin:0 0 12px}.amount{font-size:26px;font-weight:600;color:#c9302c}
.state{display:inline-block;border-radius:12px;padding:2px 10px;font-size:14px;background:#eee}
.s-success{background:#e8f5ec;color:#0b6b3a}.s-wait_user_confirm{background:#fff4e5;color:#8a4b00}.s-failed{background:#fdecea;color:#b42318}
.muted{color:#57606a;font-size:14px}button,.btn{display:block;width:100%;padding:12px;border:0;border-radius:8px;background:#07c160;color:#fff;font-size:17px;margin-top:10px;text-align:center;text-decoration:none}
button:disabled{opacity:.6}.err{color:#b42318}:focus-visible{outline:3px solid #f59e0b}`;

export function page(title: string, body: Raw, script?: string): string {
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1,viewport-fit=cover"><title>${html`${title}`.value}</title><style>${STYLE}</style></head><body><header><h1>${html`${title}`.value}</h1></header><main>${body.value}</main>${script ? `<script>${script}</script>` : ''}</body></html>`;
}

export function sendPage(ctx: Context, body: string, status = 200): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.body = body;
}

export function inWechat(ctx: Context): boolean {
  return /MicroMessenger/i.test(ctx.get('user-agent'));
}

/**
 * The customer behind an H5 page: from the session cookie, or (no session yet) off to WeChat's OAuth and
 * back to `next`. Outside WeChat there is no OAuth to go through: a page says to open it in WeChat.
 */
export async function customerOrRedirect(
  ctx: Context,
  config: AppConfig,
  next: string,
): Promise<CustomerSession | undefined> {
  try {
    await requireCustomer(config)(ctx, async () => undefined);
    if (ctx.state.customer) return ctx.state.customer;
  } catch {
    // no session or an expired one: sign in again below
  }
  if (!inWechat(ctx)) {
    sendPage(
      ctx,
      page(
        '请在微信中打开',
        html`<div class="card">
          <p>此页面需要在微信中打开，以便确认您的身份。</p>
          <p class="muted">请在微信里点击公众号消息或菜单中的链接，或用微信扫一扫打开本页。</p>
          <p class="muted" lang="en">Please open this page in WeChat.</p>
        </div>`,
      ),
      403,
    );
    return undefined;
  }
  ctx.redirect(`/h5/oauth/start?next=${encodeURIComponent(next)}`);
  return undefined;
}
