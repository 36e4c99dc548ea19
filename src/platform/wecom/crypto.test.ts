import { describe, expect, it } from 'vitest';
import { createWecomCallbackCrypto, type WecomCallbackError } from './crypto.js';
import { parseWecomEvent } from './events.js';
import { WECOM_SAMPLE } from '../../../test/fixtures/wecom-sample.js';

const SAMPLE = WECOM_SAMPLE;

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
