/**
 * Phone numbers at rest: AES-256-GCM ciphertext for the rare authorised read, an HMAC for lookups and
 * unique identities, and a masked form (138****1234) for everything shown. Keys are derived from the
 * one CRM_PHONE_KEY with HKDF so the cipher key and the hash key are never the same bytes.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { DomainError } from '../infra/errors.js';

export interface StoredPhone {
  /** base64(iv | tag | ciphertext) */
  enc: string;
  /** HMAC-SHA256 of the normalised number, hex: the lookup key. */
  hash: string;
  masked: string;
}

export interface PhoneVault {
  /** Normalises and protects a number; throws DomainError('invalid', 'invalid_phone') when it is not one. */
  protect(raw: string): StoredPhone;
  /** The lookup hash of a number (normalised first), or undefined when it is not a phone number. */
  hashOf(raw: string): string | undefined;
  reveal(stored: Pick<StoredPhone, 'enc'>): string;
}

/** Mainland mobiles as 11 digits (a +86 / 86 prefix is dropped); others as + and 6-15 digits. */
export function normalizePhone(raw: string): string | undefined {
  const compact = raw.replace(/[\s()-]/g, '');
  const cn = /^(?:\+?86)?(1[3-9]\d{9})$/.exec(compact);
  if (cn) return cn[1];
  if (/^\+[1-9]\d{5,14}$/.test(compact)) return compact;
  return undefined;
}

/** 138****1234: the first three and the last four digits, never more. */
export function maskPhone(normalized: string): string {
  const digits = normalized.replace(/^\+/, '');
  if (digits.length <= 7) return `${digits.slice(0, 1)}****${digits.slice(-2)}`;
  return `${normalized.startsWith('+') ? '+' : ''}${digits.slice(0, 3)}****${digits.slice(-4)}`;
}

/** Mainland mobiles inside free text (e.g. a chat message), masked: what a timeline or a report may keep. */
export function maskPhonesIn(text: string): string {
  return text.replace(/(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8})(?!\d)/g, (_, number: string) =>
    maskPhone(number.replace(/[\s-]/g, '')),
  );
}

export function createPhoneVault(masterKey: Buffer): PhoneVault {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, 32));
  const encKey = derive('crm.phone.enc');
  const macKey = derive('crm.phone.hmac');
  const hash = (normalized: string) => createHmac('sha256', macKey).update(normalized).digest('hex');
  return {
    protect(raw) {
      const normalized = normalizePhone(raw);
      if (!normalized) throw new DomainError('invalid', 'invalid_phone', 'Not a phone number.');
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', encKey, iv);
      const ct = Buffer.concat([cipher.update(normalized, 'utf8'), cipher.final()]);
      return {
        enc: Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64'),
        hash: hash(normalized),
        masked: maskPhone(normalized),
      };
    },
    hashOf(raw) {
      const normalized = normalizePhone(raw);
      return normalized ? hash(normalized) : undefined;
    },
    reveal(stored) {
      const buf = Buffer.from(stored.enc, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', encKey, buf.subarray(0, 12));
      decipher.setAuthTag(buf.subarray(12, 28));
      return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}
