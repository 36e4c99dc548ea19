/**
 * Custom attributes with a declared schema: definitions, validation, and setting values on a profile.
 */
import type { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import type { CrmDeps } from '../deps.js';
import { Profile } from '../profiles/model.js';
import { AttributeDef, type AttributeDefDoc, type AttributeType } from './model.js';

export interface AttributeDefInput {
  key: string;
  label: string;
  type: AttributeType;
  allowedValues?: string[];
}

/** Declares an attribute (keys are unique; enum types need their allowed values). */
export async function defineAttribute(_deps: CrmDeps, input: AttributeDefInput): Promise<AttributeDefDoc> {
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(input.key))
    throw new DomainError('invalid', 'invalid_attribute_key', 'Keys are 1-40 of a-z 0-9 _, starting with a letter.');
  if (input.type === 'enum' && !input.allowedValues?.length)
    throw new DomainError('invalid', 'enum_without_values', 'An enum attribute needs its allowed values.');
  try {
    return (await AttributeDef.create(input)).toObject();
  } catch (err) {
    if (isDuplicateKey(err))
      throw new DomainError('conflict', 'attribute_exists', 'This attribute is already declared.');
    throw err;
  }
}

export async function listAttributeDefs(): Promise<AttributeDefInput[]> {
  const rows = await AttributeDef.find().sort({ key: 1 }).lean();
  return rows.map((r) => ({ key: r.key, label: r.label, type: r.type, allowedValues: r.allowedValues }));
}

/** The stored form of `value` for `def`, or the reason it does not fit. Strings from CSV are coerced. */
export function coerceAttribute(
  def: Pick<AttributeDefDoc, 'key' | 'type' | 'allowedValues'>,
  value: unknown,
): { ok: true; value: string | number | boolean | Date | null } | { ok: false; reason: string } {
  if (value === null) return { ok: true, value: null };
  switch (def.type) {
    case 'string':
      return typeof value === 'string' && value.length <= 500
        ? { ok: true, value }
        : { ok: false, reason: `${def.key}: expected text up to 500 characters` };
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      return typeof n === 'number' && Number.isFinite(n)
        ? { ok: true, value: n }
        : { ok: false, reason: `${def.key}: expected a number` };
    }
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === '1') return { ok: true, value: true };
      if (value === 'false' || value === '0') return { ok: true, value: false };
      return { ok: false, reason: `${def.key}: expected true or false` };
    case 'date': {
      const d = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : undefined;
      return d && !Number.isNaN(d.getTime())
        ? { ok: true, value: d }
        : { ok: false, reason: `${def.key}: expected a date (YYYY-MM-DD)` };
    }
    case 'enum':
      return typeof value === 'string' && (def.allowedValues ?? []).includes(value)
        ? { ok: true, value }
        : { ok: false, reason: `${def.key}: expected one of ${(def.allowedValues ?? []).join(', ')}` };
  }
}

/** Validates values against the declared schema; throws invalid naming every bad key. */
export async function validateAttributes(
  values: Record<string, unknown>,
): Promise<Record<string, string | number | boolean | Date | null>> {
  const defs = await AttributeDef.find({ key: { $in: Object.keys(values) } }).lean();
  const out: Record<string, string | number | boolean | Date | null> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const def = defs.find((d) => d.key === key);
    if (!def) {
      problems.push(`${key}: not a declared attribute`);
      continue;
    }
    const r = coerceAttribute(def, value);
    if (r.ok) out[key] = r.value;
    else problems.push(r.reason);
  }
  if (problems.length > 0)
    throw new DomainError('invalid', 'invalid_attributes', 'Some attributes do not fit their declared schema.', {
      problems,
    });
  return out;
}

/** Sets declared attributes on a profile (each key its own $set, so different keys never overwrite each other). */
export async function setAttributes(
  _deps: CrmDeps,
  input: { profileId: Types.ObjectId; values: Record<string, unknown> },
): Promise<void> {
  const valid = await validateAttributes(input.values);
  const set = Object.fromEntries(Object.entries(valid).map(([k, v]) => [`attributes.${k}`, v]));
  if (Object.keys(set).length === 0) return;
  const { matchedCount } = await Profile.updateOne({ _id: input.profileId }, { $set: set });
  if (matchedCount === 0) throw new DomainError('not_found', 'profile_not_found', 'No such profile.');
}
