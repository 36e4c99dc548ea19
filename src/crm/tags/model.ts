/**
 * Local tags in groups, and the tags on profiles (one row per profile and tag: adding is an insert under a
 * unique index, so concurrent rules and staff never lose each other's tags).
 */
import mongoose, { Schema, type Types } from 'mongoose';

export interface TagGroupDoc {
  _id: Types.ObjectId;
  name: string;
  /** Only one tag of an exclusive group sits on a profile (adding one removes its siblings). */
  exclusive: boolean;
  createdAt: Date;
}
const tagGroupSchema = new Schema<TagGroupDoc>(
  {
    name: { type: String, required: true },
    exclusive: { type: Boolean, default: false },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'crm_tag_groups' },
);
tagGroupSchema.index({ name: 1 }, { unique: true });
export const TagGroup = mongoose.model<TagGroupDoc>('CrmTagGroup', tagGroupSchema);

export interface TagDoc {
  _id: Types.ObjectId;
  groupId: Types.ObjectId;
  name: string;
  /** WeChat user tags this tag mirrors, per official account (two-way sync). */
  wechat: { account: string; tagId: number }[];
  createdAt: Date;
}
const tagSchema = new Schema<TagDoc>(
  {
    groupId: { type: Schema.Types.ObjectId, required: true },
    name: { type: String, required: true },
    wechat: {
      type: [new Schema({ account: String, tagId: Number }, { _id: false })],
      default: [],
    },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'crm_tags' },
);
tagSchema.index({ groupId: 1, name: 1 }, { unique: true });
// tagsForWechat(account, tagIds) when WeChat reports a follower's tags.
tagSchema.index({ 'wechat.account': 1, 'wechat.tagId': 1 });
export const Tag = mongoose.model<TagDoc>('CrmTag', tagSchema);

export interface ProfileTagDoc {
  _id: Types.ObjectId;
  profileId: Types.ObjectId;
  tagId: Types.ObjectId;
  source: string;
  at: Date;
}
const profileTagSchema = new Schema<ProfileTagDoc>(
  {
    profileId: { type: Schema.Types.ObjectId, required: true },
    tagId: { type: Schema.Types.ObjectId, required: true },
    source: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'crm_profile_tags' },
);
profileTagSchema.index({ profileId: 1, tagId: 1 }, { unique: true });
// searchProfiles({ tagId }).
profileTagSchema.index({ tagId: 1, profileId: -1 });
export const ProfileTag = mongoose.model<ProfileTagDoc>('CrmProfileTag', profileTagSchema);
