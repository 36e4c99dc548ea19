/**
 * Staff accounts and their login sessions. A session is one refresh-token family: every refresh adds a
 * token whose `parentHash` is the one it replaces; the unique index on `parentHash` lets exactly one
 * refresh win per token (FerretDB has no atomic find-and-modify), and a second use is detected as reuse.
 */
import mongoose, { Schema } from 'mongoose';
import { ROLES, type Role } from './permissions.js';
import type { DataScope } from './scope.js';

export type StaffStatus = 'active' | 'disabled';

export interface StaffDoc {
  _id: mongoose.Types.ObjectId;
  username: string;
  displayName: string;
  passwordHash: string;
  roles: Role[];
  scope: DataScope;
  status: StaffStatus;
  /** Changes whenever sessions must die (disable, role or password change); access tokens carry it. */
  sessionVersion: string;
  lastLoginAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

const staffSchema = new Schema<StaffDoc>(
  {
    username: { type: String, required: true },
    displayName: { type: String, required: true },
    passwordHash: { type: String, required: true },
    roles: { type: [String], enum: ROLES, required: true },
    scope: { type: Schema.Types.Mixed, default: {} },
    status: { type: String, enum: ['active', 'disabled'], required: true },
    sessionVersion: { type: String, required: true },
    lastLoginAt: Date,
  },
  { collection: 'staff', timestamps: true, versionKey: false, minimize: false },
);
// Login looks staff up by username; two staff can never share one.
staffSchema.index({ username: 1 }, { unique: true });

export const Staff = mongoose.model<StaffDoc>('Staff', staffSchema);

export interface SessionDoc {
  _id: string;
  staffId: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt?: Date;
  revokedReason?: 'logout' | 'reuse' | 'disabled' | 'password_reset';
  ip: string;
  userAgent: string;
}

const sessionSchema = new Schema<SessionDoc>(
  {
    _id: { type: String, required: true },
    staffId: { type: String, required: true },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    revokedAt: Date,
    revokedReason: String,
    ip: String,
    userAgent: String,
  },
  { collection: 'staff_sessions', versionKey: false },
);
// Disabling a staff member revokes all their sessions.
sessionSchema.index({ staffId: 1 });

export const StaffSession = mongoose.model<SessionDoc>('StaffSession', sessionSchema);

export interface RefreshTokenDoc {
  _id: mongoose.Types.ObjectId;
  /** SHA-256 of the token (the token has 256 random bits, so a fast hash is enough). */
  tokenHash: string;
  /** The token this one replaced, or `root:<sessionId>` for the first. Unique: one successor per token. */
  parentHash: string;
  sessionId: string;
  staffId: string;
  createdAt: Date;
  expiresAt: Date;
}

const refreshSchema = new Schema<RefreshTokenDoc>(
  {
    tokenHash: { type: String, required: true },
    parentHash: { type: String, required: true },
    sessionId: { type: String, required: true },
    staffId: { type: String, required: true },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'staff_refresh_tokens', versionKey: false },
);
// Refresh looks the presented token up by hash.
refreshSchema.index({ tokenHash: 1 }, { unique: true });
// Rotation: inserting the successor of a token fails when one exists (reuse detection).
refreshSchema.index({ parentHash: 1 }, { unique: true });

export const RefreshToken = mongoose.model<RefreshTokenDoc>('StaffRefreshToken', refreshSchema);
