/**
 * Which profile a (possibly merged) profile id stands for today, and which ids a survivor stands for.
 */
import { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import { Profile, type ProfileDoc } from './model.js';

export type ProfileSeed = Partial<
  Pick<
    ProfileDoc,
    'name' | 'gender' | 'region' | 'phone' | 'tier' | 'ownerStaffId' | 'attributes' | 'lastInteractionAt'
  >
> & {
  stage: ProfileDoc['stage'];
  source: string;
};

/** Creates the profile document for an id chosen by whoever won its anchor identity; a repeat is a no-op. */
export async function ensureProfile(id: Types.ObjectId, seed: ProfileSeed, defaultTier: string): Promise<void> {
  try {
    await Profile.create({ _id: id, attributes: {}, tier: defaultTier, ...seed });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
}

/** Follows mergedInto to the surviving profile (a profile not created yet stands for itself). */
export async function canonicalId(id: Types.ObjectId): Promise<Types.ObjectId> {
  return (await survivorOf(id)).id;
}

/** The surviving profile, and whether its document exists (a profile not created yet stands for itself). */
export async function survivorOf(id: Types.ObjectId): Promise<{ id: Types.ObjectId; exists: boolean }> {
  let current = id;
  for (let hop = 0; hop < 16; hop += 1) {
    const doc = await Profile.findById(current, { mergedInto: 1 }).lean();
    if (!doc) return { id: current, exists: false };
    if (!doc.mergedInto) return { id: current, exists: true };
    current = doc.mergedInto;
  }
  return { id: current, exists: true };
}

/** The survivor and every profile merged into it, directly or through a chain. */
export async function profileFamily(id: Types.ObjectId): Promise<Types.ObjectId[]> {
  const family: Types.ObjectId[] = [id];
  let frontier: Types.ObjectId[] = [id];
  while (frontier.length > 0 && family.length < 1000) {
    const merged = await Profile.find({ mergedInto: idsFilter(frontier) }, { _id: 1 }).lean();
    frontier = merged.map((m) => m._id);
    family.push(...frontier);
  }
  return family;
}

export function toObjectId(id: string | Types.ObjectId): Types.ObjectId {
  if (id instanceof Types.ObjectId) return id;
  if (!/^[0-9a-f]{24}$/i.test(id)) throw new DomainError('invalid', 'invalid_id', 'Not a valid id.');
  return new Types.ObjectId(id);
}

/** `{ $in: ids }`, or the id itself when there is one: FerretDB uses an index for equality, not for `$in`. */
export function idsFilter(ids: Types.ObjectId[]): Types.ObjectId | { $in: Types.ObjectId[] } {
  return ids.length === 1 ? ids[0]! : { $in: ids };
}
