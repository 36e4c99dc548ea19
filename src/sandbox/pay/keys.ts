/**
 * The sandbox merchant's and WeChat Pay's own keys, generated at start as the real ones are issued:
 * the merchant API key pair (apiclient_key.pem + its certificate serial), a platform certificate
 * (X.509, served encrypted by /v3/certificates) and a WeChat Pay public key with its PUB_KEY_ID_….
 */
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

export interface PaySandboxKeys {
  mchid: string;
  appid: string;
  apiV3Key: string;
  merchant: { serialNo: string; privateKeyPem: string; publicKeyPem: string };
  platformCert: { serialNo: string; certPem: string; privateKeyPem: string; notBefore: Date; notAfter: Date };
  publicKey: { id: string; publicKeyPem: string; privateKeyPem: string };
}

function rsaPair(): { privateKeyPem: string; publicKeyPem: string; pkcs1: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    pkcs1: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}

/** 40 upper-case hex digits, first digit 1-7 so the DER integer stays positive and unpadded. */
function certSerial(): string {
  return `${1 + (randomBytes(1)[0]! % 7)}${randomBytes(20).toString('hex').slice(1).toUpperCase()}`;
}

function alnum(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** A self-issued platform certificate (the real ones chain to Tenpay's CA; clients only use its key and serial). */
function platformCertificate(pair: { publicKeyPem: string; pkcs1: string }, serial: string, now: Date) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKeyPem);
  cert.serialNumber = serial.toLowerCase();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + 5 * 365 * 86_400_000);
  const attrs = [
    { name: 'countryName', value: 'CN' },
    { name: 'organizationName', value: 'Tenpay.com' },
    { name: 'organizationalUnitName', value: 'Tenpay.com CA Center (sandbox)' },
    { name: 'commonName', value: 'Tenpay.com Root CA' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(forge.pki.privateKeyFromPem(pair.pkcs1), forge.md.sha256.create());
  return {
    pem: forge.pki.certificateToPem(cert),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

export function generatePaySandboxKeys(options: { mchid?: string; appid?: string; now?: Date } = {}): PaySandboxKeys {
  const merchant = rsaPair();
  const platform = rsaPair();
  const pub = rsaPair();
  const serial = certSerial();
  const cert = platformCertificate(platform, serial, options.now ?? new Date());
  // Node reads the serial back the way clients will; keep exactly that spelling.
  const serialNo = new X509Certificate(cert.pem).serialNumber.toUpperCase();
  return {
    mchid: options.mchid ?? '1900009191',
    appid: options.appid ?? 'wxb11529c136998cb6',
    apiV3Key: alnum(32),
    merchant: { serialNo: certSerial(), privateKeyPem: merchant.privateKeyPem, publicKeyPem: merchant.publicKeyPem },
    platformCert: {
      serialNo,
      certPem: cert.pem,
      privateKeyPem: platform.privateKeyPem,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    },
    publicKey: {
      id: `PUB_KEY_ID_0114${randomBytes(12).toString('hex').toUpperCase()}`,
      publicKeyPem: pub.publicKeyPem,
      privateKeyPem: pub.privateKeyPem,
    },
  };
}
