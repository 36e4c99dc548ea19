/**
 * WXBizMsgCrypt: the callback encryption shared by official accounts, WeCom and the open platform.
 * AES-256-CBC with the key from EncodingAESKey (IV = its first 16 bytes), PKCS#7 padding to 32-byte
 * blocks (done here: Node's own padding is 16-byte), plaintext = random(16) + len(4, big-endian) + msg
 * + receiveId (AppID, or CorpID for WeCom). Signatures are SHA-1 over the sorted strings.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type CryptoErrorCode =
  | 'invalid_aes_key'
  | 'invalid_base64'
  | 'invalid_ciphertext'
  | 'invalid_padding'
  | 'invalid_length'
  | 'receive_id_mismatch';

export class MessageCryptoError extends Error {
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MessageCryptoError';
  }
}

const BLOCK = 32;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** sha1(sort(parts).join('')) in lowercase hex: the URL `signature` and the `msg_signature`. */
export function sha1Signature(...parts: string[]): string {
  return createHash('sha1').update(parts.slice().sort().join('')).digest('hex');
}

/** Constant-time comparison of two hex signatures (a length mismatch is simply false). */
export function signaturesEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function aesKeyFrom(encodingAESKey: string): Buffer {
  if (!/^[A-Za-z0-9]{43}$/.test(encodingAESKey))
    throw new MessageCryptoError('invalid_aes_key', 'EncodingAESKey must be 43 characters of [A-Za-z0-9]');
  const key = Buffer.from(`${encodingAESKey}=`, 'base64');
  if (key.length !== 32) throw new MessageCryptoError('invalid_aes_key', 'EncodingAESKey does not decode to 32 bytes');
  return key;
}

export function pkcs7Pad(data: Buffer): Buffer {
  const n = BLOCK - (data.length % BLOCK);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

export function pkcs7Unpad(data: Buffer): Buffer {
  const n = data[data.length - 1];
  if (n === undefined || n < 1 || n > BLOCK || n > data.length)
    throw new MessageCryptoError('invalid_padding', 'bad PKCS#7 padding');
  for (let i = data.length - n; i < data.length; i++)
    if (data[i] !== n) throw new MessageCryptoError('invalid_padding', 'bad PKCS#7 padding');
  return data.subarray(0, data.length - n);
}

export interface MessageCrypto {
  readonly receiveId: string;
  /** Encrypts a message (XML or, for WeCom echostr, plain text) into the base64 `Encrypt` value. */
  encrypt(message: string, random?: Buffer): string;
  /** Decrypts an `Encrypt` value; checks padding, length and that the receiveId is ours. */
  decrypt(encrypted: string): string;
  /** Decrypts without checking the receiveId (the sandbox plays several receivers). */
  decryptWithReceiver(encrypted: string): { message: string; receiveId: string };
}

export function createMessageCrypto(encodingAESKey: string, receiveId: string): MessageCrypto {
  const key = aesKeyFrom(encodingAESKey);
  const iv = key.subarray(0, 16);

  function decryptWithReceiver(encrypted: string): { message: string; receiveId: string } {
    const text = encrypted.trim();
    if (text.length === 0 || text.length % 4 !== 0 || !BASE64.test(text))
      throw new MessageCryptoError('invalid_base64', 'Encrypt is not base64');
    const cipherText = Buffer.from(text, 'base64');
    if (cipherText.length === 0 || cipherText.length % 16 !== 0)
      throw new MessageCryptoError('invalid_ciphertext', 'ciphertext length is not a multiple of the AES block');
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-cbc', key, iv);
      decipher.setAutoPadding(false);
      plain = Buffer.concat([decipher.update(cipherText), decipher.final()]);
    } catch {
      throw new MessageCryptoError('invalid_ciphertext', 'AES decryption failed');
    }
    const content = pkcs7Unpad(plain);
    if (content.length < 20) throw new MessageCryptoError('invalid_length', 'plaintext too short');
    const length = content.readUInt32BE(16);
    if (20 + length > content.length)
      throw new MessageCryptoError('invalid_length', 'message length exceeds plaintext');
    return {
      message: content.subarray(20, 20 + length).toString('utf8'),
      receiveId: content.subarray(20 + length).toString('utf8'),
    };
  }

  return {
    receiveId,
    encrypt(message: string, random: Buffer = randomBytes(16)): string {
      if (random.length !== 16) throw new Error('random prefix must be 16 bytes');
      const msg = Buffer.from(message, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(msg.length, 0);
      const plain = pkcs7Pad(Buffer.concat([random, len, msg, Buffer.from(receiveId, 'utf8')]));
      const cipher = createCipheriv('aes-256-cbc', key, iv);
      cipher.setAutoPadding(false);
      return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
    },
    decrypt(encrypted: string): string {
      const out = decryptWithReceiver(encrypted);
      if (out.receiveId !== receiveId)
        throw new MessageCryptoError('receive_id_mismatch', 'the message was encrypted for another receiver');
      return out.message;
    },
    decryptWithReceiver,
  };
}
