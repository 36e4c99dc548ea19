/**
 * Customer groups (客户群): the corp's group chats and their members, synced from WeCom (list + get per
 * chat). External members are joined to their CRM profile through our contact records, so audiences can
 * include or exclude a group's members (`groupMemberProfiles`). Upserts are keyed; members who left are
 * removed with one deleteMany per chat.
 */
import mongoose, { Schema } from 'mongoose';
import { getGroupChat, listGroupChats } from '../platform/wecom/index.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomContact } from './model.js';

const groupSchema = new Schema(
  {
    corp: { type: String, required: true },
    chatId: { type: String, required: true },
    name: { type: String, default: '' },
    owner: { type: String, required: true },
    members: { type: Number, default: 0 },
    syncedAt: { type: Date, required: true },
  },
  { timestamps: true, collection: 'wecom_groups' },
);
groupSchema.index({ corp: 1, chatId: 1 }, { unique: true }); // sync upserts

const memberSchema = new Schema(
  {
    corp: { type: String, required: true },
    chatId: { type: String, required: true },
    /** A member's userid or an external_userid. */
    memberId: { type: String, required: true },
    external: { type: Boolean, required: true },
    profileId: { type: String },
    joinedAt: { type: Date, required: true },
  },
  { collection: 'wecom_group_members' },
);
memberSchema.index({ corp: 1, chatId: 1, memberId: 1 }, { unique: true }); // sync upserts
memberSchema.index({ corp: 1, chatId: 1, profileId: 1 }); // audiences: the profiles in a group

export const WecomGroup = mongoose.model('WecomGroup', groupSchema);
export const WecomGroupMember = mongoose.model('WecomGroupMember', memberSchema);

/** Syncs every customer group chat of the corp with its members; returns the counts. */
export async function syncGroups(deps: WecomDeps, corp: string): Promise<{ groups: number; members: number }> {
  const client = clientOf(deps, corp);
  let cursor: string | undefined;
  let groups = 0;
  let members = 0;
  do {
    const page = await listGroupChats(client, cursor ? { cursor } : {});
    for (const chatId of page.chatIds) {
      const chat = await getGroupChat(client, chatId);
      await WecomGroup.updateOne(
        { corp, chatId },
        { $set: { name: chat.name, owner: chat.owner, members: chat.member_list.length, syncedAt: deps.now() } },
        { upsert: true },
      );
      for (const m of chat.member_list) {
        const external = m.type === 2;
        const contact = external ? await WecomContact.findOne({ corp, externalUserId: m.userid }).lean() : null;
        await WecomGroupMember.updateOne(
          { corp, chatId, memberId: m.userid },
          {
            $set: {
              external,
              joinedAt: new Date(m.join_time * 1000),
              ...(contact?.profileId ? { profileId: contact.profileId } : {}),
            },
          },
          { upsert: true },
        );
      }
      await WecomGroupMember.deleteMany({ corp, chatId, memberId: { $nin: chat.member_list.map((m) => m.userid) } });
      groups += 1;
      members += chat.member_list.length;
    }
    cursor = page.nextCursor;
  } while (cursor);
  deps.logger.info({ corp, groups, members }, 'wecom groups synced');
  return { groups, members };
}

/** The CRM profiles among a group chat's members (for audiences that include or exclude them). */
export async function groupMemberProfiles(corp: string, chatId: string): Promise<string[]> {
  const rows = await WecomGroupMember.find(
    { corp, chatId, external: true, profileId: { $exists: true } },
    { profileId: 1 },
  ).lean();
  return [...new Set(rows.map((r) => r.profileId!))];
}
