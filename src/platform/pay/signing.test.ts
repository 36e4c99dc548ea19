import { createSign, generateKeyPairSync } from 'node:crypto';
import Pay from 'wechatpay-node-v3';
import { describe, expect, it } from 'vitest';
import {
  createKeyring,
  createMerchantSigner,
  decryptAesGcm,
  decryptResource,
  encryptResource,
  parseAuthorization,
  requestSigningMessage,
  responseSigningMessage,
  verifyPaySignature,
  verifyRsaSha256,
  type PayVerificationError,
} from './signing.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'none';
  } catch (err) {
    return (err as PayVerificationError).code;
  }
};

describe('AEAD_AES_256_GCM', () => {
  it('decrypts the published Go crypto/cipher ExampleNewGCM_decrypt vector (ciphertext‖tag, as WeChat Pay sends)', () => {
    // https://pkg.go.dev/crypto/cipher#example-NewGCM-Decrypt: a 32-character ASCII key like an APIv3 key.
    const plain = decryptAesGcm(
      'AES256Key-32Characters1234567890',
      Buffer.from('37b8e8a308c354048d245f6d', 'hex'),
      '',
      Buffer.from('1019aa66cd7c024f9efd0038899dae1973ee69427f5a6579eba292ffe1b5a260', 'hex').toString('base64'),
    );
    expect(plain).toBe('exampleplaintext');
  });

  it('agrees with wechatpay-node-v3 decipher_gcm on a callback resource with associated data', () => {
    const key = 'abcdefghijklmnopqrstuvwxyz012345';
    const resource = encryptResource(key, '{"out_bill_no":"B1","state":"SUCCESS"}', 'mch_payment', 'abcdef123456');
    const lib = new Pay({
      appid: 'wx1',
      mchid: '1',
      serial_no: 'S',
      publicKey: Buffer.from('x'),
      privateKey: Buffer.from(privateKeyPem),
    });
    expect(lib.decipher_gcm(resource.ciphertext, 'mch_payment', resource.nonce, key)).toEqual({
      out_bill_no: 'B1',
      state: 'SUCCESS',
    });
    expect(decryptResource(key, resource)).toBe('{"out_bill_no":"B1","state":"SUCCESS"}');
  });

  it('refuses a wrong key, a tampered ciphertext and a changed associated_data', () => {
    const key = 'abcdefghijklmnopqrstuvwxyz012345';
    const r = encryptResource(key, 'secret', 'transaction');
    expect(codeOf(() => decryptResource('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', r))).toBe('decrypt_failed');
    const raw = Buffer.from(r.ciphertext, 'base64');
    raw[0] = raw[0]! ^ 1;
    expect(codeOf(() => decryptResource(key, { ...r, ciphertext: raw.toString('base64') }))).toBe('decrypt_failed');
    expect(codeOf(() => decryptResource(key, { ...r, associated_data: 'certificate' }))).toBe('decrypt_failed');
    expect(codeOf(() => decryptResource('short', r))).toBe('decrypt_failed');
  });
});

describe('request signatures', () => {
  it('signs the five-line message exactly as wechatpay-node-v3 builds it for GET and for POST with a body', () => {
    const signer = createMerchantSigner({ appid: 'wx1', mchid: '1900009191', serialNo: 'ABC123', privateKeyPem });
    const lib = new Pay({
      appid: 'wx1',
      mchid: '1900009191',
      serial_no: 'ABC123',
      publicKey: Buffer.from('x'),
      privateKey: Buffer.from(privateKeyPem),
    });
    const at = { timestamp: '1554208460', nonce: '593BEC0C930BF1AFEB40B4A08C8FB242' };
    for (const [method, url, body] of [
      ['GET', '/v3/certificates', ''],
      ['POST', '/v3/fund-app/mch-transfer/transfer-bills', '{"appid":"wx1"}'],
    ] as const) {
      const header = signer.authorization(method, url, body, at);
      const parsed = parseAuthorization(header);
      expect(parsed).toMatchObject({
        mchid: '1900009191',
        serialNo: 'ABC123',
        ...{ timestamp: at.timestamp, nonce: at.nonce },
      });
      // RSA PKCS#1 v1.5 is deterministic: the same key and message give the same signature.
      expect(parsed?.signature).toBe(lib.getSignature(method, at.nonce, at.timestamp, url, body || undefined));
    }
  });

  it('keeps the empty body line on a POST without body (the library drops it; the spec does not)', () => {
    const message = requestSigningMessage('POST', '/v3/x/cancel', '1', 'N', '');
    expect(message).toBe('POST\n/v3/x/cancel\n1\nN\n\n');
    const signer = createMerchantSigner({ appid: 'wx1', mchid: '1', serialNo: 'S', privateKeyPem });
    const sig = parseAuthorization(
      signer.authorization('POST', '/v3/x/cancel', '', { timestamp: '1', nonce: 'N' }),
    )!.signature;
    expect(verifyRsaSha256(publicKey, message, sig)).toBe(true);
  });

  it('parses an Authorization header in the documented format (attributes in any order) and refuses malformed ones', () => {
    const header =
      'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XmUgx9FmX0HSZmmgQafW8xstc1g==",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"';
    expect(parseAuthorization(header)).toMatchObject({
      mchid: '1900009191',
      timestamp: '1554208460',
      serialNo: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C',
    });
    expect(parseAuthorization('Bearer x')).toBeUndefined();
    expect(parseAuthorization('WECHATPAY2-SHA256-RSA2048 mchid="1"')).toBeUndefined();
  });
});

describe('response and callback verification', () => {
  const keyring = createKeyring({ publicKeyPem, publicKeyId: 'PUB_KEY_ID_0114TEST' });
  const body = '{"code":"SUCCESS"}';
  const sign = (timestamp: string, nonce: string, text: string) =>
    createSign('RSA-SHA256')
      .update(responseSigningMessage(timestamp, nonce, text))
      .sign(privateKey, 'base64');
  const now = 1_700_000_000;
  const good = {
    timestamp: String(now),
    nonce: 'N1',
    serial: 'PUB_KEY_ID_0114TEST',
    signature: sign(String(now), 'N1', body),
  };

  it('accepts a fresh signature from a trusted key', () => {
    expect(verifyPaySignature(keyring, good, body, { nowSeconds: now + 10 })).toEqual({
      serial: 'PUB_KEY_ID_0114TEST',
    });
  });

  it('names every refusal: tampered body, stale or future timestamp, unknown serial, probe, missing header', () => {
    const check = (h: typeof good, b = body, at = now) =>
      codeOf(() => verifyPaySignature(keyring, h, b, { nowSeconds: at }));
    expect(check(good, '{"code":"SUCCESS" }')).toBe('bad_signature');
    expect(check(good, body, now + 300)).toBe('stale_timestamp');
    expect(check(good, body, now - 300)).toBe('stale_timestamp');
    expect(check({ ...good, serial: 'PUB_KEY_ID_OTHER' })).toBe('unknown_serial');
    expect(check({ ...good, signature: 'WECHATPAY/SIGNTEST/abc' })).toBe('probe_signature');
    expect(check({ ...good, nonce: '' })).toBe('missing_headers');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = createSign('RSA-SHA256')
      .update(responseSigningMessage(good.timestamp, 'N1', body))
      .sign(other, 'base64');
    expect(check({ ...good, signature: forged })).toBe('bad_signature');
  });
});
