import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPhoneVault, maskPhone, maskPhonesIn, normalizePhone } from './phone.js';

describe('phone vault', () => {
  const vault = createPhoneVault(randomBytes(32));

  it('normalises mainland mobiles with or without +86 and refuses what is not a phone', () => {
    expect(normalizePhone('+86 138-0013-1234')).toBe('13800131234');
    expect(normalizePhone('8613800131234')).toBe('13800131234');
    expect(normalizePhone('+44 20 7946 0958')).toBe('+442079460958');
    expect(normalizePhone('12345')).toBeUndefined();
    expect(normalizePhone('1380013123x')).toBeUndefined();
  });

  it('masks to the first three and last four digits', () => {
    expect(maskPhone('13800131234')).toBe('138****1234');
    expect(maskPhone('+442079460958')).toBe('+442****0958');
  });

  it('masks mobiles inside free text and leaves other digits alone', () => {
    expect(maskPhonesIn('我的手机 13800131234，谢谢')).toBe('我的手机 138****1234，谢谢');
    expect(maskPhonesIn('+86 13800131234')).toBe('138****1234');
    expect(maskPhonesIn('号码 138 0013-1234')).toBe('号码 138****1234');
    expect(maskPhonesIn('订单 123456789012 和 110011')).toBe('订单 123456789012 和 110011');
    expect(maskPhonesIn('213800131234')).toBe('213800131234');
  });

  it('encrypts with a fresh IV each time, hashes stably for look-ups, and detects tampering', () => {
    const a = vault.protect('138 0013 1234');
    const b = vault.protect('+8613800131234');
    expect(a.enc).not.toBe(b.enc);
    expect(a.hash).toBe(b.hash);
    expect(vault.hashOf('13800131234')).toBe(a.hash);
    expect(a.enc + a.hash + a.masked).not.toContain('13800131234');
    expect(vault.reveal(a)).toBe('13800131234');
    const raw = Buffer.from(a.enc, 'base64');
    raw[raw.length - 1]! ^= 1;
    expect(() => vault.reveal({ enc: raw.toString('base64') })).toThrow();
    expect(createPhoneVault(randomBytes(32)).hashOf('13800131234')).not.toBe(a.hash);
  });
});
