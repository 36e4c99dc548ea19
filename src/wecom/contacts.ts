/**
 * External contacts joined to CRM profiles. Both the callback events and the sync job end in `recordFollow`:
 * the profile is resolved through the CRM's public functions (the unionid joins the customer's existing
 * profile; without one the contact gets a lead profile of its own and is listed as a review candidate —
 * never merged by guess), then the contact, the staff ↔ customer relationship and the ledger row are
 * upserted under their unique keys, so a replayed event or a re-run sync changes nothing twice.
 */
import { Types } from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import { getExternalContact, type ExternalContactDetail, type WecomEvent } from '../platform/wecom/index.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomContact, WecomLedger, WecomRelation, WecomStaffLink, type LedgerKind } from './model.js';
import { applyStaffTags, flagLoss } from './tags.js';
import { sendWelcome } from './welcome.js';

type Contact = ExternalContactDetail['external_contact'];
type Follow = ExternalContactDetail['follow_user'][number];

/** The ledger (and timeline) key of one add: the same whether the event or the sync job sees it first. */
export function addKeyOf(corp: string, userid: string, externalUserId: string, createtime: number): string {
  return `add:${corp}:${userid}:${externalUserId}:${createtime}`;
}

/** Runs an upsert once more when a concurrent first insert won the unique index. */
async function upsertOnce(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    await run();
  }
}

async function ledger(
  row: { key: string; corp: string; kind: LedgerKind; userid: string; externalUserId: string; state?: string },
  at: Date,
): Promise<boolean> {
  try {
    await WecomLedger.create({ ...row, state: row.state ?? '', at });
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/**
 * Records that `follow.userid` follows the contact: profile, contact, relationship, ledger, staff tags.
 * Returns the profile id.
 */
export async function recordFollow(
  deps: WecomDeps,
  corp: string,
  contact: Contact,
  follow: Follow,
  timeline: { eventId?: string; kind: 'add_external_contact' | 'edit_external_contact' },
): Promise<string> {
  const addedAt = new Date(follow.createtime * 1000);
  const addKey = addKeyOf(corp, follow.userid, contact.external_userid, follow.createtime);
  const { profileId } = await deps.crm.wecom.recordContact({
    eventId: timeline.eventId ?? addKey,
    corp,
    externalUserId: contact.external_userid,
    ...(contact.unionid ? { unionid: contact.unionid } : {}),
    kind: timeline.kind,
    staffUserId: follow.userid,
    at: timeline.kind === 'add_external_contact' ? addedAt : deps.now(),
  });
  await upsertOnce(() =>
    WecomContact.updateOne(
      { corp, externalUserId: contact.external_userid },
      {
        $set: {
          name: contact.name,
          profileId,
          linkedBy: contact.unionid ? 'unionid' : 'external_userid',
          reviewCandidate: !contact.unionid,
          ...(contact.unionid ? { unionid: contact.unionid } : {}),
        },
      },
      { upsert: true },
    ),
  );
  const before = await WecomRelation.findOne(
    { corp, externalUserId: contact.external_userid, userid: follow.userid },
    { tags: 1, status: 1 },
  ).lean();
  const tags = (follow.tags ?? []).filter((t) => t.type === 1 && t.tag_id).map((t) => t.tag_id!);
  await upsertOnce(() =>
    WecomRelation.updateOne(
      { corp, externalUserId: contact.external_userid, userid: follow.userid },
      {
        $set: {
          profileId,
          status: 'active',
          addedAt,
          remark: follow.remark ?? '',
          tags,
          ...(follow.state ? { state: follow.state } : {}),
        },
        $unset: { lostAt: 1, transferFailReason: 1 },
      },
      { upsert: true },
    ),
  );
  await ledger(
    {
      key: addKey,
      corp,
      kind: 'add',
      userid: follow.userid,
      externalUserId: contact.external_userid,
      state: follow.state,
    },
    addedAt,
  );
  const previous = new Set(before?.tags ?? []);
  const now = new Set(tags);
  await applyStaffTags(deps, {
    corp,
    profileId,
    externalUserId: contact.external_userid,
    added: tags.filter((t) => !previous.has(t)),
    removed: [...previous].filter((t) => !now.has(t)),
    names: new Map((follow.tags ?? []).flatMap((t) => (t.tag_id ? [[t.tag_id, t] as const] : []))),
  });
  if (!before) await adoptOwner(deps, corp, follow.userid, profileId);
  return profileId;
}

/** A new relationship gives an unowned profile its owner: the member's linked staff account. */
async function adoptOwner(deps: WecomDeps, corp: string, userid: string, profileId: string): Promise<void> {
  const link = await WecomStaffLink.findOne({ corp, userid }).lean();
  if (!link) return;
  const view = await deps.crm.profiles.view({ profileId: new Types.ObjectId(profileId) });
  if (view.profile.ownerStaffId) return;
  await deps.crm.profiles.update({
    profileId: new Types.ObjectId(profileId),
    patch: { ownerStaffId: link.staffId },
    by: `wecom:${corp}`,
  });
}

/** Fetches a contact and records one member's follow of it (undefined when WeCom no longer has it). */
async function fetchAndRecord(
  deps: WecomDeps,
  corp: string,
  userid: string,
  externalUserId: string,
  timeline: { eventId: string; kind: 'add_external_contact' | 'edit_external_contact' },
): Promise<{ contact: Contact; follow: Follow; profileId: string } | undefined> {
  const detail = await getExternalContact(clientOf(deps, corp), externalUserId);
  const follow = detail.follow_user.find((f) => f.userid === userid);
  if (!follow) return undefined;
  const profileId = await recordFollow(deps, corp, detail.external_contact, follow, {
    eventId: timeline.kind === 'add_external_contact' ? undefined : timeline.eventId,
    kind: timeline.kind,
  });
  return { contact: detail.external_contact, follow, profileId };
}

async function markEnded(
  deps: WecomDeps,
  corp: string,
  event: { userId: string; externalUserId: string; createTime: number; dedupKey: string },
  kind: 'del_follow_user' | 'del_external_contact',
): Promise<void> {
  const status = kind === 'del_follow_user' ? 'deleted_by_customer' : 'deleted_by_staff';
  const at = new Date(event.createTime * 1000);
  const filter = { corp, externalUserId: event.externalUserId, userid: event.userId };
  const relation = await WecomRelation.findOne(filter, { state: 1, profileId: 1 }).lean();
  await WecomRelation.updateOne(filter, {
    $set: { status, ...(kind === 'del_follow_user' ? { lostAt: at } : {}) },
  });
  await ledger(
    {
      key: `${status}:${corp}:${event.userId}:${event.externalUserId}:${event.createTime}`,
      corp,
      kind: kind === 'del_follow_user' ? 'delete_by_customer' : 'delete_by_staff',
      userid: event.userId,
      externalUserId: event.externalUserId,
      state: relation?.state ?? undefined,
    },
    at,
  );
  const contact = await WecomContact.findOne({ corp, externalUserId: event.externalUserId }).lean();
  const { profileId } = await deps.crm.wecom.recordContact({
    eventId: event.dedupKey,
    corp,
    externalUserId: event.externalUserId,
    ...(contact?.unionid ? { unionid: contact.unionid } : {}),
    kind,
    staffUserId: event.userId,
    at,
  });
  if (kind === 'del_follow_user') await flagLoss(deps, profileId);
}

/** Handles one change_external_contact event (idempotent: the callback dedups, and every write is keyed). */
export async function handleWecomEvent(deps: WecomDeps, corp: string, event: WecomEvent): Promise<void> {
  const log = deps.logger.child({ corp, kind: event.kind });
  switch (event.kind) {
    case 'add_external_contact':
    case 'add_half_external_contact': {
      const detail = await getExternalContact(clientOf(deps, corp), event.externalUserId);
      const follow = detail.follow_user.find((f) => f.userid === event.userId);
      if (!follow) {
        log.info('wecom add: the member no longer follows the contact');
        return;
      }
      // The welcome code lives 20 s: send first, record afterwards.
      if (event.welcomeCode)
        await sendWelcome(deps, corp, {
          welcomeCode: event.welcomeCode,
          userid: event.userId,
          externalUserId: event.externalUserId,
          state: event.state ?? follow.state,
          name: detail.external_contact.name,
        });
      await recordFollow(deps, corp, detail.external_contact, follow, { kind: 'add_external_contact' });
      return;
    }
    case 'edit_external_contact':
      await fetchAndRecord(deps, corp, event.userId, event.externalUserId, {
        eventId: event.dedupKey,
        kind: 'edit_external_contact',
      });
      return;
    case 'del_follow_user':
    case 'del_external_contact':
      await markEnded(deps, corp, event, event.kind);
      return;
    case 'transfer_fail':
      await WecomRelation.updateOne(
        { corp, externalUserId: event.externalUserId, userid: event.userId },
        { $set: { transferFailReason: event.failReason ?? 'unknown' } },
      );
      log.warn({ reason: event.failReason }, 'wecom transfer failed');
      return;
    case 'unknown':
      return;
  }
}
