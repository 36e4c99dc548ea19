/**
 * Official-account followers: the current state per (account, openid) and the subscribe/unsubscribe history.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export interface FollowerDoc {
  _id: Types.ObjectId;
  account: string;
  openid: string;
  profileId: Types.ObjectId;
  subscribed: boolean;
  /** Time of the event that set `subscribed`; older events arriving late do not override it. */
  stateAt?: Date;
  firstSubscribedAt?: Date;
  lastSubscribedAt?: Date;
  lastUnsubscribedAt?: Date;
  subscribeScene?: string;
  qrScene?: string;
  /** Last message/click/scan from the follower: opens WeChat's 48-hour customer-service window. */
  lastInteractionAt?: Date;
  location?: { latitude: number; longitude: number; precision?: number; at: Date };
  wechatTagIds?: number[];
  infoFetchedAt?: Date;
  createdAt: Date;
}

const followerSchema = new Schema<FollowerDoc>(
  {
    account: { type: String, required: true },
    openid: { type: String, required: true },
    profileId: { type: Schema.Types.ObjectId, required: true },
    subscribed: { type: Boolean, default: false },
    stateAt: Date,
    firstSubscribedAt: Date,
    lastSubscribedAt: Date,
    lastUnsubscribedAt: Date,
    subscribeScene: String,
    qrScene: String,
    lastInteractionAt: Date,
    location: {
      type: new Schema({ latitude: Number, longitude: Number, precision: Number, at: Date }, { _id: false }),
      default: undefined,
    },
    wechatTagIds: { type: [Number], default: undefined },
    infoFetchedAt: Date,
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'crm_followers' },
);
// follower(account, openid): one row per follower, created race-free.
followerSchema.index({ account: 1, openid: 1 }, { unique: true });
// followersOf(profileIds) for tag sync and the profile page.
followerSchema.index({ profileId: 1 });
export const Follower = mongoose.model<FollowerDoc>('CrmFollower', followerSchema);

export interface SubscriptionEventDoc {
  _id: Types.ObjectId;
  /** The gateway's event id (dedup key): a retried callback is recorded once. */
  eventId: string;
  account: string;
  openid: string;
  profileId: Types.ObjectId;
  kind: 'subscribe' | 'unsubscribe';
  resubscribe: boolean;
  scene?: string;
  qrScene?: string;
  at: Date;
}

const subscriptionEventSchema = new Schema<SubscriptionEventDoc>(
  {
    eventId: { type: String, required: true },
    account: { type: String, required: true },
    openid: { type: String, required: true },
    profileId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: ['subscribe', 'unsubscribe'], required: true },
    resubscribe: { type: Boolean, default: false },
    scene: String,
    qrScene: String,
    at: { type: Date, required: true },
  },
  { collection: 'crm_subscription_events' },
);
subscriptionEventSchema.index({ eventId: 1 }, { unique: true });
// subscriptionHistory(account, openid), oldest first.
subscriptionEventSchema.index({ account: 1, openid: 1, at: 1 });
export const SubscriptionEvent = mongoose.model<SubscriptionEventDoc>('CrmSubscriptionEvent', subscriptionEventSchema);
