/**
 * Known-answer vectors from published sources, and round-trip properties of WXBizMsgCrypt.
 *  - Tencent's official WXBizMsgCrypt Python sample (Sample.py, token "spamtest"; copies in
 *    charlesXu86/Chatbot_CN and wegostudio/wego tests/crypto/tests.py);
 *  - wechatpy tests/test_crypto.py (WeCom variant of the same scheme, receiveId = CorpID);
 *  - the official URL-verification worked example (docs: wechat-platform §1.1);
 *  - the protocol reference's own vector lives in src/platform/wechat/crypto.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMessageCrypto, sha1Signature, signaturesEqual } from '../../src/platform/wechat/crypto.js';
import { parseXml, textOf } from '../../src/platform/wechat/xml.js';

describe('known answers', () => {
  it("decrypts Tencent's official sample message and reproduces its msg_signature", () => {
    const v = {
      token: 'spamtest',
      aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
      appid: 'wx2c2769f8efd9abc2',
      timestamp: '1409735669',
      nonce: '1320562132',
      msgSignature: '5d197aaffba7e9b25a30732f161a50dee96bd5fa',
      encrypt:
        'hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=',
    };
    expect(sha1Signature(v.token, v.timestamp, v.nonce, v.encrypt)).toBe(v.msgSignature);
    const xml = createMessageCrypto(v.aesKey, v.appid).decrypt(v.encrypt);
    const fields = parseXml(xml);
    expect(textOf(fields, 'FromUserName')).toBe('oyORnuP8q7ou2gfYjqLzSIWZf0rs');
    expect(textOf(fields, 'Content')).toBe('abcdteT');
    expect(textOf(fields, 'MsgId')).toBe('6054768590064713728');
    // The same ciphertext under another appid is refused.
    expect(() => createMessageCrypto(v.aesKey, 'wx0000000000000000').decrypt(v.encrypt)).toThrow(
      expect.objectContaining({ code: 'receive_id_mismatch' }) as Error,
    );
  });

  const wechatpy = { token: '123456', aesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR', id: 'wx49f0ab532d5d035a' };

  it("reproduces wechatpy's encrypted reply byte for byte (random prefix 1234567890123456)", () => {
    const reply =
      '<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>';
    const encrypt = createMessageCrypto(wechatpy.aesKey, wechatpy.id).encrypt(reply, Buffer.from('1234567890123456'));
    expect(encrypt).toBe(
      '9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3',
    );
    expect(sha1Signature(wechatpy.token, '1411525903', '461056294', encrypt)).toBe(
      '407518b7649e86ef23978113f92d27afa9296533',
    );
  });

  it("decrypts wechatpy's sample message and checks its signature", () => {
    const encrypt =
      'RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=';
    expect(sha1Signature(wechatpy.token, '1411525903', '461056294', encrypt)).toBe(
      '74d92dfeb87ba7c714f89d98870ae5eb62dff26d',
    );
    const fields = parseXml(createMessageCrypto(wechatpy.aesKey, wechatpy.id).decrypt(encrypt));
    expect(textOf(fields, 'Content')).toBe('test');
    expect(textOf(fields, 'FromUserName')).toBe('messense');
  });

  it('checks the URL signatures of the official example and of wechatpy', () => {
    expect(sha1Signature('AAAAA', '1714036504', '1514711492')).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696');
    // wechatpy test_check_signature_should_ok: signature over token, timestamp, nonce, echostr.
    const echo = '4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==';
    expect(
      signaturesEqual(
        sha1Signature(wechatpy.token, '1411443780', '437374425', echo),
        'dd6b9c95b495b3f7e2901bfbc76c664930ffdb96',
      ),
    ).toBe(true);
    expect(
      signaturesEqual(
        sha1Signature(wechatpy.token, '1411443780', '437374424', echo),
        'dd6b9c95b495b3f7e2901bfbc76c664930ffdb96',
      ),
    ).toBe(false);
  });
});

const aesKeyArb = fc.stringMatching(/^[A-Za-z0-9]{43}$/);
const appidArb = fc.stringMatching(/^wx[0-9a-f]{16}$/);

describe('round trips', () => {
  it('decrypt(encrypt(m)) = m for random keys, appids and messages up to 4 KB (any Unicode)', () => {
    fc.assert(
      fc.property(aesKeyArb, appidArb, fc.string({ unit: 'grapheme', maxLength: 4096 }), (key, appid, message) => {
        const c = createMessageCrypto(key, appid);
        const encrypted = c.encrypt(message);
        expect(Buffer.from(encrypted, 'base64').length % 32).toBe(0);
        expect(c.decrypt(encrypted)).toBe(message);
      }),
      { numRuns: 300 },
    );
  });

  it('every plaintext length around the 32-byte block boundary round-trips', () => {
    const c = createMessageCrypto('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', 'wxb11529c136998cb6');
    for (let n = 0; n <= 130; n++) expect(c.decrypt(c.encrypt('a'.repeat(n)))).toBe('a'.repeat(n));
  });

  it('a ciphertext never decrypts under another key to the same appid', () => {
    fc.assert(
      fc.property(aesKeyArb, aesKeyArb, appidArb, fc.string({ maxLength: 512 }), (k1, k2, appid, message) => {
        fc.pre(k1 !== k2);
        const encrypted = createMessageCrypto(k1, appid).encrypt(message);
        expect(() => createMessageCrypto(k2, appid).decrypt(encrypted)).toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it('the signature depends on every part and not on their order', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { minLength: 3, maxLength: 4 }), (parts) => {
        const reversed = [...parts].reverse();
        expect(sha1Signature(...parts)).toBe(sha1Signature(...reversed));
        expect(sha1Signature(...parts)).toMatch(/^[0-9a-f]{40}$/);
      }),
    );
  });
});
