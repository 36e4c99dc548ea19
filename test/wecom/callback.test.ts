/**
 * The WeCom callback route against WeCom's published WXBizMsgCrypt sample (Sample.php / wework-crypt:
 * Token QDG6eK, EncodingAESKey jWmYm7…B2C, CorpID wx5823bf96d3bd56c7), then every bad input → a 4xx.
 */
import { describe, expect, it } from 'vitest';
import { createWecomCallbackCrypto } from '../../src/platform/wecom/index.js';
import { sha1Signature } from '../../src/platform/wechat/crypto.js';
import { useTestApp } from '../support/app.js';
import { WECOM_SAMPLE } from '../fixtures/wecom-sample.js';

const SAMPLE = WECOM_SAMPLE;

const t = useTestApp({
  WECOM_KEY: 'hq',
  WECOM_CORPID: SAMPLE.corpid,
  WECOM_SECRET: 'sandbox-secret-not-used',
  WECOM_TOKEN: SAMPLE.token,
  WECOM_AES_KEY: SAMPLE.encodingAESKey,
  WECHAT_CALLBACK_BODY_LIMIT_BYTES: '4096',
});

const qs = (q: Record<string, string>) => new URLSearchParams(q).toString();

describe('WeCom callback with the official sample vectors', () => {
  it('answers the sample URL verification with the decrypted echostr, on both paths', async () => {
    for (const path of ['/wecom/callback', '/wecom/hq/callback']) {
      const res = await t().http.get(`${path}?${qs(SAMPLE.verify)}`);
      expect(res.status).toBe(200);
      expect(res.text).toMatch(/^\d+$/);
      expect(res.text).not.toBe(SAMPLE.verify.echostr);
    }
  });

  it('accepts the sample POSTed message once and answers a re-delivery the same way', async () => {
    const first = await t()
      .http.post(`/wecom/callback?${qs(SAMPLE.post)}`)
      .type('text/xml')
      .send(SAMPLE.post.body);
    expect(first.status).toBe(200);
    const again = await t()
      .http.post(`/wecom/hq/callback?${qs(SAMPLE.post)}`)
      .type('text/xml')
      .send(SAMPLE.post.body);
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
  });
});

describe('every bad WeCom callback input gets a 4xx', () => {
  const crypto = createWecomCallbackCrypto(SAMPLE);
  const event =
    '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[transfer_fail]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmX]]></ExternalUserID></xml>';

  /** A correctly signed POST of an arbitrary <Encrypt> value. */
  const signedPost = (encrypt: string, body?: string) => {
    const q = { timestamp: '1700000000', nonce: '42' };
    return {
      query: { ...q, msg_signature: sha1Signature(SAMPLE.token, q.timestamp, q.nonce, encrypt) },
      body: body ?? `<xml><ToUserName><![CDATA[x]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`,
    };
  };

  const cases: [string, () => Promise<{ status: number; body: { error?: { code?: string } } }>, string][] = [
    [
      'GET without msg_signature',
      () => t().http.get(`/wecom/callback?${qs({ ...SAMPLE.verify, msg_signature: '' })}`),
      'missing_parameter',
    ],
    [
      'GET without echostr',
      () => t().http.get(`/wecom/callback?${qs({ ...SAMPLE.verify, echostr: '' })}`),
      'missing_parameter',
    ],
    [
      'GET with a wrong signature',
      () => t().http.get(`/wecom/callback?${qs({ ...SAMPLE.verify, nonce: '263014781' })}`),
      'invalid_signature',
    ],
    [
      'GET with a repeated parameter',
      () => t().http.get(`/wecom/callback?${qs(SAMPLE.verify)}&nonce=1`),
      'invalid_parameter',
    ],
    [
      'GET with a non-numeric timestamp',
      () => t().http.get(`/wecom/callback?${qs({ ...SAMPLE.verify, timestamp: 'x1' })}`),
      'invalid_parameter',
    ],
    ['GET for an unknown corp', () => t().http.get(`/wecom/nope/callback?${qs(SAMPLE.verify)}`), 'unknown_corp'],
    [
      'POST with a wrong signature',
      () =>
        t()
          .http.post(`/wecom/callback?${qs({ ...SAMPLE.post, msg_signature: '0'.repeat(40) })}`)
          .type('text/xml')
          .send(SAMPLE.post.body),
      'invalid_signature',
    ],
    [
      'POST without Encrypt',
      () =>
        t()
          .http.post(`/wecom/callback?${qs(SAMPLE.post)}`)
          .type('text/xml')
          .send('<xml><ToUserName>a</ToUserName></xml>'),
      'missing_encrypt',
    ],
    [
      'POST with broken XML',
      () =>
        t()
          .http.post(`/wecom/callback?${qs(SAMPLE.post)}`)
          .type('text/xml')
          .send('<xml><Encrypt>'),
      'malformed_xml',
    ],
    [
      'POST with a DOCTYPE',
      () =>
        t()
          .http.post(`/wecom/callback?${qs(SAMPLE.post)}`)
          .type('text/xml')
          .send('<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>'),
      'xml_doctype_refused',
    ],
    [
      'POST whose Encrypt is not base64 (signed)',
      () => {
        const p = signedPost('not*base64');
        return t()
          .http.post(`/wecom/callback?${qs(p.query)}`)
          .type('text/xml')
          .send(p.body);
      },
      'invalid_base64',
    ],
    [
      'POST encrypted for another corp (signed)',
      () => {
        const other = createWecomCallbackCrypto({ ...SAMPLE, corpid: 'ww0000000000000000' }).sealMessage(event);
        const p = signedPost(other.encrypt);
        return t()
          .http.post(`/wecom/callback?${qs(p.query)}`)
          .type('text/xml')
          .send(p.body);
      },
      'corpid_mismatch',
    ],
    [
      'POST whose plaintext is not XML (signed)',
      () => {
        const sealed = crypto.sealMessage('not xml at all');
        return t()
          .http.post(
            `/wecom/callback?${qs({ msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce })}`,
          )
          .type('text/xml')
          .send(sealed.body);
      },
      'malformed_xml',
    ],
    [
      'POST larger than the body limit',
      () =>
        t()
          .http.post(`/wecom/callback?${qs(SAMPLE.post)}`)
          .type('text/xml')
          .send(`<xml>${'a'.repeat(5000)}</xml>`),
      'payload_too_large',
    ],
  ];

  it.each(cases)('%s', async (_name, request, code) => {
    const res = await request();
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error?.code).toBe(code);
  });

  it('accepts a correctly sealed event of its own corp', async () => {
    const sealed = crypto.sealMessage(event);
    const res = await t()
      .http.post(
        `/wecom/callback?${qs({ msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce })}`,
      )
      .type('text/xml')
      .send(sealed.body);
    expect(res.status).toBe(200);
  });
});
