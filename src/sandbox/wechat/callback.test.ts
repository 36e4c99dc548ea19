import { describe, expect, it } from 'vitest';
import { jsSdkSignature } from '../../platform/wechat/api/jssdk.js';
import { openReply, readPassiveReply, sealPush } from './callback.js';
import type { SandboxWechatAccount } from './state.js';
import { buildXml, parseXml } from './xml.js';

// Vector from the protocol reference (docs: wechat-platform §1.3), checked with wechatpy's WeChatCrypto.
const DOC = {
  account: {
    key: 'doc',
    appid: 'wxb11529c136998cb6',
    secret: 'unused',
    token: 'pamtest',
    encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
    originalId: 'gh_1',
    mode: 'safe',
  } satisfies SandboxWechatAccount,
  random: Buffer.from('aaaabbbbccccdddd'),
  timestamp: '1409304348',
  nonce: 'xxxxxx',
  msg: '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1409304348</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1234567890123456</MsgId></xml>',
  encrypt:
    'jn1L23DB+6ELqJ+6bruv29SUwIc4wSekY5dMNSkBF8Qknd5M5Tak2P5TT8bwaq12lEdOKlck39tj5MvoHjlNvLNwarsfBTsyTSRhQVwdXYwWZIpomHELoCyNHKCfumMSwGt4dL6J9zxTShoPfoIHsYRqD3+1yh3ckF9QKqwGImDcgiMsa1iA9C3iMtSXSM+qAGwjVrsNZG71DpWciKwSvAdqcsIew0tFJGYVtq1Yu3nt9MsFDuvclOVOYJ74WFDnsx8IbuzHPDeSipOrt9f2gmfs9JpVKqitWIBChRNSU+mEOIcBGI+Q653/zXQSdV0TZajStyo2LmqPByfHkk/icyJGGz2r89u52+41bXmV441SrQ9MvX48qq+HqvzUaGAg',
  msgSignature: '6ecb0af38a3965c41eca241b3a053d0d535dac27',
};

// Tencent's own WXBizMsgCrypt sample (Sample.py shipped with the official SDK download): a message
// encrypted by the platform for token "spamtest", appid wx2c2769f8efd9abc2.
const TENCENT_SAMPLE = {
  account: {
    key: 'sample',
    appid: 'wx2c2769f8efd9abc2',
    secret: 'unused',
    token: 'spamtest',
    encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
    originalId: 'gh_10f6c3c3ac5a',
    mode: 'safe',
  } satisfies SandboxWechatAccount,
  timestamp: '1409735669',
  nonce: '1320562132',
  msgSignature: '5d197aaffba7e9b25a30732f161a50dee96bd5fa',
  encrypt:
    'hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=',
};

describe('the sandbox signs and encrypts pushes like WeChat', () => {
  it('reproduces the known-answer Encrypt and msg_signature of a safe-mode push', () => {
    const sealed = sealPush(DOC.account, DOC.msg, 'oUser', {
      timestamp: DOC.timestamp,
      nonce: DOC.nonce,
      random: DOC.random,
    });
    expect(sealed.body).toBe(buildXml({ ToUserName: 'gh_1', Encrypt: DOC.encrypt }));
    expect(sealed.query).toMatchObject({
      msg_signature: DOC.msgSignature,
      encrypt_type: 'aes',
      timestamp: DOC.timestamp,
      nonce: DOC.nonce,
      openid: 'oUser',
    });
  });

  it('signs the URL with the official worked example (Token AAAAA)', () => {
    const account = { ...DOC.account, token: 'AAAAA', mode: 'plain' as const };
    const sealed = sealPush(account, '<xml/>', 'o1', { timestamp: '1714036504', nonce: '1514711492' });
    expect(sealed.query.signature).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696');
    expect(sealed.query).not.toHaveProperty('msg_signature');
    expect(sealed.body).toBe('<xml/>');
  });

  it('sends plain fields and the ciphertext together in compatible mode', async () => {
    const sealed = sealPush({ ...DOC.account, mode: 'compatible' }, DOC.msg, 'oUser', {
      timestamp: DOC.timestamp,
      nonce: DOC.nonce,
      random: DOC.random,
    });
    const parsed = await parseXml(sealed.body);
    expect(parsed).toMatchObject({ Content: 'hi', Encrypt: DOC.encrypt });
    expect(sealed.query.msg_signature).toBe(DOC.msgSignature);
  });
});

describe('the sandbox verifies and decrypts replies like WeChat', () => {
  const envelope = (v: { encrypt: string; msgSignature: string; timestamp: string; nonce: string }) =>
    buildXml({ Encrypt: v.encrypt, MsgSignature: v.msgSignature, TimeStamp: Number(v.timestamp), Nonce: v.nonce });

  it("opens Tencent's published sample message", async () => {
    const opened = await openReply(TENCENT_SAMPLE.account, envelope(TENCENT_SAMPLE));
    expect(opened).toMatchObject({
      kind: 'message',
      message: { ToUserName: 'gh_10f6c3c3ac5a', FromUserName: 'oyORnuP8q7ou2gfYjqLzSIWZf0rs', Content: 'abcdteT' },
    });
  });

  it('opens the reference vector and refuses it once a character of the signature changes', async () => {
    expect(await openReply(DOC.account, envelope(DOC))).toMatchObject({ kind: 'message', message: { Content: 'hi' } });
    const forged = { ...DOC, msgSignature: DOC.msgSignature.replace(/^6/, '7') };
    expect(await openReply(DOC.account, envelope(forged))).toMatchObject({
      kind: 'invalid',
      problem: expect.stringMatching(/MsgSignature/),
    });
  });

  it('refuses a reply encrypted for another appid', async () => {
    const other = { ...DOC.account, appid: 'wx0000000000000000' };
    expect(await openReply(other, envelope(DOC))).toMatchObject({ kind: 'invalid', problem: /decrypt/ });
  });

  it('refuses a plaintext reply in safe mode and accepts it in plaintext mode', async () => {
    const reply = buildXml({ ToUserName: 'oUser', FromUserName: 'gh_1', CreateTime: 1, MsgType: 'text', Content: 'x' });
    expect(await openReply(DOC.account, reply)).toMatchObject({ kind: 'invalid', problem: /encrypted/ });
    expect(await openReply({ ...DOC.account, mode: 'plain' }, reply)).toMatchObject({ kind: 'message' });
  });

  it('treats "success" and an empty body as no reply', async () => {
    expect(await openReply(DOC.account, 'success')).toEqual({ kind: 'none' });
    expect(await openReply(DOC.account, '')).toEqual({ kind: 'none' });
  });

  it('checks a passive reply header and keeps one article when answering a message', async () => {
    const item = { Title: 't', Description: 'd', PicUrl: 'p', Url: 'u' };
    const news = await parseXml(
      buildXml({
        ToUserName: 'oUser',
        FromUserName: 'gh_1',
        CreateTime: 1,
        MsgType: 'news',
        ArticleCount: 2,
        Articles: { item: [item, item] },
      }),
    );
    const read = readPassiveReply(DOC.account, 'oUser', news, true);
    expect(read).toMatchObject({ msgtype: 'news', content: { Articles: { item: [item] } } });
    expect(readPassiveReply(DOC.account, 'oUser', news, false)).toMatchObject({
      content: { Articles: { item: [item, item] } },
    });
    expect(readPassiveReply(DOC.account, 'someoneElse', news, true)).toEqual({
      problem: 'reply ToUserName is not the follower',
    });
  });
});

describe('JS-SDK signature', () => {
  it('matches both official worked examples', () => {
    const base = {
      ticket: 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg',
      nonceStr: 'Wm3WZYTPz0wzccnW',
      timestamp: 1414587457,
    };
    expect(jsSdkSignature({ ...base, url: 'http://mp.weixin.qq.com?params=value' })).toBe(
      '0f9de62fce790f9a083d5c99e95740ceb90c27ed',
    );
    expect(jsSdkSignature({ ...base, url: 'http://mp.weixin.qq.com' })).toBe(
      'f4d90daf4b3bca3078ab155816175ba34c443a7b',
    );
  });
});
