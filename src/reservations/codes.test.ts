import { describe, expect, it } from 'vitest';
import {
  CODE_ALPHABET,
  CODE_LENGTH,
  deriveCodeKeys,
  formatCode,
  generateCode,
  hashCode,
  openCode,
  parseCode,
  sealCode,
  type CanonicalCode,
} from './codes.js';

describe('reservation codes', () => {
  it('are 11 symbols without 0, O, 1 or I, and carry at least 40 random bits', () => {
    expect(CODE_ALPHABET).not.toMatch(/[0O1I]/);
    expect(CODE_ALPHABET).toHaveLength(32);
    // 10 random symbols of 5 bits each
    expect((CODE_LENGTH - 1) * Math.log2(CODE_ALPHABET.length)).toBeGreaterThanOrEqual(40);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i += 1) {
      const code = generateCode();
      expect(code).toMatch(/^[2-9A-HJ-NP-Z]{11}$/);
      expect(parseCode(code)).toEqual({ ok: true, code });
      seen.add(code);
    }
    expect(seen.size).toBe(2000);
  });

  it('forgives case, spaces and hyphens', () => {
    const code = generateCode();
    expect(parseCode(` ${formatCode(code).toLowerCase()} `)).toEqual({ ok: true, code });
  });

  it('catches every single-symbol typo before any lookup', () => {
    for (let n = 0; n < 200; n += 1) {
      const code = generateCode();
      for (let i = 0; i < code.length; i += 1) {
        for (const symbol of CODE_ALPHABET) {
          if (symbol === code[i]) continue;
          const typo = code.slice(0, i) + symbol + code.slice(i + 1);
          expect(parseCode(typo)).toEqual({ ok: false, reason: 'check' });
        }
      }
    }
  });

  it('catches swapped neighbours except the one pair Luhn mod 32 cannot see (2 and Z)', () => {
    let missed = 0;
    let swaps = 0;
    for (let n = 0; n < 2000; n += 1) {
      const code = generateCode();
      for (let i = 0; i + 1 < code.length; i += 1) {
        if (code[i] === code[i + 1]) continue;
        const swapped = code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2);
        swaps += 1;
        if (parseCode(swapped).ok) {
          missed += 1;
          expect(new Set([code[i], code[i + 1]])).toEqual(new Set(['2', 'Z']));
        }
      }
    }
    expect(missed / swaps).toBeLessThan(0.01);
  });

  it('refuses letters outside the alphabet and wrong lengths as format errors', () => {
    expect(parseCode('ABCD-EFGH-JK0')).toEqual({ ok: false, reason: 'format' });
    expect(parseCode('ABCD-EFGH')).toEqual({ ok: false, reason: 'format' });
    expect(parseCode('')).toEqual({ ok: false, reason: 'format' });
    expect(parseCode('预约码 ABCD')).toEqual({ ok: false, reason: 'format' });
  });

  it('hashes with a key and seals so that only the key holder can read a code back', () => {
    const keys = deriveCodeKeys('a-secret-of-at-least-thirty-two-characters');
    const other = deriveCodeKeys('another-secret-of-at-least-thirty-two-chars');
    const code = generateCode();
    expect(hashCode(keys, code)).not.toBe(hashCode(other, code));
    expect(hashCode(keys, code)).toBe(hashCode(keys, code));
    const sealed = sealCode(keys, code);
    expect(sealed).not.toContain(code);
    expect(openCode(keys, sealed)).toBe(code);
    expect(() => openCode(other, sealed)).toThrow();
    expect(keys.hmacKey.equals(keys.boxKey)).toBe(false);
    const forged = Buffer.from(sealed, 'base64');
    forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
    expect(() => openCode(keys, forged.toString('base64') as CanonicalCode)).toThrow();
  });
});
