import { describe, expect, it } from 'vitest';
import type { MessageCryptoError } from './crypto.js';
import { createMessageCrypto, pkcs7Pad, pkcs7Unpad, sha1Signature, signaturesEqual } from './crypto.js';

// Vector from the protocol reference (docs: wechat-platform §1.3), cross-checked with wechatpy's WeChatCrypto.
const VECTOR = {
  token: 'pamtest',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  appid: 'wxb11529c136998cb6',
  random: Buffer.from('aaaabbbbccccdddd'),
  timestamp: '1409304348',
  nonce: 'xxxxxx',
  msg: '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1409304348</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1234567890123456</MsgId></xml>',
  encrypt:
    'jn1L23DB+6ELqJ+6bruv29SUwIc4wSekY5dMNSkBF8Qknd5M5Tak2P5TT8bwaq12lEdOKlck39tj5MvoHjlNvLNwarsfBTsyTSRhQVwdXYwWZIpomHELoCyNHKCfumMSwGt4dL6J9zxTShoPfoIHsYRqD3+1yh3ckF9QKqwGImDcgiMsa1iA9C3iMtSXSM+qAGwjVrsNZG71DpWciKwSvAdqcsIew0tFJGYVtq1Yu3nt9MsFDuvclOVOYJ74WFDnsx8IbuzHPDeSipOrt9f2gmfs9JpVKqitWIBChRNSU+mEOIcBGI+Q653/zXQSdV0TZajStyo2LmqPByfHkk/icyJGGz2r89u52+41bXmV441SrQ9MvX48qq+HqvzUaGAg',
  msgSignature: '6ecb0af38a3965c41eca241b3a053d0d535dac27',
};

describe('WXBizMsgCrypt', () => {
  it('reproduces the known-answer ciphertext and msg_signature', () => {
    const crypto = createMessageCrypto(VECTOR.aesKey, VECTOR.appid);
    expect(crypto.encrypt(VECTOR.msg, VECTOR.random)).toBe(VECTOR.encrypt);
    expect(sha1Signature(VECTOR.token, VECTOR.timestamp, VECTOR.nonce, VECTOR.encrypt)).toBe(VECTOR.msgSignature);
    expect(crypto.decrypt(VECTOR.encrypt)).toBe(VECTOR.msg);
  });

  it('computes the official URL-verification signature example', () => {
    // Token AAAAA, timestamp 1714036504, nonce 1514711492 (official worked example).
    expect(sha1Signature('AAAAA', '1714036504', '1514711492')).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696');
  });

  it('pads to 32-byte blocks, a full block when already aligned', () => {
    expect(pkcs7Pad(Buffer.alloc(32)).length).toBe(64);
    expect(pkcs7Pad(Buffer.alloc(31)).subarray(31)).toEqual(Buffer.from([1]));
    expect(pkcs7Unpad(pkcs7Pad(Buffer.alloc(17, 7)))).toEqual(Buffer.alloc(17, 7));
  });

  it('refuses a message encrypted for another appid', () => {
    const theirs = createMessageCrypto(VECTOR.aesKey, 'wx0000000000000000');
    const ours = createMessageCrypto(VECTOR.aesKey, VECTOR.appid);
    expect(() => ours.decrypt(theirs.encrypt('<xml/>'))).toThrow(
      expect.objectContaining({ code: 'receive_id_mismatch' }) as MessageCryptoError,
    );
  });

  it('names each kind of broken ciphertext', () => {
    const c = createMessageCrypto(VECTOR.aesKey, VECTOR.appid);
    const codeOf = (input: string) => {
      try {
        c.decrypt(input);
        return 'none';
      } catch (err) {
        return (err as MessageCryptoError).code;
      }
    };
    expect(codeOf('not base64!!')).toBe('invalid_base64');
    expect(codeOf('')).toBe('invalid_base64');
    expect(codeOf(Buffer.alloc(15).toString('base64'))).toBe('invalid_ciphertext');
    const otherKey = createMessageCrypto('ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj', VECTOR.appid);
    expect(['invalid_padding', 'invalid_length']).toContain(codeOf(otherKey.encrypt(VECTOR.msg)));
  });

  it('compares signatures in constant time and tolerates length mismatches', () => {
    expect(signaturesEqual('abc', 'abc')).toBe(true);
    expect(signaturesEqual('abc', 'abd')).toBe(false);
    expect(signaturesEqual('abc', 'abcd')).toBe(false);
  });
});
