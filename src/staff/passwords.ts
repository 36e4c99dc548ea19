/** Password hashing with argon2id (@node-rs/argon2: prebuilt, no native build step). */
import { hash, verify } from '@node-rs/argon2';
import { z } from 'zod';

export const PasswordSchema = z.string().min(10, 'at least 10 characters').max(128);

export function hashPassword(password: string): Promise<string> {
  // argon2id with the library's defaults (19 MiB, 2 passes): OWASP's recommended minimum.
  return hash(password);
}

let dummy: Promise<string> | undefined;

/** Verifies a password; with no stored hash, still spends the same time so unknown usernames are not revealed. */
export async function verifyPassword(stored: string | undefined, password: string): Promise<boolean> {
  if (!stored) {
    dummy ??= hash('not-a-real-password-000');
    await verify(await dummy, password).catch(() => false);
    return false;
  }
  try {
    return await verify(stored, password);
  } catch {
    // A malformed stored hash is a refusal, never a pass.
    return false;
  }
}
