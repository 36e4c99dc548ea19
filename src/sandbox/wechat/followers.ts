/**
 * The follower's phone: what a person does in the chat (follow, write, tap the menu, scan, share their
 * location, unfollow), turned into the push WeChat would make, with the platform's own bookkeeping first
 * (subscription, customer-service windows), since WeChat records those whatever our server answers.
 */
import type { PushResult } from './callback.js';
import type { WechatEnv } from './env.js';
import type { AccountState, InboxEntry, SandboxFollower } from './state.js';

/** A step a real follower could not take (e.g. writing to an account they do not follow). */
export class SandboxUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxUsageError';
  }
}

export interface FollowerSnapshot {
  openid: string;
  unionid: string;
  subscribed: boolean;
  subscribeTime?: number;
  subscribeScene?: string;
  qrScene?: number;
  qrSceneStr?: string;
  tagIds: number[];
  remark: string;
  typing: boolean;
  blocksTemplates: boolean;
  windows: { message?: { until: string; left: number }; event?: { until: string; left: number } };
  inboxSize: number;
}

export interface FollowerDriver {
  readonly openid: string;
  /** Follows the account (plain search by default, or through a parametric QR ticket). */
  subscribe(options?: { scene?: string; ticket?: string }): Promise<PushResult>;
  unsubscribe(): Promise<PushResult>;
  /** Writes a text message. */
  send(text: string): Promise<PushResult>;
  sendImage(mediaId?: string): Promise<PushResult>;
  /** Sends a location message (the follower shares a place in the chat). */
  sendLocation(place: { latitude: number; longitude: number; scale?: number; label?: string }): Promise<PushResult>;
  /** Taps a click-type menu button. */
  click(key: string): Promise<PushResult>;
  /** Taps a link-type menu button. */
  view(url: string): Promise<PushResult>;
  /** Scans a parametric QR code: SCAN when following, a subscribe with `qrscene_` otherwise. */
  scan(ticket: string): Promise<PushResult>;
  /** The periodic location report (LOCATION event). */
  location(report: { latitude: number; longitude: number; precision?: number }): Promise<PushResult>;
  /** Refuses (or accepts again) template messages from the account. */
  blockTemplates(block: boolean): void;
  inbox(): InboxEntry[];
  snapshot(): FollowerSnapshot;
}

const MESSAGE_WINDOW = { ms: 48 * 3600_000, messages: 5 };
const EVENT_WINDOW = { ms: 60_000, messages: 3 };

export function snapshotOf(env: WechatEnv, f: SandboxFollower): FollowerSnapshot {
  const now = env.clock.now();
  const win = (w: SandboxFollower['messageWindow']) =>
    w && w.until > now ? { until: new Date(w.until).toISOString(), left: w.left } : undefined;
  return {
    openid: f.openid,
    unionid: f.unionid,
    subscribed: f.subscribed,
    subscribeTime: f.subscribeTime,
    subscribeScene: f.subscribeScene,
    qrScene: f.qrScene,
    qrSceneStr: f.qrSceneStr,
    tagIds: [...f.tagIds],
    remark: f.remark,
    typing: f.typingUntil !== undefined && f.typingUntil > now,
    blocksTemplates: f.blocksTemplates,
    windows: { message: win(f.messageWindow), event: win(f.eventWindow) },
    inboxSize: f.inbox.length,
  };
}

export function followerDriver(env: WechatEnv, state: AccountState, openid: string): FollowerDriver {
  const f = env.state.follower(state, openid);
  const account = state.account;
  const push = (fields: Parameters<WechatEnv['driver']['push']>[2]) => env.driver.push(account, f, fields);
  const openEventWindow = () => {
    f.eventWindow = { until: env.clock.now() + EVENT_WINDOW.ms, left: EVENT_WINDOW.messages };
  };
  const requireFollowing = (what: string) => {
    if (!f.subscribed) throw new SandboxUsageError(`${openid} does not follow ${account.key} and cannot ${what}`);
  };
  const message = (fields: Record<string, string | number>) => {
    requireFollowing('write to it');
    f.messageWindow = { until: env.clock.now() + MESSAGE_WINDOW.ms, left: MESSAGE_WINDOW.messages };
    return push({ ...fields, MsgId: env.state.nextInboundMsgId() });
  };
  const follow = (extra: { scene: string; eventKey?: string; ticket?: string; qr?: { id?: number; str?: string } }) => {
    if (f.subscribed) throw new SandboxUsageError(`${openid} already follows ${account.key}`);
    f.subscribed = true;
    f.subscribeTime = env.clock.nowSeconds();
    f.subscribeScene = extra.scene;
    f.qrScene = extra.qr?.id;
    f.qrSceneStr = extra.qr?.str;
    f.messageWindow = undefined;
    openEventWindow();
    return push({
      MsgType: 'event',
      Event: 'subscribe',
      EventKey: extra.eventKey ?? '',
      ...(extra.ticket ? { Ticket: extra.ticket } : {}),
    });
  };

  const driver: FollowerDriver = {
    openid,
    subscribe(options = {}) {
      if (options.ticket) return driver.scan(options.ticket);
      return follow({ scene: options.scene ?? 'ADD_SCENE_SEARCH' });
    },
    unsubscribe() {
      requireFollowing('unfollow it');
      f.subscribed = false;
      f.messageWindow = undefined;
      f.eventWindow = undefined;
      f.typingUntil = undefined;
      return push({ MsgType: 'event', Event: 'unsubscribe', EventKey: '' });
    },
    send: (text) => message({ MsgType: 'text', Content: text }),
    sendImage: (mediaId = `media_${Date.now()}`) =>
      message({ MsgType: 'image', PicUrl: `http://mmbiz.qpic.cn/sandbox/${mediaId}`, MediaId: mediaId }),
    sendLocation: (place) =>
      message({
        MsgType: 'location',
        Location_X: place.latitude,
        Location_Y: place.longitude,
        Scale: place.scale ?? 15,
        Label: place.label ?? '',
      }),
    click(key) {
      requireFollowing('use its menu');
      openEventWindow();
      return push({ MsgType: 'event', Event: 'CLICK', EventKey: key });
    },
    view(url) {
      requireFollowing('use its menu');
      return push({
        MsgType: 'event',
        Event: 'VIEW',
        EventKey: url,
        ...(state.menu ? { MenuId: state.menu.menuid } : {}),
      });
    },
    scan(ticket) {
      const qr = state.qrTickets.get(ticket);
      if (!qr) throw new SandboxUsageError(`no QR code of ${account.key} has ticket ${ticket}`);
      if (qr.expiresAt !== undefined && qr.expiresAt <= env.clock.now())
        throw new SandboxUsageError('the QR code has expired');
      const scene = qr.sceneStr ?? String(qr.sceneId);
      if (!f.subscribed)
        return follow({
          scene: 'ADD_SCENE_QR_CODE',
          eventKey: `qrscene_${scene}`,
          ticket,
          qr: { id: qr.sceneId, str: qr.sceneStr },
        });
      openEventWindow();
      return push({ MsgType: 'event', Event: 'SCAN', EventKey: scene, Ticket: ticket });
    },
    location(report) {
      requireFollowing('report its location');
      return push({
        MsgType: 'event',
        Event: 'LOCATION',
        Latitude: report.latitude,
        Longitude: report.longitude,
        Precision: report.precision ?? 65,
      });
    },
    blockTemplates(block) {
      f.blocksTemplates = block;
    },
    inbox: () => [...f.inbox],
    snapshot: () => snapshotOf(env, f),
  };
  return driver;
}
