/**
 * Text messages to a phone (verification codes). No SMS vendor is contracted yet, so the project ships
 * the port and two implementations: a recording outbox for development, tests and the demo, and an
 * unconfigured sender for production that refuses, so a missing vendor shows up as "unavailable" to the
 * follower instead of codes that silently never arrive.
 */
import { DomainError } from '../../infra/errors.js';

export interface SmsMessage {
  /** The normalised number (11 digits, or + and digits). Never logged. */
  phone: string;
  text: string;
  /** A retried send with the same key is sent once. */
  key: string;
}

export interface SmsSender {
  /** Sends one text message; throws DomainError('unavailable') when no vendor can take it. */
  send(message: SmsMessage): Promise<void>;
}

export interface RecordingSmsSender extends SmsSender {
  /** What was sent, oldest first (one entry per key). */
  readonly sent: ReadonlyArray<SmsMessage & { at: Date }>;
  /** The newest message to a number. */
  lastTo(phone: string): (SmsMessage & { at: Date }) | undefined;
}

/** Keeps messages in memory instead of sending them (development, tests, the demo). */
export function createRecordingSmsSender(limit = 1000): RecordingSmsSender {
  const sent: Array<SmsMessage & { at: Date }> = [];
  const keys = new Set<string>();
  return {
    sent,
    async send(message) {
      if (keys.has(message.key)) return;
      keys.add(message.key);
      sent.push({ ...message, at: new Date() });
      if (sent.length > limit) keys.delete(sent.shift()!.key);
    },
    lastTo: (phone) => [...sent].reverse().find((m) => m.phone === phone),
  };
}

/** Production without an SMS vendor: every send is refused as unavailable. */
export function createUnconfiguredSmsSender(): SmsSender {
  return {
    async send() {
      throw new DomainError('unavailable', 'sms_unavailable', 'No SMS vendor is configured.');
    },
  };
}
