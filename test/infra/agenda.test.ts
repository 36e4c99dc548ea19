import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { eventually, hold } from '../support/wait.js';

describe('agenda on the project storage', () => {
  const t = useTestApp();

  it('runs a job scheduled for "in 1 second" once', async () => {
    const { agenda } = t().deps;
    const runs: number[] = [];
    agenda.define('foundation.probe', async () => {
      runs.push(Date.now());
    });
    await agenda.start();
    try {
      const scheduledAt = Date.now();
      await agenda.schedule('in 1 second', 'foundation.probe', { n: 1 });
      await eventually(() => runs.length > 0, { timeoutMs: 10_000, message: 'the job never ran' });
      expect(runs[0]! - scheduledAt).toBeGreaterThanOrEqual(900);
      await hold(1500); // several poll cycles: it must not run again
      expect(runs).toHaveLength(1);
    } finally {
      await agenda.stop();
    }
  });
});
