/**
 * OAuth2 web authorisation: the authorize URL, code → openid (+ unionid), refresh, userinfo. These
 * per-user tokens are unrelated to the account's access token and are never cached here.
 * https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken
 */
import { z } from 'zod';
import type { WechatCaller } from '../client.js';

export type OAuthScope = 'snsapi_base' | 'snsapi_userinfo';

const UserToken = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().int(),
  refresh_token: z.string().min(1),
  openid: z.string().min(1),
  scope: z.string(),
  unionid: z.string().optional(),
  is_snapshotuser: z.number().int().optional(),
});

export interface OAuthGrant {
  openid: string;
  unionid?: string;
  scope: string;
  accessToken: string;
  refreshToken: string;
  expiresInSeconds: number;
  /** A virtual "snapshot page" user: never persist their openid. */
  snapshotUser: boolean;
}

const UserInfo = z.object({
  openid: z.string(),
  nickname: z.string().optional(),
  headimgurl: z.string().optional(),
  privilege: z.array(z.string()).optional(),
  unionid: z.string().optional(),
});
export type OAuthUserInfo = z.infer<typeof UserInfo>;

export interface OAuthApi {
  /** Where to send the user (inside WeChat) to authorise; `state` is the CSRF token (≤ 128 of [A-Za-z0-9]). */
  authorizeUrl(input: { redirectUri: string; scope: OAuthScope; state: string }): string;
  /** Exchanges a one-time code (5 minutes) for the user's openid and, with snsapi_userinfo, unionid. */
  exchangeCode(code: string): Promise<OAuthGrant>;
  refreshGrant(refreshToken: string): Promise<OAuthGrant>;
  /** The profile behind a snsapi_userinfo grant. */
  userInfo(accessToken: string, openid: string): Promise<OAuthUserInfo>;
}

function toGrant(raw: z.infer<typeof UserToken>): OAuthGrant {
  return {
    openid: raw.openid,
    unionid: raw.unionid,
    scope: raw.scope,
    accessToken: raw.access_token,
    refreshToken: raw.refresh_token,
    expiresInSeconds: raw.expires_in,
    snapshotUser: raw.is_snapshotuser === 1,
  };
}

/** The authorize page is on open.weixin.qq.com; the sandbox serves its stand-in beside the API. */
function authorizeBase(apiBase: string): string {
  return apiBase.includes('api.weixin.qq.com') ? 'https://open.weixin.qq.com' : apiBase;
}

export function oauthApi(caller: WechatCaller): OAuthApi {
  return {
    authorizeUrl({ redirectUri, scope, state }) {
      if (!/^[A-Za-z0-9]{0,128}$/.test(state)) throw new Error('OAuth state must be at most 128 of [A-Za-z0-9]');
      const query = new URLSearchParams({
        appid: caller.appid,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope,
        state,
      });
      return `${authorizeBase(caller.apiBase)}/connect/oauth2/authorize?${query.toString()}#wechat_redirect`;
    },
    async exchangeCode(code) {
      const raw = await caller.callWithoutToken({
        method: 'GET',
        path: '/sns/oauth2/access_token',
        query: { appid: caller.appid, secret: caller.secret, code, grant_type: 'authorization_code' },
        schema: UserToken,
        // A code is single-use: a repeat after a timeout can only answer 40163.
        repeatOnTimeout: false,
      });
      return toGrant(raw);
    },
    async refreshGrant(refreshToken) {
      const raw = await caller.callWithoutToken({
        method: 'GET',
        path: '/sns/oauth2/refresh_token',
        query: { appid: caller.appid, grant_type: 'refresh_token', refresh_token: refreshToken },
        schema: UserToken,
      });
      return toGrant(raw);
    },
    userInfo(accessToken, openid) {
      return caller.callWithoutToken({
        method: 'GET',
        path: '/sns/userinfo',
        query: { access_token: accessToken, openid, lang: 'zh_CN' },
        schema: UserInfo,
      });
    },
  };
}
