/**
 * The referrer's code as an image in their chat: the QR image fetched from WeChat (showqrcode), uploaded
 * once as temporary material, and sent as a customer-service image message (through the reach ledger).
 * The media_id is cached per ticket until an hour before WeChat drops it (three days after the upload), so
 * asking again re-sends without re-uploading, and a renewed ticket gets a new image.
 * Not a poster: composing the QR onto a background needs image handling this service does not carry yet.
 */
import { isPlatformError } from '../../platform/kernel/errors.js';
import { codeFor } from './codes.js';
import { referralError } from './errors.js';
import type { ReferralDeps } from './service.js';

/** WeChat keeps temporary material three days; the cache lets go an hour earlier. */
const MEDIA_LIFETIME_MS = 3 * 86_400_000;
const MEDIA_MARGIN_MS = 3_600_000;

const mediaKey = (campaignId: string, profileId: string, ticket: string) =>
  `rf:{${campaignId}}:media:${profileId}:${ticket}`;

/** Sends the referrer's QR code image to them; answers the media_id and whether it came from the cache. */
export async function sendCodeImage(
  deps: ReferralDeps,
  input: { campaignId: string; profileId: string; account: string; openid: string },
): Promise<{ mediaId: string; cached: boolean }> {
  const view = await codeFor(deps, input);
  const key = mediaKey(input.campaignId, input.profileId, view.ticket);
  // "<media_id> <usable until, ms>": the deadline follows the domain's clock (WeChat's), Redis' TTL bounds it.
  const [cachedId, until] = ((await deps.redis.get(key)) ?? '').split(' ');
  if (cachedId && Number(until) > deps.now().getTime()) return send(deps, input, cachedId, true);
  let mediaId: string;
  try {
    const image = await deps.qr.image(input.account, view.ticket);
    const jpeg = /jpe?g/i.test(image.contentType);
    const uploaded = await deps.media.uploadImage(input.account, {
      bytes: image.bytes,
      filename: jpeg ? 'referral-code.jpg' : 'referral-code.png',
      contentType: jpeg ? 'image/jpeg' : 'image/png',
    });
    mediaId = uploaded.mediaId;
    const usableUntil = uploaded.createdAt.getTime() + MEDIA_LIFETIME_MS - MEDIA_MARGIN_MS;
    const ttlMs = usableUntil - deps.now().getTime();
    if (ttlMs > 1000) await deps.redis.set(key, `${mediaId} ${usableUntil}`, 'PX', ttlMs);
  } catch (err) {
    if (isPlatformError(err)) throw referralError('qr_unavailable', { errcode: err.errcode });
    throw err;
  }
  return send(deps, input, mediaId, false);
}

async function send(
  deps: ReferralDeps,
  input: { account: string; openid: string },
  mediaId: string,
  cached: boolean,
): Promise<{ mediaId: string; cached: boolean }> {
  await deps.media.sendImage(input.account, input.openid, mediaId);
  return { mediaId, cached };
}
