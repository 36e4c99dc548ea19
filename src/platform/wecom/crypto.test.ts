import { describe, expect, it } from 'vitest';
import { createWecomCallbackCrypto, type WecomCallbackError } from './crypto.js';
import { parseWecomEvent } from './events.js';

// The official WeCom WXBizMsgCrypt sample (Sample.php / Sample.java in the SDK download): corp, token, key,
// a URL-verification GET and a POSTed text message, both with their msg_signature.
const SAMPLE = {
  corpid: 'wx5823bf96d3bd56c7',
  token: 'QDG6eK',
  encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  verify: {
    msg_signature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
    timestamp: '1409659589',
    nonce: '263014780',
    // URL-decoded from echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D
    echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
  },
  post: {
    msg_signature: '477715d11cdb4164915debcba66cb864d751f3e6',
    timestamp: '1409659813',
    nonce: '1372623149',
    body: '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt>\n<AgentID><![CDATA[218]]></AgentID>\n</xml>',
  },
};

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'none';
  } catch (err) {
    return (err as WecomCallbackError).code;
  }
};

describe('WeCom callback crypto (official sample vectors)', () => {
  const crypto = createWecomCallbackCrypto(SAMPLE);

  it('verifies the sample URL-verification request and answers the decrypted echostr', () => {
    const echo = crypto.verifyUrl(SAMPLE.verify);
    expect(echo).toMatch(/^\d+$/);
    expect(echo).not.toBe(SAMPLE.verify.echostr);
  });

  it('verifies and decrypts the sample POSTed message (receiveid = corpid)', async () => {
    const xml = crypto.openMessage(SAMPLE.post, SAMPLE.post.body);
    expect(xml).toContain('<Content><![CDATA[hello]]></Content>');
    expect(xml).toContain('<FromUserName><![CDATA[mycreate]]></FromUserName>');
    expect(xml).toContain('<MsgId>4561255354251345929</MsgId>');
    const event = await parseWecomEvent(xml);
    expect(event).toMatchObject({ kind: 'unknown', msgType: 'text', corpid: SAMPLE.corpid });
  });

  it('refuses a wrong signature, a missing parameter and a message for another corp', () => {
    expect(codeOf(() => crypto.verifyUrl({ ...SAMPLE.verify, nonce: '263014781' }))).toBe('bad_signature');
    expect(codeOf(() => crypto.openMessage({ ...SAMPLE.post, msg_signature: undefined }, SAMPLE.post.body))).toBe(
      'missing_params',
    );
    expect(codeOf(() => crypto.openMessage(SAMPLE.post, '<xml></xml>'))).toBe('bad_body');
    const otherCorp = createWecomCallbackCrypto({ ...SAMPLE, corpid: 'ww0000000000000000' });
    expect(codeOf(() => otherCorp.openMessage(SAMPLE.post, SAMPLE.post.body))).toBe('receive_id_mismatch');
  });

  it('round-trips its own sealed events and echostr', async () => {
    const xml =
      '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>';
    const sealed = crypto.sealMessage(xml);
    const opened = crypto.openMessage(
      { msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce },
      sealed.body,
    );
    expect(await parseWecomEvent(opened)).toMatchObject({
      kind: 'add_external_contact',
      userId: 'zhangsan',
      externalUserId: 'woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA',
      state: 'teststate',
      welcomeCode: 'WELCOMECODE',
      createTime: 1403610513,
    });
    expect(crypto.verifyUrl(crypto.sealEcho('1616140317555161061'))).toBe('1616140317555161061');
  });
});
