/**
 * Temporary material: a file uploaded for three days, named by a `media_id` that image, voice and video
 * messages (passive replies, customer-service messages) carry. Images up to 10 MB (PNG, JPEG, GIF, BMP).
 * https://developers.weixin.qq.com/doc/service/api/material/temporary/api_uploadtempmedia.html
 */
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

export const TEMPORARY_MEDIA_SECONDS = 3 * 86_400;

const Uploaded = z.object({
  type: z.string(),
  media_id: z.string().min(1),
  created_at: z.union([z.number().int(), z.string().regex(/^\d+$/)]),
});

export interface UploadedMedia {
  mediaId: string;
  /** When WeChat stored it; the media_id expires three days later. */
  createdAt: Date;
}

export interface MediaApi {
  /** Uploads a temporary file; 40004 invalid type, 40005 unsupported file type, 40009 image too large. */
  uploadTemporaryMedia(
    type: 'image' | 'voice' | 'video' | 'thumb',
    file: { bytes: Buffer; filename: string; contentType: string },
  ): Promise<UploadedMedia>;
}

export function mediaApi(caller: WechatCaller): MediaApi {
  return {
    async uploadTemporaryMedia(type, file) {
      const form = new FormData();
      form.append('media', new Blob([file.bytes], { type: file.contentType }), file.filename);
      const got = await caller.call({
        method: 'POST',
        path: '/cgi-bin/media/upload',
        query: { type },
        body: form,
        schema: Uploaded,
      });
      return { mediaId: got.media_id, createdAt: new Date(Number(got.created_at) * 1000) };
    },
  };
}
