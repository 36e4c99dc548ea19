/**
 * Passive replies (docs: wechat-platform §3): typed builders, and rendering to the reply XML.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
 */
import { renderXml, type XmlOut } from './xml.js';

export interface NewsArticle {
  title: string;
  description?: string;
  picUrl?: string;
  url?: string;
}

export type Reply =
  | { type: 'text'; content: string }
  | { type: 'image'; mediaId: string }
  | { type: 'voice'; mediaId: string }
  | { type: 'video'; mediaId: string; title?: string; description?: string }
  | {
      type: 'music';
      thumbMediaId: string;
      title?: string;
      description?: string;
      musicUrl?: string;
      hqMusicUrl?: string;
    }
  | { type: 'news'; articles: NewsArticle[] }
  | { type: 'transfer_customer_service'; kfAccount?: string };

/** Articles allowed in a news reply to an event; a reply to a user's message may carry only one. */
export const NEWS_MAX_ARTICLES_EVENT = 8;
export const NEWS_MAX_ARTICLES_MESSAGE = 1;

export class ReplyError extends Error {
  readonly code = 'invalid_reply';
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

function required(value: string, what: string): string {
  if (value.length === 0) throw new ReplyError(`${what} must not be empty`);
  return value;
}

/** Reply builders; each checks what WeChat would otherwise reject silently. */
export const replies = {
  text: (content: string): Reply => ({ type: 'text', content: required(content, 'text content') }),
  image: (mediaId: string): Reply => ({ type: 'image', mediaId: required(mediaId, 'image media id') }),
  voice: (mediaId: string): Reply => ({ type: 'voice', mediaId: required(mediaId, 'voice media id') }),
  video: (mediaId: string, options: { title?: string; description?: string } = {}): Reply => ({
    type: 'video',
    mediaId: required(mediaId, 'video media id'),
    ...options,
  }),
  music: (
    thumbMediaId: string,
    options: { title?: string; description?: string; musicUrl?: string; hqMusicUrl?: string } = {},
  ): Reply => ({ type: 'music', thumbMediaId: required(thumbMediaId, 'music thumb media id'), ...options }),
  /** News card(s): 1 to 8 articles; only the first is kept when answering a user's message. */
  news: (articles: NewsArticle[]): Reply => {
    if (articles.length === 0) throw new ReplyError('a news reply needs at least one article');
    if (articles.length > NEWS_MAX_ARTICLES_EVENT)
      throw new ReplyError(`a news reply carries at most ${NEWS_MAX_ARTICLES_EVENT} articles`);
    for (const a of articles) required(a.title, 'article title');
    return { type: 'news', articles };
  },
  /** Hands the conversation to the customer-service system, optionally to one agent. */
  transferToCustomerService: (kfAccount?: string): Reply => ({
    type: 'transfer_customer_service',
    ...(kfAccount ? { kfAccount } : {}),
  }),
};

export interface ReplyAddress {
  /** The user's OpenID (the FromUserName received). */
  toUser: string;
  /** The account's gh_ id (the ToUserName received). */
  fromUser: string;
  /** Unix seconds. */
  createTime: number;
  /** Replies to a user's message allow fewer news articles than replies to events. */
  answering: 'message' | 'event';
}

const optional = (name: string, value: string | undefined): XmlOut => (value === undefined ? [] : [[name, value]]);

/** Renders a reply as the plaintext reply XML. */
export function renderReply(reply: Reply, to: ReplyAddress): string {
  const header: XmlOut = [
    ['ToUserName', to.toUser],
    ['FromUserName', to.fromUser],
    ['CreateTime', to.createTime],
    ['MsgType', reply.type],
  ];
  switch (reply.type) {
    case 'text':
      return renderXml([...header, ['Content', reply.content]]);
    case 'image':
      return renderXml([...header, ['Image', [['MediaId', reply.mediaId]]]]);
    case 'voice':
      return renderXml([...header, ['Voice', [['MediaId', reply.mediaId]]]]);
    case 'video':
      return renderXml([
        ...header,
        [
          'Video',
          [
            ['MediaId', reply.mediaId],
            ...optional('Title', reply.title),
            ...optional('Description', reply.description),
          ],
        ],
      ]);
    case 'music':
      return renderXml([
        ...header,
        [
          'Music',
          [
            ...optional('Title', reply.title),
            ...optional('Description', reply.description),
            ...optional('MusicUrl', reply.musicUrl),
            ...optional('HQMusicUrl', reply.hqMusicUrl),
            ['ThumbMediaId', reply.thumbMediaId],
          ],
        ],
      ]);
    case 'news': {
      const limit = to.answering === 'message' ? NEWS_MAX_ARTICLES_MESSAGE : NEWS_MAX_ARTICLES_EVENT;
      const articles = reply.articles.slice(0, limit);
      return renderXml([
        ...header,
        ['ArticleCount', articles.length],
        [
          'Articles',
          articles.map((a): [string, XmlOut] => [
            'item',
            [
              ['Title', a.title],
              ...optional('Description', a.description),
              ...optional('PicUrl', a.picUrl),
              ...optional('Url', a.url),
            ],
          ]),
        ],
      ]);
    }
    case 'transfer_customer_service':
      return renderXml([
        ...header,
        ...(reply.kfAccount ? ([['TransInfo', [['KfAccount', reply.kfAccount]]]] as XmlOut) : []),
      ]);
  }
}
