/**
 * Parametric QR codes: temporary (≤ 30 days) and permanent (≤ 100 000 per account), with an integer
 * scene or a `scene_str`; a scan by a non-follower arrives as `subscribe` with `qrscene_<scene>`, by a
 * follower as `SCAN`.
 * https://developers.weixin.qq.com/doc/service/api/qrcode/qrcodes/api_createqrcode.html
 */
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

export type QrScene = { sceneId: number } | { sceneStr: string };

export interface QrCode {
  ticket: string;
  /** What the QR image encodes; render it yourself or fetch the image by ticket. */
  url: string;
  /** Seconds; absent for permanent codes. */
  expireSeconds?: number;
}

const Created = z.object({
  ticket: z.string().min(1),
  url: z.string(),
  expire_seconds: z.number().int().optional(),
});

export const MAX_TEMPORARY_QR_SECONDS = 2_592_000;

export interface QrCodeApi {
  createTemporaryQr(scene: QrScene, expireSeconds: number): Promise<QrCode>;
  createPermanentQr(scene: QrScene): Promise<QrCode>;
  /** The image address of a ticket (showqrcode; no token needed). */
  qrImageUrl(ticket: string): string;
  /** The image itself (PNG). */
  fetchQrImage(ticket: string): Promise<{ contentType: string; bytes: Buffer }>;
}

/** showqrcode lives on mp.weixin.qq.com for the real platform; the sandbox serves it beside the API. */
function showQrBase(apiBase: string): string {
  return apiBase.includes('api.weixin.qq.com') ? 'https://mp.weixin.qq.com' : apiBase;
}

export function qrCodeApi(caller: WechatCaller): QrCodeApi {
  async function create(actionName: string, scene: QrScene, expireSeconds?: number): Promise<QrCode> {
    const got = await caller.call({
      method: 'POST',
      path: '/cgi-bin/qrcode/create',
      body: {
        ...(expireSeconds !== undefined ? { expire_seconds: expireSeconds } : {}),
        action_name: actionName,
        action_info: { scene: 'sceneId' in scene ? { scene_id: scene.sceneId } : { scene_str: scene.sceneStr } },
      },
      schema: Created,
    });
    return { ticket: got.ticket, url: got.url, expireSeconds: got.expire_seconds };
  }
  return {
    createTemporaryQr: (scene, expireSeconds) =>
      create('sceneId' in scene ? 'QR_SCENE' : 'QR_STR_SCENE', scene, expireSeconds),
    createPermanentQr: (scene) => create('sceneId' in scene ? 'QR_LIMIT_SCENE' : 'QR_LIMIT_STR_SCENE', scene),
    qrImageUrl: (ticket) => `${showQrBase(caller.apiBase)}/cgi-bin/showqrcode?ticket=${encodeURIComponent(ticket)}`,
    fetchQrImage: (ticket) => caller.bytes({ method: 'GET', path: '/cgi-bin/showqrcode', query: { ticket } }),
  };
}
