/**
 * WeChat Pay API v3 cryptography: request signatures (WECHATPAY2-SHA256-RSA2048), verification of
 * response and callback signatures against a keyring (platform certificates and/or the WeChat Pay public
 * key, chosen by `Wechatpay-Serial`), the replay window on `Wechatpay-Timestamp`, AEAD_AES_256_GCM for
 * callback resources and certificates, RSA-OAEP for sensitive request fields.
 * https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_0.shtml (signing)
 * https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_1.shtml (verification)
 * https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_2.shtml (AES-GCM)
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  createVerify,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import Pay from 'wechatpay-node-v3';

export const AUTH_SCHEMA = 'WECHATPAY2-SHA256-RSA2048';
/** What wechatpay-go and wechatpay-apache-httpclient accept: |now - Wechatpay-Timestamp| < 5 minutes. */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

export type PayVerificationCode =
  | 'missing_headers'
  | 'stale_timestamp'
  | 'unknown_serial'
  | 'probe_signature'
  | 'bad_signature'
  | 'decrypt_failed'
  | 'bad_body';

/** A response or callback that must not be trusted; `code` says why. */
export class PayVerificationError extends Error {
  constructor(
    readonly code: PayVerificationCode,
    message: string,
  ) {
    super(message);
    this.name = 'PayVerificationError';
  }
}

/** The five lines a v3 request signature covers (each ends in \n; the body line is empty for GET). */
export function requestSigningMessage(
  method: string,
  canonicalUrl: string,
  timestamp: string,
  nonce: string,
  body: string,
): string {
  return `${method}\n${canonicalUrl}\n${timestamp}\n${nonce}\n${body}\n`;
}

/** The three lines a response or callback signature covers. */
export function responseSigningMessage(timestamp: string, nonce: string, body: string): string {
  return `${timestamp}\n${nonce}\n${body}\n`;
}

/** 32 characters of [0-9A-Z]: the nonce shape WeChat Pay's own SDKs send. */
export function randomNonce(length = 32): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

export interface MerchantSigner {
  readonly mchid: string;
  readonly serialNo: string;
  /** The `Authorization` header for one request; `body` is the exact string sent ('' for none). */
  authorization(method: string, canonicalUrl: string, body: string, at?: { timestamp: string; nonce: string }): string;
  /** RSA-SHA256 over a message, base64 (also used for JSAPI/mini-program confirm parameters). */
  sign(message: string): string;
}

/**
 * Request signing through wechatpay-node-v3. Its own `getSignature` drops the body line of a POST with an
 * empty body (e.g. a transfer cancel), so the message is built here per the spec and only the RSA step and
 * the header format come from the library.
 */
export function createMerchantSigner(options: {
  appid: string;
  mchid: string;
  serialNo: string;
  privateKeyPem: string;
  now?: () => number;
}): MerchantSigner {
  const now = options.now ?? Date.now;
  // The library wants the merchant certificate only to derive the serial, which we pass explicitly.
  const lib = new Pay({
    appid: options.appid,
    mchid: options.mchid,
    serial_no: options.serialNo,
    publicKey: Buffer.from(options.serialNo),
    privateKey: Buffer.from(options.privateKeyPem),
  });
  return {
    mchid: options.mchid,
    serialNo: options.serialNo,
    authorization(method, canonicalUrl, body, at) {
      const timestamp = at?.timestamp ?? String(Math.floor(now() / 1000));
      const nonce = at?.nonce ?? randomNonce();
      const signature = lib.sha256WithRsa(requestSigningMessage(method, canonicalUrl, timestamp, nonce, body));
      return lib.getAuthorization(nonce, timestamp, signature);
    },
    sign: (message) => lib.sha256WithRsa(message),
  };
}

export interface ParsedAuthorization {
  mchid: string;
  nonce: string;
  signature: string;
  timestamp: string;
  serialNo: string;
}

/** Parses `WECHATPAY2-SHA256-RSA2048 k="v",…` (attributes in any order); undefined when malformed. */
export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  if (!header?.startsWith(`${AUTH_SCHEMA} `)) return undefined;
  const attrs = new Map<string, string>();
  for (const m of header.slice(AUTH_SCHEMA.length + 1).matchAll(/(\w+)="([^"]*)"/g)) attrs.set(m[1]!, m[2]!);
  const mchid = attrs.get('mchid');
  const nonce = attrs.get('nonce_str');
  const signature = attrs.get('signature');
  const timestamp = attrs.get('timestamp');
  const serialNo = attrs.get('serial_no');
  if (!mchid || !nonce || !signature || !timestamp || !serialNo) return undefined;
  return { mchid, nonce, signature, timestamp, serialNo };
}

/** RSA-SHA256 (PKCS#1 v1.5) verification of a base64 signature. */
export function verifyRsaSha256(publicKey: KeyObject, message: string, signatureB64: string): boolean {
  try {
    return createVerify('RSA-SHA256').update(message, 'utf8').verify(publicKey, signatureB64, 'base64');
  } catch {
    return false;
  }
}

/** The WeChat Pay keys we trust, by `Wechatpay-Serial`: platform certificates (hex serial) and/or the public key (PUB_KEY_ID_…). */
export interface PayKeyring {
  keyFor(serial: string): KeyObject | undefined;
  /** Adds a platform certificate (PEM); returns its serial in upper-case hex. */
  addCertificate(pem: string): string;
  serials(): string[];
  /** The serial to send as `Wechatpay-Serial` (public key id when configured, else the newest certificate). */
  preferredSerial(): string | undefined;
  /** The key sensitive fields are encrypted with (same choice as preferredSerial). */
  preferredKey(): { serial: string; key: KeyObject } | undefined;
}

export function createKeyring(options: {
  publicKeyPem?: string;
  publicKeyId?: string;
  platformCertPems?: string[];
}): PayKeyring {
  const keys = new Map<string, KeyObject>();
  let newestCert: string | undefined;
  const norm = (serial: string) => (serial.startsWith('PUB_KEY_ID_') ? serial : serial.toUpperCase());
  if (options.publicKeyPem) {
    if (!options.publicKeyId) throw new Error('a WeChat Pay public key needs its id (PUB_KEY_ID_…)');
    keys.set(options.publicKeyId, createPublicKey(options.publicKeyPem));
  }
  const keyring: PayKeyring = {
    keyFor: (serial) => keys.get(norm(serial)),
    addCertificate(pem) {
      const cert = new X509Certificate(pem);
      const serial = cert.serialNumber.toUpperCase();
      keys.set(serial, cert.publicKey);
      newestCert = serial;
      return serial;
    },
    serials: () => [...keys.keys()],
    preferredSerial: () => options.publicKeyId ?? newestCert,
    preferredKey() {
      const serial = keyring.preferredSerial();
      const key = serial ? keys.get(serial) : undefined;
      return serial && key ? { serial, key } : undefined;
    },
  };
  for (const pem of options.platformCertPems ?? []) keyring.addCertificate(pem);
  return keyring;
}

export interface SignedHeaders {
  timestamp?: string;
  nonce?: string;
  signature?: string;
  serial?: string;
}

/** Reads the four Wechatpay-* headers from Node/fetch-style headers (names are case-insensitive). */
export function signedHeadersOf(headers: Headers | Record<string, string | string[] | undefined>): SignedHeaders {
  const get = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const v = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    timestamp: get('wechatpay-timestamp'),
    nonce: get('wechatpay-nonce'),
    signature: get('wechatpay-signature'),
    serial: get('wechatpay-serial'),
  };
}

/**
 * Verifies a response or callback: all four headers present, timestamp within the replay window,
 * a trusted key for the serial, and a valid signature over `timestamp\nnonce\nbody\n`.
 * @throws PayVerificationError naming the failed check.
 */
export function verifyPaySignature(
  keyring: PayKeyring,
  headers: SignedHeaders,
  body: string,
  options: { nowSeconds: number; maxSkewSeconds?: number },
): { serial: string } {
  const { timestamp, nonce, signature, serial } = headers;
  if (!timestamp || !nonce || !signature || !serial)
    throw new PayVerificationError('missing_headers', 'Wechatpay-Timestamp/Nonce/Signature/Serial are required');
  // Probes WeChat Pay sends on purpose to check that we verify; they must fail.
  if (signature.startsWith('WECHATPAY/SIGNTEST/')) throw new PayVerificationError('probe_signature', 'signature probe');
  const ts = Number(timestamp);
  const maxSkew = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(options.nowSeconds - ts) >= maxSkew)
    throw new PayVerificationError('stale_timestamp', `Wechatpay-Timestamp is outside the ${maxSkew} s window`);
  const key = keyring.keyFor(serial);
  if (!key) throw new PayVerificationError('unknown_serial', `no trusted WeChat Pay key for serial ${serial}`);
  if (!verifyRsaSha256(key, responseSigningMessage(timestamp, nonce, body), signature))
    throw new PayVerificationError('bad_signature', 'Wechatpay-Signature does not verify');
  return { serial };
}

export interface EncryptedResource {
  algorithm: string;
  ciphertext: string;
  nonce: string;
  associated_data?: string;
  original_type?: string;
}

function gcmKey(apiV3Key: string): Buffer {
  const key = Buffer.from(apiV3Key, 'utf8');
  if (key.length !== 32) throw new PayVerificationError('decrypt_failed', 'the APIv3 key must be 32 bytes');
  return key;
}

/**
 * AEAD_AES_256_GCM: key = APIv3 key bytes, IV = nonce bytes, AAD = associated_data, and the last 16
 * bytes of the base64-decoded ciphertext are the auth tag.
 * @throws PayVerificationError('decrypt_failed') on a wrong key, a tampered ciphertext or a bad AAD.
 */
export function decryptAesGcm(
  apiV3Key: string,
  nonce: string | Buffer,
  associatedData: string,
  ciphertextB64: string,
): string {
  const key = gcmKey(apiV3Key);
  const raw = Buffer.from(ciphertextB64, 'base64');
  if (raw.length < 17) throw new PayVerificationError('decrypt_failed', 'ciphertext too short');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, typeof nonce === 'string' ? Buffer.from(nonce) : nonce);
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    return Buffer.concat([decipher.update(raw.subarray(0, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    throw new PayVerificationError(
      'decrypt_failed',
      'AES-GCM authentication failed (wrong APIv3 key or tampered data)',
    );
  }
}

/** Decrypts a callback `resource` or a certificate's `encrypt_certificate`. */
export function decryptResource(apiV3Key: string, resource: EncryptedResource): string {
  if (resource.algorithm !== 'AEAD_AES_256_GCM')
    throw new PayVerificationError('decrypt_failed', `unsupported algorithm ${resource.algorithm}`);
  return decryptAesGcm(apiV3Key, resource.nonce, resource.associated_data ?? '', resource.ciphertext);
}

/** The inverse of decryptResource (the sandbox's side). */
export function encryptResource(
  apiV3Key: string,
  plaintext: string,
  associatedData: string,
  nonce: string = randomNonce(12),
): EncryptedResource {
  const cipher = createCipheriv('aes-256-gcm', gcmKey(apiV3Key), Buffer.from(nonce));
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { algorithm: 'AEAD_AES_256_GCM', ciphertext: body.toString('base64'), nonce, associated_data: associatedData };
}

/** RSA-OAEP (SHA-1, as WeChat Pay specifies) encryption of a sensitive field such as `user_name`. */
export function encryptSensitive(publicKey: KeyObject, plaintext: string): string {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, Buffer.from(plaintext)).toString(
    'base64',
  );
}

/** The inverse of encryptSensitive (the sandbox's side, with the platform private key). */
export function decryptSensitive(privateKeyPem: string, ciphertextB64: string): string {
  return privateDecrypt(
    { key: privateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING },
    Buffer.from(ciphertextB64, 'base64'),
  ).toString('utf8');
}
