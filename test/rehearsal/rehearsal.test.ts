/**
 * A rehearsal of a red-envelope campaign over the rehearsal threshold: with WeChat Pay failing for 20% of
 * customers the report lists them and approval stays blocked; with payouts fixed it passes and approval
 * goes through.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { approveCampaign, createCampaign } from '../../src/campaigns/redenvelope/index.js';
import { isDomainError } from '../../src/infra/errors.js';
import { rehearseRedEnvelope, type RehearsalEnv } from '../../src/rehearsal/service.js';
import { useTestApp } from '../support/app.js';

const app = useTestApp({ REHEARSAL_REQUIRED_ABOVE_FEN: '1000' });

describe('rehearsal before approval', () => {
  it('blocks a campaign whose payouts fail for 20% of customers, and passes it once fixed', async () => {
    const { deps, config } = app();
    const gate = deps.redEnvelopes.approvalGate;
    expect(gate).toBeDefined();
    const campaign = await createCampaign(
      {
        name: '大额红包',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 86_400_000),
        budgetFen: 5_000,
        prize: { kind: 'fixed', amountFen: 100, count: 40 },
        entries: ['keyword'],
        keyword: '演练红包',
      },
      'marketer-1',
    );
    const refused = await approveCampaign(campaign._id, 'manager-1', gate).catch((err: unknown) => err);
    expect(isDomainError(refused) && refused.code).toBe('rehearsal_required');

    const env: RehearsalEnv = {
      mongoUrl: config.mongo.url,
      database: config.mongo.database ?? 'scrm',
      redisUrl: config.redis.url,
      redisPrefix: config.redis.prefix,
      tiers: config.crm.tiers,
      logDir: join(import.meta.dirname, '..', '..', '.cache', 'rehearsal-test'),
    };
    const failing = await rehearseRedEnvelope(
      env,
      campaign._id,
      { payoutFailureRate: 0.2, followers: 20 },
      'marketer-1',
    );
    expect(failing.followers).toBe(20);
    expect(failing.won).toBe(20);
    expect(failing.failures).toHaveLength(4);
    // Each failure says why WeChat Pay refused the payout (the sandbox's frozen accounts).
    expect(failing.failures.every((f) => f.reason.length > 0 && f.tier === 'standard')).toBe(true);
    expect(failing.passed).toBe(false);
    const stillRefused = await approveCampaign(campaign._id, 'manager-1', gate).catch((err: unknown) => err);
    expect(isDomainError(stillRefused) && stillRefused.message).toContain('4 customers would win and not be paid');

    const fixed = await rehearseRedEnvelope(env, campaign._id, { payoutFailureRate: 0, followers: 20 }, 'marketer-1');
    expect(fixed.failures).toEqual([]);
    expect(fixed.paid).toBe(20);
    expect(fixed.passed).toBe(true);
    expect((await approveCampaign(campaign._id, 'manager-1', gate)).status).toBe('approved');
  }, 280_000);
});
