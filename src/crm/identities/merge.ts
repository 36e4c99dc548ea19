/**
 * Merges are recorded and reversible: the record lists the identities it moved (written before they
 * move), so unmerge puts exactly those back. Timeline, tags and consent stay on their own profile and are
 * read through the survivor's family, so an unmerge needs nothing else.
 */
import type { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import type { CrmDeps } from '../deps.js';
import { canonicalId } from '../profiles/family.js';
import { Profile } from '../profiles/model.js';
import { appendTimeline } from '../timeline/service.js';
import { Identity, LinkReview, Merge, type LinkReviewDoc, type MergeDoc } from './model.js';

export interface MergeInput {
  sourceId: Types.ObjectId;
  targetId: Types.ObjectId;
  reason: string;
  by: string;
}

/** Merges `sourceId` into `targetId` (both must be current profiles); at most once at a time per source. */
export async function mergeProfiles(deps: CrmDeps, input: MergeInput): Promise<MergeDoc> {
  const { sourceId, targetId } = input;
  if (sourceId.equals(targetId))
    throw new DomainError('invalid', 'same_profile', 'A profile cannot merge into itself.');
  const [source, target] = await Promise.all([
    Profile.findById(sourceId, { mergedInto: 1 }).lean(),
    Profile.findById(targetId, { mergedInto: 1 }).lean(),
  ]);
  if (!source || !target) throw new DomainError('not_found', 'profile_not_found', 'No such profile.');
  if (source.mergedInto) throw new DomainError('conflict', 'already_merged', 'The profile is already merged.');
  if (target.mergedInto || (await canonicalId(targetId)).equals(sourceId))
    throw new DomainError('conflict', 'target_merged', 'The target profile is itself merged; merge into its survivor.');
  const at = deps.now();
  let merge: MergeDoc;
  try {
    merge = (
      await Merge.create({
        sourceId,
        targetId,
        activeKey: sourceId.toHexString(),
        reason: input.reason,
        by: input.by,
        at,
      })
    ).toObject();
  } catch (err) {
    if (isDuplicateKey(err)) throw new DomainError('conflict', 'already_merged', 'The profile is already merged.');
    throw err;
  }
  const moved = (await Identity.find({ profileId: sourceId }, { _id: 1 }).lean()).map((i) => i._id);
  await Merge.updateOne({ _id: merge._id }, { $set: { movedIdentityIds: moved } });
  if (moved.length > 0) await Identity.updateMany({ _id: { $in: moved } }, { $set: { profileId: targetId } });
  await Profile.updateOne({ _id: sourceId }, { $set: { mergedInto: targetId } });
  await appendTimeline(deps, {
    profileId: targetId,
    type: 'profile.merged',
    at,
    source: input.by === 'system' ? 'crm' : `staff:${input.by}`,
    payload: { mergeId: merge._id.toHexString(), mergedProfileId: sourceId.toHexString(), reason: input.reason },
    dedupKey: `merge:${merge._id.toHexString()}`,
  });
  deps.logger.info(
    { mergeId: merge._id.toHexString(), sourceId: String(sourceId), targetId: String(targetId), by: input.by },
    'crm: profiles merged',
  );
  await deps.audit?.record({
    actor: input.by,
    action: 'crm.profile.merge',
    target: targetId.toHexString(),
    details: { sourceId: sourceId.toHexString(), reason: input.reason },
  });
  return { ...merge, movedIdentityIds: moved };
}

/** Reverses a merge: the source profile stands alone again with the identities the merge moved. */
export async function unmergeProfiles(deps: CrmDeps, input: { mergeId: Types.ObjectId; by: string }): Promise<void> {
  const merge = await Merge.findById(input.mergeId).lean();
  if (!merge) throw new DomainError('not_found', 'merge_not_found', 'No such merge.');
  if (merge.undoneAt) throw new DomainError('conflict', 'already_unmerged', 'The merge was already undone.');
  const at = deps.now();
  if (merge.movedIdentityIds.length > 0)
    await Identity.updateMany(
      { _id: { $in: merge.movedIdentityIds }, profileId: merge.targetId },
      { $set: { profileId: merge.sourceId } },
    );
  await Profile.updateOne({ _id: merge.sourceId }, { $unset: { mergedInto: 1 } });
  await Merge.updateOne(
    { _id: merge._id },
    {
      $set: {
        undoneAt: at,
        undoneBy: input.by,
        activeKey: `${merge.sourceId.toHexString()}:undone:${String(merge._id)}`,
      },
    },
  );
  await appendTimeline(deps, {
    profileId: merge.targetId,
    type: 'profile.unmerged',
    at,
    source: `staff:${input.by}`,
    payload: { mergeId: String(merge._id), unmergedProfileId: merge.sourceId.toHexString() },
    dedupKey: `unmerge:${String(merge._id)}`,
  });
  await deps.audit?.record({
    actor: input.by,
    action: 'crm.profile.unmerge',
    target: merge.targetId.toHexString(),
    details: { mergeId: String(merge._id), sourceId: merge.sourceId.toHexString() },
  });
}

export interface PresentedMerge {
  id: string;
  sourceId: string;
  targetId: string;
  reason: string;
  by: string;
  at: string;
  undoneAt?: string;
}

/** Merges touching a profile, newest first. */
export async function mergesOf(profileId: Types.ObjectId): Promise<PresentedMerge[]> {
  const rows = await Merge.find({ $or: [{ sourceId: profileId }, { targetId: profileId }] })
    .sort({ at: -1 })
    .limit(100)
    .lean();
  return rows.map((m) => ({
    id: String(m._id),
    sourceId: m.sourceId.toHexString(),
    targetId: m.targetId.toHexString(),
    reason: m.reason,
    by: m.by,
    at: m.at.toISOString(),
    undoneAt: m.undoneAt?.toISOString(),
  }));
}

export interface PresentedReview {
  id: string;
  profileIds: string[];
  identityKind: string;
  identity: string;
  reason: string;
  status: LinkReviewDoc['status'];
  createdAt: string;
}

function presentReview(r: LinkReviewDoc): PresentedReview {
  return {
    id: String(r._id),
    profileIds: r.profileIds.map(String),
    identityKind: r.identityKind,
    identity: r.identityLabel,
    reason: r.reason,
    status: r.status,
    createdAt: r.createdAt.toISOString(),
  };
}

/** The review queue, oldest first. */
export async function listReviews(input: {
  status?: LinkReviewDoc['status'];
  limit?: number;
}): Promise<PresentedReview[]> {
  const rows = await LinkReview.find({ status: input.status ?? 'open' })
    .sort({ createdAt: 1 })
    .limit(Math.min(input.limit ?? 50, 200))
    .lean();
  return rows.map(presentReview);
}

/** Staff decide a queued conflict: merge (into `targetId`, default the older profile) or dismiss. */
export async function resolveReview(
  deps: CrmDeps,
  input: { reviewId: Types.ObjectId; decision: 'merge' | 'dismiss'; by: string; targetId?: Types.ObjectId },
): Promise<PresentedReview> {
  const review = await LinkReview.findById(input.reviewId).lean();
  if (!review) throw new DomainError('not_found', 'review_not_found', 'No such review.');
  if (review.status !== 'open') throw new DomainError('conflict', 'review_closed', 'The review is already decided.');
  if (input.decision === 'merge') {
    const [a, b] = await Promise.all(review.profileIds.map((id) => canonicalId(id)));
    if (!a || !b) throw new DomainError('invalid', 'review_broken', 'The review does not name two profiles.');
    if (!a.equals(b)) {
      // ObjectIds order by creation time (seconds, then a per-process counter): the older one survives.
      const older = a.toHexString() <= b.toHexString() ? a : b;
      const target = input.targetId ?? older;
      if (!target.equals(a) && !target.equals(b))
        throw new DomainError('invalid', 'invalid_target', 'The target must be one of the two profiles.');
      const source = target.equals(a) ? b : a;
      await mergeProfiles(deps, {
        sourceId: source,
        targetId: target,
        reason: `review ${String(review._id)}`,
        by: input.by,
      });
    }
  }
  const status = input.decision === 'merge' ? 'merged' : 'dismissed';
  await LinkReview.updateOne({ _id: review._id }, { $set: { status, resolvedBy: input.by, resolvedAt: deps.now() } });
  return presentReview({ ...review, status });
}
