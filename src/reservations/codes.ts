/**
 * Reservation codes as customers see them: 10 random symbols from a 32-letter alphabet without 0/O/1/I
 * (50 bits), then one check symbol (Luhn mod 32) that catches every single-symbol typo and every swap of
 * two neighbours before the database is asked. Shown as ABCD-EFGH-JKM.
 *
 * At rest a code is kept twice, neither usable from a database dump alone: an HMAC for lookup, and an
 * AES-256-GCM box so its owner can be shown it again. Both keys derive from RESERVATION_CODE_SECRET.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export const CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const BASE = CODE_ALPHABET.length; // 32
const BODY_LENGTH = 10;
export const CODE_LENGTH = BODY_LENGTH + 1;

/** A code in its canonical form: 11 symbols of the alphabet, no separators, with a valid check symbol. */
export type CanonicalCode = string & { readonly __brand: 'CanonicalCode' };

export type CodeParse = { ok: true; code: CanonicalCode } | { ok: false; reason: 'format' | 'check' };

function valueOf(symbol: string): number {
  return CODE_ALPHABET.indexOf(symbol);
}

/** Luhn mod N over the alphabet: the symbol that makes the weighted sum divisible by 32. */
export function checkSymbol(body: string): string {
  let factor = 2;
  let sum = 0;
  for (let i = body.length - 1; i >= 0; i -= 1) {
    let addend = factor * valueOf(body[i]!);
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / BASE) + (addend % BASE);
    sum += addend;
  }
  return CODE_ALPHABET[(BASE - (sum % BASE)) % BASE]!;
}

function isValidCheck(code: string): boolean {
  let factor = 1;
  let sum = 0;
  for (let i = code.length - 1; i >= 0; i -= 1) {
    let addend = factor * valueOf(code[i]!);
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / BASE) + (addend % BASE);
    sum += addend;
  }
  return sum % BASE === 0;
}

/** A fresh random code (rejection-free: 32 divides 256, so every byte maps to a symbol uniformly). */
export function generateCode(): CanonicalCode {
  const bytes = randomBytes(BODY_LENGTH);
  let body = '';
  for (const byte of bytes) body += CODE_ALPHABET[byte % BASE];
  return (body + checkSymbol(body)) as CanonicalCode;
}

/**
 * Reads what a customer or clerk typed: case, spaces and hyphens are forgiven; anything else is a format
 * error, and a wrong check symbol is reported as a typo without touching storage.
 */
export function parseCode(input: string): CodeParse {
  const compact = input.toUpperCase().replace(/[\s\-_.]/g, '');
  if (compact.length !== CODE_LENGTH) return { ok: false, reason: 'format' };
  for (const symbol of compact) if (valueOf(symbol) < 0) return { ok: false, reason: 'format' };
  if (!isValidCheck(compact)) return { ok: false, reason: 'check' };
  return { ok: true, code: compact as CanonicalCode };
}

/** ABCD-EFGH-JKM */
export function formatCode(code: CanonicalCode): string {
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/** Masked for staff screens and logs: ABCD-****-**M. */
export function maskCode(code: CanonicalCode): string {
  return `${code.slice(0, 4)}-****-**${code.slice(10)}`;
}

export interface CodeKeys {
  hmacKey: Buffer;
  boxKey: Buffer;
}

/** Derives the lookup and encryption keys from one configured secret (separate keys by HKDF labels). */
export function deriveCodeKeys(secret: string): CodeKeys {
  const ikm = Buffer.from(secret, 'utf8');
  const salt = Buffer.from('wechat-scrm/reservation-codes/v1');
  return {
    hmacKey: Buffer.from(hkdfSync('sha256', ikm, salt, 'lookup', 32)),
    boxKey: Buffer.from(hkdfSync('sha256', ikm, salt, 'box', 32)),
  };
}

/** The lookup hash stored with a code (hex HMAC-SHA256); useless without the key. */
export function hashCode(keys: CodeKeys, code: CanonicalCode): string {
  return createHmac('sha256', keys.hmacKey).update(code).digest('hex');
}

/** Encrypts a code for its owner's later display: base64(iv | tag | ciphertext). */
export function sealCode(keys: CodeKeys, code: CanonicalCode): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.boxKey, iv);
  const body = Buffer.concat([cipher.update(code, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

export function openCode(keys: CodeKeys, sealed: string): CanonicalCode {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', keys.boxKey, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  const code = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  return code as CanonicalCode;
}
