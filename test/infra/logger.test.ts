import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/infra/logger.js';

describe('logger', () => {
  it('censors secrets and personal data at any of the first three levels', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });
    logger.info(
      {
        phone: '13800138000',
        profile: { phone: '13912345678', idNumber: '110101199003077777', name: 'x' },
        account: { wechat: { secret: 'app-secret-value', token: 'tkn-value' } },
        password: 'hunter2-hunter2',
        headers: { authorization: 'Bearer abc.def.ghi' },
      },
      'sensitive',
    );
    const text = lines.join('');
    for (const secret of [
      '13800138000',
      '13912345678',
      '110101199003077777',
      'app-secret-value',
      'tkn-value',
      'hunter2',
      'abc.def.ghi',
    ])
      expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    expect(JSON.parse(text).profile.name).toBe('x');
  });
});
