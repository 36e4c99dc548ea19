/**
 * Structured logs (pino). Secrets and personal data never reach a log line: the paths below are
 * censored wherever they appear in the first levels of a logged object, and code logs ids, not people.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const SENSITIVE_KEYS = [
  'password',
  'passwordHash',
  'secret',
  'appsecret',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'authorization',
  'cookie',
  'apiKey',
  'apiV3Key',
  'privateKey',
  'encodingAESKey',
  'aesKey',
  'phone',
  'mobile',
  'idNumber',
  'idCard',
  'realName',
  'user_name',
  'reservationCode',
  'oauthCode',
];

/** Censor those keys at the top level and up to two levels down (pino wildcards match one level). */
export const REDACT_PATHS = [
  ...SENSITIVE_KEYS,
  ...SENSITIVE_KEYS.map((k) => `*.${k}`),
  ...SENSITIVE_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
];

export interface LoggerOptions {
  level: string;
  name?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      name: options.name,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination,
  );
}
