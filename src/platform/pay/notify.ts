/**
 * WeChat Pay callbacks (回调通知): verify the signature (platform certificate or public key, by
 * `Wechatpay-Serial`) inside the replay window, decrypt `resource` with the APIv3 key, and return a typed
 * event. Anything that fails is refused with a PayVerificationError; the route answers 4xx/5xx so WeChat
 * Pay retries, and answers 200/204 only after the event is safely handled (handlers must be idempotent:
 * notifications repeat).
 * https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_2_5.shtml
 */
import { z } from 'zod';
import type { PayClient } from './client.js';
import {
  decryptResource,
  PayVerificationError,
  signedHeadersOf,
  verifyPaySignature,
  type PayKeyring,
} from './signing.js';
import { TRANSFER_BILL_STATES, type TransferBillState } from './transfers.js';

const Envelope = z.object({
  id: z.string().min(1),
  create_time: z.string(),
  event_type: z.string().min(1),
  resource_type: z.string(),
  summary: z.string().optional(),
  resource: z.object({
    algorithm: z.string(),
    ciphertext: z.string(),
    nonce: z.string(),
    associated_data: z.string().optional(),
    original_type: z.string().optional(),
  }),
});

const TransferBillResource = z.object({
  out_bill_no: z.string(),
  transfer_bill_no: z.string(),
  state: z.enum(TRANSFER_BILL_STATES),
  mch_id: z.string(),
  transfer_amount: z.number().int(),
  openid: z.string().optional(),
  fail_reason: z.string().optional(),
  create_time: z.string(),
  update_time: z.string(),
});

export interface TransferBillFinishedEvent {
  kind: 'transfer_bill_finished';
  /** Notification id (EV-…): the same for every re-delivery of one notification. */
  id: string;
  createTime: string;
  mchid: string;
  outBillNo: string;
  transferBillNo: string;
  state: TransferBillState;
  amountFen: number;
  openid?: string;
  failReason?: string;
  updateTime: string;
  /** The key that signed it: a PUB_KEY_ID_… or a certificate serial. */
  signedBy: string;
}

export interface UnknownPayEvent {
  kind: 'unknown';
  id: string;
  createTime: string;
  eventType: string;
  resource: unknown;
  signedBy: string;
}

export type PayEvent = TransferBillFinishedEvent | UnknownPayEvent;

export interface PayNotificationInput {
  headers: Headers | Record<string, string | string[] | undefined>;
  /** The raw body exactly as received (the signature covers these bytes). */
  body: string;
}

export interface PayNotificationVerifier {
  keyring: PayKeyring;
  apiV3Key: string;
  mchid?: string;
  nowSeconds: number;
  maxSkewSeconds?: number;
}

/** Verifies, decrypts and types one callback. @throws PayVerificationError */
export function openPayNotification(verifier: PayNotificationVerifier, input: PayNotificationInput): PayEvent {
  const { serial } = verifyPaySignature(verifier.keyring, signedHeadersOf(input.headers), input.body, {
    nowSeconds: verifier.nowSeconds,
    maxSkewSeconds: verifier.maxSkewSeconds,
  });
  let envelope: z.infer<typeof Envelope>;
  try {
    envelope = Envelope.parse(JSON.parse(input.body));
  } catch {
    throw new PayVerificationError('bad_body', 'not a WeChat Pay notification');
  }
  const plain = decryptResource(verifier.apiV3Key, envelope.resource);
  let resource: unknown;
  try {
    resource = JSON.parse(plain);
  } catch {
    throw new PayVerificationError('bad_body', 'decrypted resource is not JSON');
  }
  if (envelope.event_type === 'MCHTRANSFER.BILL.FINISHED') {
    const r = TransferBillResource.safeParse(resource);
    if (!r.success) throw new PayVerificationError('bad_body', 'unexpected transfer bill resource');
    if (verifier.mchid && r.data.mch_id !== verifier.mchid)
      throw new PayVerificationError('bad_body', 'the notification is for another merchant');
    return {
      kind: 'transfer_bill_finished',
      id: envelope.id,
      createTime: envelope.create_time,
      mchid: r.data.mch_id,
      outBillNo: r.data.out_bill_no,
      transferBillNo: r.data.transfer_bill_no,
      state: r.data.state,
      amountFen: r.data.transfer_amount,
      openid: r.data.openid,
      failReason: r.data.fail_reason,
      updateTime: r.data.update_time,
      signedBy: serial,
    };
  }
  return {
    kind: 'unknown',
    id: envelope.id,
    createTime: envelope.create_time,
    eventType: envelope.event_type,
    resource,
    signedBy: serial,
  };
}

/** openPayNotification with the client's keys, APIv3 key, merchant and clock. */
export function verifyPayNotification(client: PayClient, input: PayNotificationInput): PayEvent {
  return openPayNotification(
    {
      keyring: client.keyring,
      apiV3Key: client.apiV3Key,
      mchid: client.mchid,
      nowSeconds: Math.floor(client.now() / 1000),
      maxSkewSeconds: client.maxSkewSeconds,
    },
    input,
  );
}

export interface PayNotificationAnswer {
  status: number;
  body?: { code: 'FAIL'; message: string };
}

/**
 * What a callback route answers: 204 once `handle` has stored the event (it must be idempotent: WeChat
 * Pay re-sends, and the same notification id can arrive twice), 401 for anything that fails verification,
 * 500 when handling fails so WeChat Pay re-sends later. Koa-free: the route copies status and body.
 */
export async function answerPayNotification(
  client: PayClient,
  input: PayNotificationInput,
  handle: (event: PayEvent) => Promise<void>,
): Promise<PayNotificationAnswer> {
  let event: PayEvent;
  try {
    event = verifyPayNotification(client, input);
  } catch (err) {
    if (err instanceof PayVerificationError) return { status: 401, body: { code: 'FAIL', message: err.code } };
    throw err;
  }
  try {
    await handle(event);
  } catch {
    return { status: 500, body: { code: 'FAIL', message: 'not handled yet' } };
  }
  return { status: 204 };
}
