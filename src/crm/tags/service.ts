/**
 * Local tags with groups, tags on profiles, and the two-way sync with WeChat user tags. Outbound changes
 * are queued in Redis and pushed by a job (never on a callback's path); inbound tags come from follower
 * enrichment (WeChat's tagid_list).
 */
import { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import type { CrmDeps } from '../deps.js';
import { Follower } from '../followers/model.js';
import { profileFamily, idsFilter } from '../profiles/family.js';
import { ProfileTag, Tag, TagGroup, type TagDoc, type TagGroupDoc } from './model.js';

export interface PresentedTag {
  id: string;
  groupId: string;
  name: string;
  wechat: { account: string; tagId: number }[];
}

export function presentTag(t: TagDoc): PresentedTag {
  return { id: String(t._id), groupId: String(t.groupId), name: t.name, wechat: t.wechat };
}

/** Creates a tag group (names are unique). */
export async function createTagGroup(
  _deps: CrmDeps,
  input: { name: string; exclusive?: boolean },
): Promise<TagGroupDoc> {
  try {
    return (await TagGroup.create({ name: input.name, exclusive: input.exclusive ?? false })).toObject();
  } catch (err) {
    if (isDuplicateKey(err))
      throw new DomainError('conflict', 'tag_group_exists', 'A tag group with this name exists.');
    throw err;
  }
}

/** Creates a tag in a group (names unique within the group). */
export async function createTag(
  _deps: CrmDeps,
  input: { groupId: Types.ObjectId; name: string; wechat?: { account: string; tagId: number }[] },
): Promise<TagDoc> {
  if (!(await TagGroup.exists({ _id: input.groupId })))
    throw new DomainError('not_found', 'tag_group_not_found', 'No such tag group.');
  try {
    return (await Tag.create({ groupId: input.groupId, name: input.name, wechat: input.wechat ?? [] })).toObject();
  } catch (err) {
    if (isDuplicateKey(err)) throw new DomainError('conflict', 'tag_exists', 'This group already has that tag.');
    throw err;
  }
}

/** Every group with its tags. */
export async function listTags(): Promise<{ id: string; name: string; exclusive: boolean; tags: PresentedTag[] }[]> {
  const [groups, tags] = await Promise.all([
    TagGroup.find().sort({ name: 1 }).lean(),
    Tag.find().sort({ name: 1 }).lean(),
  ]);
  return groups.map((g) => ({
    id: String(g._id),
    name: g.name,
    exclusive: g.exclusive,
    tags: tags.filter((t) => t.groupId.equals(g._id)).map(presentTag),
  }));
}

/** Mirrors a local tag to a WeChat user tag on an account (creating the WeChat tag when no id is given). */
export async function linkWechatTag(
  deps: CrmDeps,
  input: { tagId: Types.ObjectId; account: string; wechatTagId?: number },
): Promise<TagDoc> {
  const tag = await Tag.findById(input.tagId).lean();
  if (!tag) throw new DomainError('not_found', 'tag_not_found', 'No such tag.');
  let wechatTagId = input.wechatTagId;
  if (wechatTagId === undefined) {
    if (!deps.wechatTags)
      throw new DomainError('unavailable', 'wechat_tags_unavailable', 'WeChat tag sync is not set up.');
    wechatTagId = await deps.wechatTags.createTag(input.account, tag.name);
  }
  const wechat = [
    ...tag.wechat.filter((w) => w.account !== input.account),
    { account: input.account, tagId: wechatTagId },
  ];
  await Tag.updateOne({ _id: tag._id }, { $set: { wechat } });
  return { ...tag, wechat };
}

const SYNC_QUEUE = 'crm:tagsync';

/** Adds a tag to a profile (idempotent); an exclusive group drops the profile's other tags of that group. */
export async function addTag(
  deps: CrmDeps,
  input: { profileId: Types.ObjectId; tagId: Types.ObjectId; source: string; syncToWechat?: boolean },
): Promise<{ added: boolean }> {
  const tag = await Tag.findById(input.tagId).lean();
  if (!tag) throw new DomainError('not_found', 'tag_not_found', 'No such tag.');
  const group = await TagGroup.findById(tag.groupId, { exclusive: 1 }).lean();
  if (group?.exclusive) {
    const siblings = await Tag.find({ groupId: tag.groupId, _id: { $ne: tag._id } }, { _id: 1 }).lean();
    for (const s of siblings) await removeTag(deps, { profileId: input.profileId, tagId: s._id, source: input.source });
  }
  let added = true;
  try {
    await ProfileTag.create({ profileId: input.profileId, tagId: input.tagId, source: input.source, at: deps.now() });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    added = false;
  }
  if (added && input.syncToWechat !== false && tag.wechat.length > 0)
    await deps.redis.rpush(
      SYNC_QUEUE,
      JSON.stringify({ op: 'add', profileId: String(input.profileId), tagId: String(tag._id) }),
    );
  return { added };
}

/** Removes a tag from a profile and the profiles merged into it. */
export async function removeTag(
  deps: CrmDeps,
  input: { profileId: Types.ObjectId; tagId: Types.ObjectId; source: string; syncToWechat?: boolean },
): Promise<{ removed: boolean }> {
  const family = await profileFamily(input.profileId);
  const { deletedCount } = await ProfileTag.deleteMany({ profileId: idsFilter(family), tagId: input.tagId });
  if (deletedCount > 0 && input.syncToWechat !== false) {
    const tag = await Tag.findById(input.tagId, { wechat: 1 }).lean();
    if (tag && tag.wechat.length > 0)
      await deps.redis.rpush(
        SYNC_QUEUE,
        JSON.stringify({ op: 'remove', profileId: String(input.profileId), tagId: String(tag._id) }),
      );
  }
  return { removed: deletedCount > 0 };
}

/** Tag ids on a profile and the profiles merged into it. */
export async function tagsOf(profileId: Types.ObjectId): Promise<PresentedTag[]> {
  const family = await profileFamily(profileId);
  const rows = await ProfileTag.find({ profileId: idsFilter(family) }, { tagId: 1 }).lean();
  const ids = [...new Set(rows.map((r) => String(r.tagId)))].map((id) => new Types.ObjectId(id));
  if (ids.length === 0) return [];
  return (await Tag.find({ _id: { $in: ids } }).lean()).map(presentTag);
}

/** Pushes queued tag changes to WeChat (job): one batch of at most `max` changes. */
export async function pushTagChanges(deps: CrmDeps, max = 100): Promise<{ pushed: number; failed: number }> {
  if (!deps.wechatTags) return { pushed: 0, failed: 0 };
  let pushed = 0;
  let failed = 0;
  for (let i = 0; i < max; i += 1) {
    const raw = await deps.redis.lpop(SYNC_QUEUE);
    if (!raw) break;
    const change = JSON.parse(raw) as { op: 'add' | 'remove'; profileId: string; tagId: string };
    const tag = await Tag.findById(change.tagId, { wechat: 1 }).lean();
    if (!tag) continue;
    const family = await profileFamily(new Types.ObjectId(change.profileId));
    const followers = await Follower.find(
      { profileId: idsFilter(family), subscribed: true },
      { account: 1, openid: 1 },
    ).lean();
    try {
      for (const link of tag.wechat) {
        const openids = followers.filter((f) => f.account === link.account).map((f) => f.openid);
        if (openids.length === 0) continue;
        if (change.op === 'add') await deps.wechatTags.tagUsers(link.account, link.tagId, openids);
        else await deps.wechatTags.untagUsers(link.account, link.tagId, openids);
      }
      pushed += 1;
    } catch (err) {
      failed += 1;
      // Back to the end of the queue: the next run retries it.
      await deps.redis.rpush(SYNC_QUEUE, raw);
      deps.logger.warn(
        { err: { message: (err as Error).message }, tagId: change.tagId },
        'crm: wechat tag push failed',
      );
      break;
    }
  }
  return { pushed, failed };
}

/**
 * Applies the WeChat tags a follower carries on an account (from enrichment) to the local mirror tags:
 * mirrored tags WeChat lists are added, mirrored tags it no longer lists are removed. Not pushed back.
 */
export async function applyWechatTags(
  deps: CrmDeps,
  input: { profileId: Types.ObjectId; account: string; wechatTagIds: number[] },
): Promise<void> {
  const mirrored = await Tag.find({ 'wechat.account': input.account }).lean();
  for (const tag of mirrored) {
    const link = tag.wechat.find((w) => w.account === input.account);
    if (!link) continue;
    const opts = { profileId: input.profileId, tagId: tag._id, source: `wechat:${input.account}`, syncToWechat: false };
    if (input.wechatTagIds.includes(link.tagId)) await addTag(deps, opts);
    else await removeTag(deps, opts);
  }
}
