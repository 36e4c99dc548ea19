/** WeChat Pay v3 simulator (issue: platform clients + sandbox). Placeholder until built. */
import Router from '@koa/router';
import type { SandboxContext, SandboxPart } from '../context.js';

export type PaySandboxApi = Record<string, never>;

export async function createPaySandbox(_ctx: SandboxContext): Promise<SandboxPart<PaySandboxApi>> {
  return { prefix: '/pay', router: new Router(), api: {} };
}
