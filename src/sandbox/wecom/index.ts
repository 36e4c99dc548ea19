/** WeCom simulator (issue: platform clients + sandbox). Placeholder until built. */
import Router from '@koa/router';
import type { SandboxContext, SandboxPart } from '../context.js';

export type WecomSandboxApi = Record<string, never>;

export function createWecomSandbox(_ctx: SandboxContext): SandboxPart<WecomSandboxApi> {
  return { prefix: '/wecom', router: new Router(), api: {} };
}
