import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/infra/config.js';
import { testSettings } from '../support/app.js';

function problemsOf(settings: Record<string, string | undefined>): string[] {
  try {
    loadConfig(settings);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('staff settings', () => {
  it('has defaults for key ids, login throttling and approval thresholds', () => {
    const config = loadConfig(testSettings());
    expect(config.auth).toMatchObject({
      jwtKeyId: 'k1',
      jwtKeyIdPrevious: 'k0',
      loginMaxAttemptsPerUser: 5,
      loginMaxAttemptsPerIp: 30,
      loginWindowSeconds: 900,
      loginLockoutSeconds: 900,
    });
    expect(config.approvals).toEqual({
      pushAudienceThreshold: 10000,
      campaignBudgetFenThreshold: 500000,
      ttlSeconds: 86400,
    });
  });

  it('names bad staff settings, one line each', () => {
    const problems = problemsOf(
      testSettings({
        JWT_KEY_ID: 'same',
        JWT_KEY_ID_PREVIOUS: 'same',
        LOGIN_MAX_ATTEMPTS_PER_USER: '0',
        APPROVAL_CAMPAIGN_BUDGET_FEN_THRESHOLD: '12.5',
        JWT_SECRET_PREVIOUS: 'short',
      }),
    );
    expect(problems).toEqual([
      'JWT_SECRET_PREVIOUS is invalid: at least 32 characters',
      'JWT_KEY_ID_PREVIOUS is invalid: must differ from JWT_KEY_ID',
      expect.stringMatching(/^LOGIN_MAX_ATTEMPTS_PER_USER is invalid/),
      'APPROVAL_CAMPAIGN_BUDGET_FEN_THRESHOLD is invalid: an amount in fen',
    ]);
  });
});
