/**
 * Members and their customers: the member ↔ staff-account link (whose data scope owns the customers), the
 * hand-over of a leaving member's customers through WeCom's transfer API (the profiles' owner follows, so a
 * scoped sales user sees them), the loss report, and the contacts waiting for a human link review.
 */
import { Types } from 'mongoose';
import { isPlatformError } from '../platform/kernel/errors.js';
import { transferCustomer } from '../platform/wecom/index.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomContact, WecomRelation, WecomStaffLink } from './model.js';

/** Links a member to a staff account (replaces an earlier link). */
export async function linkStaff(corp: string, input: { userid: string; staffId: string }): Promise<void> {
  await WecomStaffLink.updateOne(
    { corp, userid: input.userid },
    { $set: { staffId: input.staffId } },
    { upsert: true },
  );
}

/**
 * Transfers every active customer of `from` to `to` (100 per call), moves the relationships and hands the
 * profiles owned by `from`'s staff account (or by nobody) to `to`'s. Re-running it continues where it
 * stopped: transferred relationships are no longer `from`'s active ones.
 */
export async function handOver(
  deps: WecomDeps,
  corp: string,
  input: { from: string; to: string; resigned: boolean; by: string },
): Promise<{ transferred: number; failed: number; profilesMoved: number }> {
  const log = deps.logger.child({ corp, from: input.from, to: input.to });
  const [fromLink, toLink] = await Promise.all([
    WecomStaffLink.findOne({ corp, userid: input.from }).lean(),
    WecomStaffLink.findOne({ corp, userid: input.to }).lean(),
  ]);
  const relations = await WecomRelation.find({ corp, userid: input.from, status: 'active' }).lean();
  let transferred = 0;
  let failed = 0;
  let profilesMoved = 0;
  for (let i = 0; i < relations.length; i += 100) {
    const chunk = relations.slice(i, i + 100);
    let results: { externalUserId: string; errcode: number }[];
    try {
      results = await transferCustomer(clientOf(deps, corp), {
        handoverUserid: input.from,
        takeoverUserid: input.to,
        externalUserIds: chunk.map((r) => r.externalUserId),
        resigned: input.resigned,
      });
    } catch (err) {
      if (!isPlatformError(err) || err.retryable) throw err;
      log.warn({ errcode: err.errcode }, 'wecom hand-over refused');
      failed += chunk.length;
      continue;
    }
    const ok = new Set(results.filter((r) => r.errcode === 0).map((r) => r.externalUserId));
    for (const r of chunk) {
      if (!ok.has(r.externalUserId)) {
        failed += 1;
        const code = results.find((x) => x.externalUserId === r.externalUserId)?.errcode ?? -1;
        await WecomRelation.updateOne({ _id: r._id }, { $set: { transferFailReason: `errcode ${code}` } });
        continue;
      }
      await WecomRelation.updateOne(
        { corp, externalUserId: r.externalUserId, userid: input.to },
        {
          $set: {
            profileId: r.profileId,
            status: 'active',
            addedAt: deps.now(),
            tags: r.tags,
            remark: r.remark ?? '',
            ...(r.state ? { state: r.state } : {}),
          },
        },
        { upsert: true },
      );
      await WecomRelation.updateOne({ _id: r._id }, { $set: { status: 'transferred' } });
      transferred += 1;
      if (r.profileId && toLink) {
        const profileId = new Types.ObjectId(r.profileId);
        const view = await deps.crm.profiles.view({ profileId });
        const owner = view.profile.ownerStaffId;
        if (!owner || owner === fromLink?.staffId) {
          await deps.crm.profiles.update({ profileId, patch: { ownerStaffId: toLink.staffId }, by: input.by });
          profilesMoved += 1;
        }
      }
    }
  }
  log.info({ transferred, failed, profilesMoved }, 'wecom hand-over done');
  return { transferred, failed, profilesMoved };
}

/** Customers who deleted their member, newest first (the loss report). */
export async function lossReport(
  corp: string,
  since?: Date,
): Promise<{ externalUserId: string; userid: string; profileId?: string; state?: string; lostAt: string }[]> {
  const rows = await WecomRelation.find({
    corp,
    status: 'deleted_by_customer',
    ...(since ? { lostAt: { $gte: since } } : {}),
  })
    .sort({ lostAt: -1 })
    .limit(500)
    .lean();
  return rows.map((r) => ({
    externalUserId: r.externalUserId,
    userid: r.userid,
    ...(r.profileId ? { profileId: r.profileId } : {}),
    ...(r.state ? { state: r.state } : {}),
    lostAt: (r.lostAt ?? r.updatedAt).toISOString(),
  }));
}

/** Contacts joined only by their external_userid (no unionid): staff decide whether they are someone known. */
export async function reviewCandidates(
  corp: string,
): Promise<{ externalUserId: string; name: string; profileId?: string }[]> {
  const rows = await WecomContact.find({ corp, reviewCandidate: true }).sort({ createdAt: -1 }).limit(500).lean();
  return rows.map((r) => ({
    externalUserId: r.externalUserId,
    name: r.name ?? '',
    ...(r.profileId ? { profileId: r.profileId } : {}),
  }));
}
