/**
 * JS-SDK configuration: the jsapi_ticket (cached in Redis for every process, refreshed by one at a time,
 * exactly like the access token) and the page signature.
 * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html (appendix 1)
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

export interface JsSdkConfig {
  appId: string;
  timestamp: number;
  nonceStr: string;
  signature: string;
}

export interface JsSdkApi {
  jsapiTicket(): Promise<string>;
  /** Signs a page: `url` is the page address without the `#` fragment, exactly as the browser has it. */
  signJsSdk(url: string): Promise<JsSdkConfig>;
}

/** sha1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` (keys sorted, values raw), lowercase hex. */
export function jsSdkSignature(input: {
  ticket: string;
  nonceStr: string;
  timestamp: number | string;
  url: string;
}): string {
  const string1 = `jsapi_ticket=${input.ticket}&noncestr=${input.nonceStr}&timestamp=${input.timestamp}&url=${input.url}`;
  return createHash('sha1').update(string1).digest('hex');
}

const Ticket = z.object({ ticket: z.string().min(1), expires_in: z.number().int().positive() });

export function jsSdkApi(caller: WechatCaller, now: () => number = Date.now): JsSdkApi {
  const tickets = caller.sharedCredential('jsapi_ticket', async (http, accessToken) => {
    // Called inside the caller's token handling: a token error here refreshes the token and tries again.
    const got = await http.request({
      method: 'GET',
      path: '/cgi-bin/ticket/getticket',
      query: { access_token: accessToken, type: 'jsapi' },
      schema: Ticket,
    });
    return { value: got.ticket, expiresIn: got.expires_in };
  });
  return {
    jsapiTicket: () => tickets.get(),
    async signJsSdk(url) {
      const pageUrl = url.split('#')[0] ?? url;
      const ticket = await tickets.get();
      const nonceStr = randomBytes(8).toString('hex');
      const timestamp = Math.floor(now() / 1000);
      return {
        appId: caller.appid,
        timestamp,
        nonceStr,
        signature: jsSdkSignature({ ticket, nonceStr, timestamp, url: pageUrl }),
      };
    },
  };
}
