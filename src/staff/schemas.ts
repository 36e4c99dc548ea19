/** Inputs and outputs of the staff and auth routes (also the OpenAPI document's schemas). */
import { z } from 'zod';
import { IsoDateTime } from './api/schemas.js';
import { PageQuery } from './api/pagination.js';
import { PasswordSchema } from './passwords.js';
import { RoleSchema } from './permissions.js';
import { DataScopeSchema } from './scope.js';

export const Username = z.string().regex(/^[a-z0-9_.-]{3,32}$/, '3-32 of a-z 0-9 _ . -');

export const LoginBody = z
  .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) })
  .strict();
export const RefreshBody = z.object({ refreshToken: z.string().min(20).max(200) }).strict();

export const TokenPair = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().meta({ description: 'seconds until the access token expires' }),
    refreshToken: z.string().meta({ description: 'single use: each refresh returns a new one' }),
    refreshExpiresAt: IsoDateTime,
  })
  .meta({ id: 'TokenPair' });

export const StaffView = z
  .object({
    id: z.string(),
    username: z.string(),
    displayName: z.string(),
    roles: z.array(RoleSchema),
    scope: DataScopeSchema,
    status: z.enum(['active', 'disabled']),
    lastLoginAt: IsoDateTime.nullable(),
    createdAt: IsoDateTime,
  })
  .meta({ id: 'Staff' });
export type StaffView = z.infer<typeof StaffView>;

export const MeView = z.object({ staff: StaffView, permissions: z.array(z.string()) }).meta({ id: 'Me' });

const Roles = z.array(RoleSchema).min(1).max(6);
const DisplayName = z.string().trim().min(1).max(64);

export const CreateStaffBody = z
  .object({
    username: Username,
    displayName: DisplayName,
    password: PasswordSchema,
    roles: Roles,
    scope: DataScopeSchema.optional().meta({
      description: 'defaults to { own: true } for sales-only staff, else {} (every customer)',
    }),
  })
  .strict();
export type CreateStaffBody = z.infer<typeof CreateStaffBody>;

export const UpdateStaffBody = z
  .object({ displayName: DisplayName.optional(), roles: Roles.optional(), scope: DataScopeSchema.optional() })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'change at least one field');
export type UpdateStaffBody = z.infer<typeof UpdateStaffBody>;

export const ResetPasswordBody = z.object({ password: PasswordSchema }).strict();

export const StaffListQuery = z
  .object({
    ...PageQuery,
    status: z.enum(['active', 'disabled']).optional(),
    role: RoleSchema.optional(),
  })
  .strict();
export type StaffListQuery = z.infer<typeof StaffListQuery>;
