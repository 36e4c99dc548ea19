/** Inputs and views of the reservation admin API (also the OpenAPI document's schemas). */
import { z } from 'zod';
import { IsoDateTime } from '../staff/index.js';

const Id = z.string().min(1).max(64);

export const ProgramBody = z
  .object({
    name: z.string().min(1).max(60),
    description: z.string().max(2000).optional(),
    productRef: z.string().max(64).optional(),
    quota: z.number().int().positive().max(1_000_000),
    eligibility: z
      .object({
        tiers: z.array(z.string().min(1).max(32)).max(20).optional(),
        verification: z.string().min(1).max(40).optional(),
        audienceId: z.string().min(1).max(64).optional(),
      })
      .strict()
      .optional(),
    issueFrom: IsoDateTime,
    issueUntil: IsoDateTime,
    redeemFrom: IsoDateTime,
    redeemUntil: IsoDateTime,
    perCustomerLimit: z.number().int().min(1).max(20).optional(),
    issueMode: z.enum(['push', 'claim']),
    bound: z.boolean().optional(),
    remindBeforeHours: z
      .number()
      .int()
      .min(0)
      .max(24 * 30)
      .optional(),
  })
  .strict()
  .refine((b) => Date.parse(b.issueFrom) < Date.parse(b.issueUntil), {
    message: 'issueUntil must be after issueFrom',
    path: ['issueUntil'],
  })
  .refine((b) => Date.parse(b.redeemFrom) < Date.parse(b.redeemUntil), {
    message: 'redeemUntil must be after redeemFrom',
    path: ['redeemUntil'],
  });

export const ProgramParams = z.object({ id: Id }).strict();
export const CustomerParams = z.object({ profileId: Id }).strict();
export const CodeParams = z.object({ id: z.string().regex(/^[0-9a-f]{24}$/) }).strict();

export const ProgramView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  productRef: z.string(),
  quota: z.number().int(),
  eligibility: z.object({
    tiers: z.array(z.string()).optional(),
    verification: z.string().optional(),
    audienceId: z.string().optional(),
  }),
  issueFrom: IsoDateTime,
  issueUntil: IsoDateTime,
  redeemFrom: IsoDateTime,
  redeemUntil: IsoDateTime,
  perCustomerLimit: z.number().int(),
  issueMode: z.enum(['push', 'claim']),
  bound: z.boolean(),
  status: z.enum(['active', 'closed']),
  stats: z
    .object({
      quota: z.number().int(),
      issued: z.number().int(),
      redeemed: z.number().int(),
      revoked: z.number().int(),
      expired: z.number().int(),
      remaining: z.number().int(),
    })
    .optional(),
});

export const ProgramList = z.object({ items: z.array(ProgramView) });

export const IssueBody = z.object({ profileIds: z.array(Id).min(1).max(1000) }).strict();
export const IssueView = z.object({
  issued: z.number().int(),
  alreadyHeld: z.number().int(),
  notEligible: z.number().int(),
  soldOut: z.number().int(),
});

export const CodeView = z.object({
  codeId: z.string(),
  programId: z.string(),
  programName: z.string(),
  masked: z.string(),
  status: z.enum(['active', 'redeemed', 'revoked', 'expired']),
  expiresAt: IsoDateTime,
  issuedAt: IsoDateTime,
  outcome: z
    .object({
      at: IsoDateTime,
      channel: z.string().optional(),
      actor: z.string(),
      orderRef: z.string().optional(),
      reason: z.string().optional(),
    })
    .optional(),
  notices: z.array(z.object({ kind: z.string(), state: z.string(), at: IsoDateTime })),
});
export const CodeList = z.object({ items: z.array(CodeView) });

export const RevokeBody = z.object({ reason: z.string().min(1).max(200) }).strict();

export const RedeemBody = z
  .object({
    code: z.string().min(1).max(40),
    /** The customer presenting the code (required for codes bound to their owner). */
    profileId: Id.optional(),
    orderRef: z.string().min(1).max(64).optional(),
  })
  .strict();

export const RedemptionView = z.object({
  codeId: z.string(),
  programId: z.string(),
  profileId: z.string(),
  masked: z.string(),
  channel: z.string(),
  actor: z.string(),
  orderRef: z.string().optional(),
  at: IsoDateTime,
});
