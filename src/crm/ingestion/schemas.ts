/**
 * Inputs of the event-ingestion API: a batch envelope, then each event validated on its own so one bad
 * event never sinks the good ones.
 */
import { z } from 'zod';

const accountKey = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'an account key');

export const CustomerRef = z
  .object({
    openid: z
      .object({ account: accountKey, openid: z.string().min(1).max(64) })
      .strict()
      .optional(),
    unionid: z.string().min(1).max(64).optional(),
    externalUserId: z
      .object({ corp: accountKey, id: z.string().min(1).max(64) })
      .strict()
      .optional(),
    phone: z.string().min(5).max(32).optional(),
    phoneVerified: z.boolean().optional(),
    customerNo: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, '1-64 of A-Z a-z 0-9 . _ : -')
      .optional(),
  })
  .strict()
  .refine((c) => c.openid || c.unionid || c.externalUserId || c.phone || c.customerNo, {
    message: 'at least one identity (openid, unionid, externalUserId, phone, customerNo)',
  });
export type CustomerRef = z.infer<typeof CustomerRef>;

export const INGEST_TYPES = ['purchase', 'signup', 'renewal', 'form.submitted', 'custom'] as const;

export const IngestEvent = z
  .object({
    idempotencyKey: z.string().regex(/^[A-Za-z0-9._:-]{8,128}$/, '8-128 of A-Z a-z 0-9 . _ : -'),
    type: z.enum(INGEST_TYPES),
    /** The name of a custom event (stored as custom.<name>). */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,39}$/)
      .optional(),
    at: z.iso.datetime({ offset: true }).optional(),
    customer: CustomerRef,
    profile: z
      .object({
        name: z.string().min(1).max(100).optional(),
        gender: z.enum(['male', 'female', 'unknown']).optional(),
        region: z.string().min(1).max(64).optional(),
      })
      .strict()
      .optional(),
    amountFen: z.number().int().nonnegative().optional(),
    payload: z
      .record(z.string(), z.unknown())
      .refine((p) => JSON.stringify(p).length <= 8192, 'payload larger than 8 KB')
      .default({}),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (e.type === 'purchase' && e.amountFen === undefined)
      ctx.addIssue({ code: 'custom', path: ['amountFen'], message: 'a purchase needs amountFen (integer fen)' });
    if (e.type === 'custom' && !e.name)
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'a custom event needs a name' });
  });
export type IngestEvent = z.infer<typeof IngestEvent>;

export const IngestBatch = z.object({ events: z.array(z.unknown()).min(1).max(500) }).strict();
