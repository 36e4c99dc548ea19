/** The typed inbound model: every message and event type of the protocol reference (§2), parsed from XML. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dedupKeyOf, parseInbound, type Inbound } from '../../src/platform/wechat/inbound.js';
import { parseXml } from '../../src/platform/wechat/xml.js';
import { pushXml } from '../support/wechat-callback.js';

const head = { ToUserName: 'gh_1', FromUserName: 'oUser', CreateTime: 1700000000 };
const parse = (fields: Parameters<typeof pushXml>[0]): Inbound =>
  parseInbound(parseXml(pushXml({ ...head, ...fields })));
const msg = (type: string, fields: Parameters<typeof pushXml>[0] = {}) =>
  parse({ MsgType: type, ...fields, MsgId: '6054768590064713728' });
const ev = (event: string, fields: Parameters<typeof pushXml>[0] = {}) =>
  parse({ MsgType: 'event', Event: event, ...fields });

describe('ordinary messages', () => {
  it('text keeps its content verbatim (spaces, CDATA terminators, newlines)', () => {
    expect(msg('text', { Content: '  hi ]]> there\n' })).toMatchObject({
      kind: 'message',
      type: 'text',
      content: '  hi ]]> there\n',
      msgId: '6054768590064713728',
      openid: 'oUser',
      toUserName: 'gh_1',
      createTime: 1700000000,
    });
  });
  it('text from a customer-service menu tap carries bizmsgmenuid', () => {
    expect(msg('text', { Content: 'yes', bizmsgmenuid: '101' })).toMatchObject({ bizMsgMenuId: '101' });
  });
  it('image, voice (with recognition), video, shortvideo', () => {
    expect(msg('image', { PicUrl: 'http://p', MediaId: 'M' })).toMatchObject({
      type: 'image',
      picUrl: 'http://p',
      mediaId: 'M',
    });
    expect(msg('voice', { MediaId: 'M', Format: 'amr', Recognition: '你好' })).toMatchObject({
      type: 'voice',
      format: 'amr',
      recognition: '你好',
    });
    expect(msg('video', { MediaId: 'M', ThumbMediaId: 'T' })).toMatchObject({ type: 'video', thumbMediaId: 'T' });
    expect(msg('shortvideo', { MediaId: 'M', ThumbMediaId: 'T' })).toMatchObject({ type: 'shortvideo' });
  });
  it('location, link, miniprogrampage', () => {
    expect(msg('location', { Location_X: 23.134521, Location_Y: 113.358803, Scale: 20, Label: '位置' })).toMatchObject({
      type: 'location',
      latitude: 23.134521,
      longitude: 113.358803,
      scale: 20,
      label: '位置',
    });
    expect(msg('link', { Title: 't', Description: 'd', Url: 'http://u' })).toMatchObject({
      type: 'link',
      url: 'http://u',
    });
    expect(
      msg('miniprogrampage', { AppId: 'wxa', Title: 't', PagePath: 'p', ThumbUrl: 'u', ThumbMediaId: 'm' }),
    ).toMatchObject({
      type: 'miniprogrampage',
      appId: 'wxa',
      pagePath: 'p',
    });
  });
  it('an unknown message type is kept with all its fields', () => {
    const m = msg('hologram', { Depth: '3' });
    expect(m).toMatchObject({ kind: 'message', type: 'unknown', msgType: 'hologram', msgId: '6054768590064713728' });
    expect(m.fields.Depth).toBe('3');
  });
  it('trims whitespace around identifiers as in the official sample (`<MsgType>  <![CDATA[video]]>`)', () => {
    const xml = pushXml({
      ...head,
      MsgType: { raw: '  <![CDATA[video]]>' },
      MediaId: 'M',
      ThumbMediaId: 'T',
      MsgId: 1,
    });
    expect(parseInbound(parseXml(xml))).toMatchObject({ type: 'video' });
  });
});

describe('events', () => {
  it('subscribe, with and without a QR scene', () => {
    expect(ev('subscribe', { EventKey: '' })).toMatchObject({ kind: 'event', event: 'subscribe' });
    expect(ev('subscribe', { EventKey: '' })).not.toHaveProperty('sceneId');
    expect(ev('subscribe', { EventKey: 'qrscene_123123', Ticket: 'TICKET' })).toMatchObject({
      event: 'subscribe',
      sceneId: '123123',
      ticket: 'TICKET',
    });
  });
  it('unsubscribe, SCAN, LOCATION', () => {
    expect(ev('unsubscribe')).toMatchObject({ event: 'unsubscribe' });
    expect(ev('SCAN', { EventKey: 'scene_str_1', Ticket: 'T' })).toMatchObject({
      event: 'SCAN',
      sceneId: 'scene_str_1',
    });
    expect(ev('LOCATION', { Latitude: 23.1, Longitude: 113.3, Precision: 119.385 })).toMatchObject({
      event: 'LOCATION',
      latitude: 23.1,
      longitude: 113.3,
      precision: 119.385,
    });
  });
  it('CLICK, VIEW (with MenuId), view_miniprogram', () => {
    expect(ev('CLICK', { EventKey: 'V1001' })).toMatchObject({ event: 'CLICK', key: 'V1001' });
    expect(ev('VIEW', { EventKey: 'http://x', MenuId: '7' })).toMatchObject({
      event: 'VIEW',
      url: 'http://x',
      menuId: '7',
    });
    expect(ev('view_miniprogram', { EventKey: 'pages/i', MenuId: '8' })).toMatchObject({
      pagePath: 'pages/i',
      menuId: '8',
    });
  });
  it('scancode_push / scancode_waitmsg', () => {
    for (const name of ['scancode_push', 'scancode_waitmsg'])
      expect(
        ev(name, { EventKey: 'k', ScanCodeInfo: { raw: '<ScanType>qrcode</ScanType><ScanResult>1</ScanResult>' } }),
      ).toMatchObject({
        event: name,
        key: 'k',
        scanType: 'qrcode',
        scanResult: '1',
      });
  });
  it('pic_* events normalise one or many items to a list', () => {
    const one = '<Count>1</Count><PicList><item><PicMd5Sum><![CDATA[a1]]></PicMd5Sum></item></PicList>';
    const two =
      '<Count>2</Count><PicList><item><PicMd5Sum>a1</PicMd5Sum></item><item><PicMd5Sum>b2</PicMd5Sum></item></PicList>';
    expect(ev('pic_sysphoto', { EventKey: 'k', SendPicsInfo: { raw: one } })).toMatchObject({
      count: 1,
      picMd5Sums: ['a1'],
    });
    expect(ev('pic_photo_or_album', { EventKey: 'k', SendPicsInfo: { raw: two } })).toMatchObject({
      count: 2,
      picMd5Sums: ['a1', 'b2'],
    });
    expect(ev('pic_weixin', { EventKey: 'k' })).toMatchObject({ count: 0, picMd5Sums: [] });
  });
  it('location_select', () => {
    const info =
      '<Location_X>23</Location_X><Location_Y>113</Location_Y><Scale>15</Scale><Label><![CDATA[ 广州 ]]></Label><Poiname></Poiname>';
    expect(ev('location_select', { EventKey: 'k', SendLocationInfo: { raw: info } })).toMatchObject({
      event: 'location_select',
      latitude: 23,
      longitude: 113,
      scale: 15,
      label: '广州',
    });
  });
  it('TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH (MsgID with a capital D)', () => {
    expect(ev('TEMPLATESENDJOBFINISH', { MsgID: 200163836, Status: 'failed:user block' })).toMatchObject({
      msgId: '200163836',
      status: 'failed:user block',
    });
    expect(
      ev('MASSSENDJOBFINISH', {
        MsgID: 1988,
        Status: 'send success',
        TotalCount: 100,
        FilterCount: 80,
        SentCount: 75,
        ErrorCount: 5,
      }),
    ).toMatchObject({ msgId: '1988', totalCount: 100, filterCount: 80, sentCount: 75, errorCount: 5 });
  });
  it('subscribe_msg_popup_event / change / sent, one or many List entries', () => {
    const popup =
      '<List><TemplateId>T1</TemplateId><SubscribeStatusString>accept</SubscribeStatusString><PopupScene>2</PopupScene></List>' +
      '<List><TemplateId>T2</TemplateId><SubscribeStatusString>reject</SubscribeStatusString><PopupScene>2</PopupScene></List>';
    expect(ev('subscribe_msg_popup_event', { SubscribeMsgPopupEvent: { raw: popup } })).toMatchObject({
      items: [
        { templateId: 'T1', status: 'accept', popupScene: '2' },
        { templateId: 'T2', status: 'reject', popupScene: '2' },
      ],
    });
    const change = '<List><TemplateId>T3</TemplateId><SubscribeStatusString>reject</SubscribeStatusString></List>';
    expect(ev('subscribe_msg_change_event', { SubscribeMsgChangeEvent: { raw: change } })).toMatchObject({
      items: [{ templateId: 'T3', status: 'reject' }],
    });
    const sent =
      '<List><TemplateId>T4</TemplateId><MsgID>99</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List>';
    expect(ev('subscribe_msg_sent_event', { SubscribeMsgSentEvent: { raw: sent } })).toMatchObject({
      items: [{ templateId: 'T4', msgId: '99', errorCode: '0', errorStatus: 'success' }],
    });
  });
  it('customer-service session events', () => {
    expect(ev('kf_switch_session', { FromKfAccount: 'a@x', ToKfAccount: 'b@x' })).toMatchObject({
      fromKfAccount: 'a@x',
      toKfAccount: 'b@x',
    });
  });
  it('an unknown event is kept, not rejected', () => {
    expect(ev('user_pay_from_pay_cell', { EventKey: 'z' })).toMatchObject({
      event: 'unknown',
      eventName: 'user_pay_from_pay_cell',
      key: 'z',
    });
  });
});

describe('header and dedup identity', () => {
  it('refuses a document without FromUserName, MsgType or a numeric CreateTime', () => {
    expect(() => parseInbound(parseXml('<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>'))).toThrow(
      /required/,
    );
    expect(() =>
      parseInbound(parseXml('<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>')),
    ).toThrow();
    expect(() =>
      parseInbound(
        parseXml('<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><CreateTime>x</CreateTime></xml>'),
      ),
    ).toThrow();
  });
  it('keys messages by openid + MsgId and events by openid + CreateTime + Event + EventKey', () => {
    expect(dedupKeyOf(msg('text', { Content: 'a' }))).toBe('m:oUser:6054768590064713728');
    expect(dedupKeyOf(ev('CLICK', { EventKey: 'K' }))).toBe('e:oUser:1700000000:CLICK:K');
  });
  it('keys job receipts by their MsgID: two in the same second to one follower are both kept', () => {
    const first = dedupKeyOf(ev('TEMPLATESENDJOBFINISH', { MsgID: '200163836', Status: 'success' }));
    const second = dedupKeyOf(ev('TEMPLATESENDJOBFINISH', { MsgID: '200163840', Status: 'success' }));
    expect(first).toBe('e:oUser:TEMPLATESENDJOBFINISH:200163836');
    expect(second).not.toBe(first);
    expect(dedupKeyOf(ev('MASSSENDJOBFINISH', { MsgID: '1000001625', Status: 'send success' }))).toBe(
      'e:oUser:MASSSENDJOBFINISH:1000001625',
    );
  });
});

/** Code points XML 1.0 cannot carry (WeChat never sends them). */
const XML_FORBIDDEN = (cp: number) =>
  (cp < 0x20 && cp !== 0x9 && cp !== 0xa && cp !== 0xd) || cp === 0xfffe || cp === 0xffff;

describe('XML codec', () => {
  it('refuses DOCTYPE and entity declarations in any case', () => {
    for (const bad of ['<!DOCTYPE x><xml/>', '<!doctype x><xml/>', '<xml><!ENTITY a "b"></xml>', '<! DOCTYPE x><xml/>'])
      expect(() => parseXml(bad)).toThrow(expect.objectContaining({ code: 'xml_doctype_refused' }) as Error);
  });
  it('text content round-trips through CDATA for any string', () => {
    fc.assert(
      fc.property(
        // XML 1.0 cannot carry most control characters: WeChat never sends them.
        fc
          .string({ unit: 'grapheme', maxLength: 300 })
          .filter((s) => ![...s].some((ch) => XML_FORBIDDEN(ch.codePointAt(0)!))),
        (content) => {
          const parsed = parseInbound(parseXml(pushXml({ ...head, MsgType: 'text', Content: content, MsgId: 1 })));
          expect(parsed).toMatchObject({ type: 'text', content: content.replace(/\r\n?/g, '\n') });
        },
      ),
      { numRuns: 300 },
    );
  });
});
