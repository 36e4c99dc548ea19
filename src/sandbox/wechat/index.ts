/** Official-account platform simulator (issue: platform clients + sandbox). Placeholder until built. */
import Router from '@koa/router';
import type { SandboxContext, SandboxPart } from '../context.js';

export type WechatSandboxApi = Record<string, never>;

export function createWechatSandbox(_ctx: SandboxContext): SandboxPart<WechatSandboxApi> {
  return { prefix: '/wechat', router: new Router(), api: {} };
}
