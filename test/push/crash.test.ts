/**
 * A push worker killed mid-push: a real child process runs the delivery and gets SIGKILLed after some sends;
 * the run resumed by another worker finishes it, and every follower has exactly one copy.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAudience } from '../../src/audiences/service.js';
import { runPlan } from '../../src/push/delivery.js';
import { PushPlan, PushSend } from '../../src/push/model.js';
import { testSettings } from '../support/app.js';
import { givenFollower, registerMessageTemplates, useLive } from '../support/live.js';
import { eventually } from '../support/wait.js';

const settings = {
  PUSH_QUIET_START_HOUR: '0',
  PUSH_QUIET_END_HOUR: '0',
  PUSH_CAP_PER_DAY: '20',
  PUSH_CAP_PER_WEEK: '50',
  PUSH_RATE_PER_SECOND: '8',
};
const live = useLive(settings);
const FOLLOWERS = 30;

describe('a worker killed mid-push', () => {
  it('resumes in another worker with no duplicates', async () => {
    const l = live();
    const { app, sandbox } = l;
    registerMessageTemplates(l);
    const tag = randomBytes(3).toString('hex');
    const openids: string[] = [];
    const profileIds: string[] = [];
    for (let i = 0; i < FOLLOWERS; i += 1) openids.push(`oKill${tag}${String(i).padStart(6, '0')}`);
    for (let i = 0; i < FOLLOWERS; i += 10)
      profileIds.push(
        ...(await Promise.all(openids.slice(i, i + 10).map(async (o) => (await givenFollower(l, o)).profileId))),
      );
    const audience = await createAudience({}, { name: 'crash', kind: 'list', profileIds }, 'staff:t');
    const plan = await PushPlan.create({
      name: 'crash',
      account: 'default',
      audienceId: audience._id.toString(),
      channel: 'template',
      contents: [{ variant: 'A', kind: 'campaign_notice', vars: { title: '断点续发', body: '只收到一次' } }],
      splitB: 0,
      status: 'running',
      createdBy: 'staff:t',
    });
    const planId = plan._id.toString();

    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'bench', 'lib', 'push-worker.ts'), planId, 'run-1'],
      {
        env: {
          ...process.env,
          PUSH_WORKER_SETTINGS: JSON.stringify({ ...testSettings(settings), WECHAT_API_BASE: sandbox.wechatBase }),
          // Eight in flight: when it dies, some sends are done, some reserved mid-call, some not reserved yet.
          PUSH_WORKER_CONCURRENCY: '8',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((r) =>
      child.on('exit', (code, signal) => r(signal ?? code)),
    );

    // Kill it once it has sent some, well before it could finish (30 sends at 8 per second).
    await eventually(
      async () =>
        (await PushSend.countDocuments({ planId: plan._id, state: { $ne: 'reserved' } })) >= 8 ? true : undefined,
      { timeoutMs: 30_000, message: `the worker never sent: ${stderr}` },
    );
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const before = await PushSend.countDocuments({ planId: plan._id });
    expect(before).toBeLessThan(FOLLOWERS);

    // Another worker resumes the run from the send records.
    const summary = await runPlan(app.deps.push.delivery, planId, 'run-1');
    expect(summary.deferred).toBe(false);
    const sends = await PushSend.find({ planId: plan._id }).lean();
    expect(sends).toHaveLength(FOLLOWERS);
    expect(sends.every((s) => s.state === 'sent' || s.state === 'delivered')).toBe(true);
    for (const openid of openids)
      expect(
        sandbox.wechat.inbox('default', openid).filter((e) => e.text.includes('断点续发')),
        openid,
      ).toHaveLength(1);
  }, 180_000);
});
