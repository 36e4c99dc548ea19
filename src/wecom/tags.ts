/**
 * Tags both ways between WeCom corp tags and CRM tags. The rules (also in README):
 *  1. One corp tag mirrors exactly one CRM tag (wecom_tag_links). A corp tag first seen on a customer gets a
 *     CRM tag of the same name in the CRM group "企微·<corp tag group>"; `linkCrmTag` goes the other way and
 *     creates the corp tag (group "SCRM") for a CRM tag.
 *  2. WeCom → CRM: a tag a member puts on a customer is added to the profile. Removing it in WeCom removes
 *     the CRM tag only when no other member of the corp still has it on that customer.
 *  3. CRM → WeCom (`pushProfileTags`): every linked CRM tag on the profile is marked on each active
 *     relationship (as that member); a linked tag no longer on the profile is unmarked. The CRM is the
 *     reference here, so an auto-tag rule reaches WeCom.
 *  4. Tags without a link never cross; removals never touch CRM tags set by other sources unless linked.
 */
import { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../infra/errors.js';
import { addCorpTag, markTag } from '../platform/wecom/index.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomRelation, WecomTagLink } from './model.js';

const LOSS_GROUP = '企业微信';
const LOSS_TAG = '已删除顾问';

/** The CRM tag called `tagName` in `groupName`, created when missing (racing creators agree by name). */
export async function ensureCrmTag(deps: WecomDeps, groupName: string, tagName: string): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const groups = await deps.crm.tags.list();
    const group = groups.find((g) => g.name === groupName);
    const tag = group?.tags.find((t) => t.name === tagName);
    if (tag) return tag.id;
    try {
      const groupId = group ? new Types.ObjectId(group.id) : (await deps.crm.tags.createGroup({ name: groupName }))._id;
      return String((await deps.crm.tags.create({ groupId, name: tagName }))._id);
    } catch (err) {
      if (!(err instanceof DomainError && (err.code === 'tag_group_exists' || err.code === 'tag_exists'))) throw err;
    }
  }
  throw new DomainError('unavailable', 'tag_contention', 'The tag is being created concurrently; retry.');
}

async function link(corp: string, wecomTagId: string, crmTagId: string): Promise<string> {
  try {
    await WecomTagLink.create({ corp, wecomTagId, crmTagId });
    return crmTagId;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const first = await WecomTagLink.findOne({ corp, wecomTagId }).lean();
    return first?.crmTagId ?? crmTagId;
  }
}

/** The CRM tag a corp tag mirrors (created and linked on first sight). */
async function crmTagOf(
  deps: WecomDeps,
  corp: string,
  wecomTagId: string,
  names: { group_name: string; tag_name: string } | undefined,
): Promise<string | undefined> {
  const existing = await WecomTagLink.findOne({ corp, wecomTagId }).lean();
  if (existing) return existing.crmTagId;
  if (!names) return undefined;
  return link(corp, wecomTagId, await ensureCrmTag(deps, `企微·${names.group_name}`, names.tag_name));
}

/** WeCom → CRM: applies one relationship's tag changes to the profile (rule 2). */
export async function applyStaffTags(
  deps: WecomDeps,
  input: {
    corp: string;
    profileId: string;
    externalUserId: string;
    added: string[];
    removed: string[];
    names: Map<string, { group_name: string; tag_name: string }>;
  },
): Promise<void> {
  const profileId = new Types.ObjectId(input.profileId);
  for (const wecomTagId of input.added) {
    const crmTagId = await crmTagOf(deps, input.corp, wecomTagId, input.names.get(wecomTagId));
    if (crmTagId)
      await deps.crm.tags.add({ profileId, tagId: new Types.ObjectId(crmTagId), source: `wecom:${input.corp}` });
  }
  for (const wecomTagId of input.removed) {
    const stillTagged = await WecomRelation.exists({
      corp: input.corp,
      externalUserId: input.externalUserId,
      status: 'active',
      tags: wecomTagId,
    });
    if (stillTagged) continue;
    const crmTagId = await crmTagOf(deps, input.corp, wecomTagId, undefined);
    if (crmTagId)
      await deps.crm.tags.remove({ profileId, tagId: new Types.ObjectId(crmTagId), source: `wecom:${input.corp}` });
  }
}

/** Links a CRM tag to a corp tag, creating the corp tag (group "SCRM") when no id is given. */
export async function linkCrmTag(
  deps: WecomDeps,
  corp: string,
  input: { crmTagId: string; wecomTagId?: string },
): Promise<{ wecomTagId: string }> {
  const tag = (await deps.crm.tags.list()).flatMap((g) => g.tags).find((t) => t.id === input.crmTagId);
  if (!tag) throw new DomainError('not_found', 'tag_not_found', 'No such CRM tag.');
  let wecomTagId = input.wecomTagId;
  if (!wecomTagId) {
    const group = await addCorpTag(clientOf(deps, corp), { groupName: 'SCRM', tags: [{ name: tag.name }] });
    wecomTagId = group.tag[0]?.id;
    if (!wecomTagId) throw new DomainError('unavailable', 'corp_tag_not_created', 'WeCom did not create the tag.');
  }
  await link(corp, wecomTagId, input.crmTagId);
  return { wecomTagId };
}

/** CRM → WeCom: marks and unmarks linked tags on every active relationship of the profile (rule 3). */
export async function pushProfileTags(
  deps: WecomDeps,
  corp: string,
  profileId: string,
): Promise<{ marked: number; unmarked: number }> {
  const crmTags = new Set((await deps.crm.tags.of(new Types.ObjectId(profileId))).map((t) => t.id));
  const links = await WecomTagLink.find({ corp }).lean();
  const wanted = new Set(links.filter((l) => crmTags.has(l.crmTagId)).map((l) => l.wecomTagId));
  const linked = new Set(links.map((l) => l.wecomTagId));
  const relations = await WecomRelation.find({ corp, profileId, status: 'active' }).lean();
  let marked = 0;
  let unmarked = 0;
  for (const r of relations) {
    const have = new Set(r.tags);
    const add = [...wanted].filter((t) => !have.has(t));
    const remove = r.tags.filter((t) => linked.has(t) && !wanted.has(t));
    if (add.length === 0 && remove.length === 0) continue;
    await markTag(clientOf(deps, corp), { userid: r.userid, externalUserId: r.externalUserId, add, remove });
    const tags = [...r.tags.filter((t) => !remove.includes(t)), ...add];
    await WecomRelation.updateOne({ _id: r._id }, { $set: { tags } });
    marked += add.length;
    unmarked += remove.length;
  }
  return { marked, unmarked };
}

/** Flags a profile whose customer deleted their adviser (the loss alert's mark on the profile). */
export async function flagLoss(deps: WecomDeps, profileId: string): Promise<void> {
  const tagId = await ensureCrmTag(deps, LOSS_GROUP, LOSS_TAG);
  await deps.crm.tags.add({
    profileId: new Types.ObjectId(profileId),
    tagId: new Types.ObjectId(tagId),
    source: 'wecom',
  });
}
