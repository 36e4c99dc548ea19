/**
 * Sandbox route for temporary material: `media/upload` (multipart, field `media`) with WeChat's limits and
 * errcodes, keeping each media_id three days on the sandbox clock. Messages that carry a media_id the sandbox
 * issued are checked against it (expired or unknown → 40007); other ids stand for permanent material.
 */
import { randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { accountOf, str, WxError, type WechatEnv } from './env.js';
import type { AccountState } from './state.js';

const ISSUED_PREFIX = 'SBXM_';
const LIMITS: Record<string, { bytes: number; types: RegExp }> = {
  image: { bytes: 10 * 1024 * 1024, types: /\.(png|jpe?g|gif|bmp)$/i },
  voice: { bytes: 2 * 1024 * 1024, types: /\.(amr|mp3)$/i },
  video: { bytes: 10 * 1024 * 1024, types: /\.mp4$/i },
  thumb: { bytes: 64 * 1024, types: /\.jpe?g$/i },
};
const SIZE_ERRORS: Record<string, [number, string]> = {
  image: [40009, 'invalid image size'],
  voice: [40010, 'invalid voice size'],
  video: [40011, 'invalid video size'],
  thumb: [40012, 'invalid thumb size'],
};

async function formOf(ctx: Context): Promise<FormData> {
  const raw = (ctx.state as { wxRaw?: Buffer }).wxRaw;
  if (!raw) throw new WxError(41005, 'media data missing');
  try {
    return await new Response(raw, { headers: { 'content-type': ctx.get('content-type') } }).formData();
  } catch {
    throw new WxError(41005, 'media data missing');
  }
}

/** Throws 40007 when `mediaId` was issued here and is unknown to the account or expired. */
export function checkIssuedMedia(env: WechatEnv, state: AccountState, mediaId: string): void {
  if (!mediaId.startsWith(ISSUED_PREFIX)) return;
  const media = state.media.get(mediaId);
  if (!media || media.expiresAt <= env.clock.now()) throw new WxError(40007, 'invalid media_id');
}

export function registerMediaRoutes(router: Router, env: WechatEnv): void {
  router.post('/cgi-bin/media/upload', async (ctx) => {
    const state = accountOf(ctx);
    const type = str(ctx.query.type) ?? '';
    const limits = LIMITS[type];
    if (!limits) throw new WxError(40004, 'invalid media type');
    const file = (await formOf(ctx)).get('media');
    if (!(file instanceof Blob) || file.size === 0) throw new WxError(41005, 'media data missing');
    const name = file instanceof File ? file.name : '';
    if (!limits.types.test(name)) throw new WxError(40005, 'invalid file type');
    if (file.size > limits.bytes) {
      const [errcode, errmsg] = SIZE_ERRORS[type]!;
      throw new WxError(errcode, errmsg);
    }
    const mediaId = `${ISSUED_PREFIX}${randomBytes(24).toString('base64url')}`;
    const now = env.clock.now();
    state.media.set(mediaId, { type, bytes: file.size, expiresAt: now + 3 * 86_400_000 });
    ctx.body = { type, media_id: mediaId, created_at: Math.floor(now / 1000) };
  });
}
