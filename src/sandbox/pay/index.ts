/**
 * WeChat Pay v3 simulator: its own merchant and platform keys (generated at start), request signature
 * checks (401 SIGN_ERROR as the real API), every response signed with the key the request named in
 * `Wechatpay-Serial` (public key or platform certificate), `/v3/certificates` served encrypted,
 * transfer bills and batch transfers with a merchant balance, and signed + encrypted callbacks with
 * WeChat Pay's retry rule. Paths are api.mch.weixin.qq.com's, below /pay.
 *   /pay/_sandbox/...  the control side: balance, confirm as the user, failing payees (never real)
 */
import { createPrivateKey, createPublicKey, createSign, randomBytes, type KeyObject } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import {
  decryptSensitive,
  encryptResource,
  parseAuthorization,
  randomNonce,
  requestSigningMessage,
  responseSigningMessage,
  verifyRsaSha256,
} from '../../platform/pay/signing.js';
import type { SandboxContext, SandboxPart } from '../context.js';
import { platformFaults } from '../platform-faults.js';
import { generatePaySandboxKeys, type PaySandboxKeys } from './keys.js';
import { createLedger, LedgerError, type BillState, type SandboxBatch, type SandboxBill } from './ledger.js';

const PREFIX = '/pay';
/** Scenes this sandbox merchant has applied for (1000 cash marketing, 1005 commission, 1006 reimbursement). */
const SCENES = new Set(['1000', '1005', '1006']);
/** WeChat Pay's re-delivery schedule for unacknowledged callbacks (15s/15s/30s/3m/10m/20m/30m/…). */
export const REAL_NOTIFY_RETRY_DELAYS_MS = [
  15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
].map((s) => s * 1000);

export type PaySigningKey = 'public_key' | 'platform_cert';

export interface PayNotificationAttempt {
  notificationId: string;
  outBillNo: string;
  url: string;
  attempt: number;
  status: number;
  at: number;
}

export interface PaySandboxOptions {
  stepDelayMs?: number;
  fundsWaitMs?: number;
  confirmWindowMs?: number;
  notifyRetryDelaysMs?: number[];
  /** Key that signs callbacks (and responses to requests naming no serial). */
  signingKey?: PaySigningKey;
  /** Transfer-bill creates per second before 429 FREQUENCY_LIMITED (the real limit is 100 per merchant). */
  qpsLimit?: number;
}

export interface PaySandboxApi {
  readonly keys: PaySandboxKeys;
  /** The settings a client of this sandbox needs (WECHATPAY_* names), in the chosen verification mode. */
  settings(options: { notifyUrl: string; mode?: PaySigningKey }): Record<string, string>;
  balance(): number;
  setBalance(fen: number): void;
  /** Payments to this openid fail with `reason` (e.g. ACCOUNT_FROZEN); undefined clears it. */
  failPaymentsTo(openid: string, reason: string | undefined): void;
  /** The user confirms receipt (what requestMerchantTransfer does in WeChat). */
  confirmTransfer(packageInfo: string, openid?: string): BillState;
  bill(outBillNo: string): SandboxBill | undefined;
  /** Every transfer bill the merchant made: the merchant ledger a test compares with ours. */
  bills(): SandboxBill[];
  batch(outBatchNo: string): SandboxBatch | undefined;
  notifications(): PayNotificationAttempt[];
  configure(options: PaySandboxOptions): void;
}

function shanghaiTime(ms: number): string {
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}

const BillBody = z
  .object({
    appid: z.string().min(1),
    out_bill_no: z.string().regex(/^[0-9A-Za-z]{1,32}$/),
    transfer_scene_id: z.string().min(1),
    openid: z.string().min(1).max(128),
    user_name: z.string().optional(),
    transfer_amount: z.number().int().positive(),
    transfer_remark: z.string().min(1).max(32),
    notify_url: z.string().url().optional(),
    user_recv_perception: z.string().optional(),
    transfer_scene_report_infos: z
      .array(z.object({ info_type: z.string().min(1), info_content: z.string().min(1) }))
      .min(1),
  })
  .strict();

const BatchBody = z
  .object({
    appid: z.string().min(1),
    out_batch_no: z.string().regex(/^[0-9A-Za-z]{1,32}$/),
    batch_name: z.string().min(1).max(32),
    batch_remark: z.string().min(1).max(32),
    total_amount: z.number().int().positive(),
    total_num: z.number().int().positive().max(1000),
    transfer_detail_list: z
      .array(
        z.object({
          out_detail_no: z.string().regex(/^[0-9A-Za-z]{1,32}$/),
          transfer_amount: z.number().int().positive(),
          transfer_remark: z.string().min(1).max(32),
          openid: z.string().min(1),
          user_name: z.string().optional(),
        }),
      )
      .min(1)
      .max(1000),
    transfer_scene_id: z.string().optional(),
    notify_url: z.string().url().optional(),
  })
  .strict();

function isClientError(err: unknown): boolean {
  const status = (err as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function createPaySandbox(
  ctx: SandboxContext,
  options: PaySandboxOptions = {},
): Promise<SandboxPart<PaySandboxApi>> {
  const { clock, faults, logger } = ctx;
  const keys = generatePaySandboxKeys();
  const merchantPublicKey = createPublicKey(keys.merchant.publicKeyPem);
  const signers: Record<PaySigningKey, { serial: string; key: KeyObject }> = {
    public_key: { serial: keys.publicKey.id, key: createPrivateKey(keys.publicKey.privateKeyPem) },
    platform_cert: { serial: keys.platformCert.serialNo, key: createPrivateKey(keys.platformCert.privateKeyPem) },
  };
  const settings: Required<PaySandboxOptions> = {
    stepDelayMs: options.stepDelayMs ?? 30,
    fundsWaitMs: options.fundsWaitMs ?? 2000,
    confirmWindowMs: options.confirmWindowMs ?? 24 * 3600_000,
    notifyRetryDelaysMs: options.notifyRetryDelaysMs ?? REAL_NOTIFY_RETRY_DELAYS_MS,
    signingKey: options.signingKey ?? 'public_key',
    qpsLimit: options.qpsLimit ?? 100,
  };
  let window = { second: 0, count: 0 };
  const attempts: PayNotificationAttempt[] = [];
  const notifyTimers = new Set<NodeJS.Timeout>();
  let closed = false;

  function signedHeaders(body: string, signer: { serial: string; key: KeyObject }): Record<string, string> {
    const timestamp = String(clock.nowSeconds());
    const nonce = randomNonce();
    const signature = createSign('RSA-SHA256')
      .update(responseSigningMessage(timestamp, nonce, body))
      .sign(signer.key, 'base64');
    return {
      'Wechatpay-Timestamp': timestamp,
      'Wechatpay-Nonce': nonce,
      'Wechatpay-Signature': signature,
      'Wechatpay-Serial': signer.serial,
    };
  }

  /** POSTs the final-state notification; re-sends on anything but 200/204, on WeChat Pay's schedule. */
  function notify(bill: SandboxBill): void {
    if (!bill.notifyUrl) return;
    const url = bill.notifyUrl;
    const resource = {
      out_bill_no: bill.outBillNo,
      transfer_bill_no: bill.transferBillNo,
      state: bill.state,
      mch_id: keys.mchid,
      transfer_amount: bill.amountFen,
      openid: bill.openid,
      ...(bill.failReason && bill.state !== 'SUCCESS' ? { fail_reason: bill.failReason } : {}),
      create_time: shanghaiTime(bill.createdAt),
      update_time: shanghaiTime(bill.updatedAt),
    };
    const body = JSON.stringify({
      id: `EV-${randomBytes(12).toString('hex')}`,
      create_time: shanghaiTime(clock.now()),
      resource_type: 'encrypt-resource',
      event_type: 'MCHTRANSFER.BILL.FINISHED',
      summary: '商家转账单据终态通知',
      resource: {
        original_type: 'mch_payment',
        ...encryptResource(keys.apiV3Key, JSON.stringify(resource), 'mch_payment'),
      },
    });
    const notificationId = (JSON.parse(body) as { id: string }).id;
    const send = async (attempt: number) => {
      if (closed) return;
      let status = 0;
      try {
        // Signed afresh on every delivery, as the real platform does (new timestamp and nonce).
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signedHeaders(body, signers[settings.signingKey]) },
          body,
          signal: AbortSignal.timeout(5000),
        });
        status = res.status;
        await res.body?.cancel();
      } catch (err) {
        logger.debug({ err, outBillNo: bill.outBillNo }, 'sandbox pay notification failed');
      }
      attempts.push({ notificationId, outBillNo: bill.outBillNo, url, attempt, status, at: clock.now() });
      if (status === 200 || status === 204) return;
      const delay = settings.notifyRetryDelaysMs[attempt - 1];
      if (delay === undefined || closed) return;
      const t = setTimeout(() => {
        notifyTimers.delete(t);
        void send(attempt + 1);
      }, delay);
      notifyTimers.add(t);
    };
    void send(1);
  }

  const ledger = createLedger(
    clock,
    {
      get stepDelayMs() {
        return settings.stepDelayMs;
      },
      get fundsWaitMs() {
        return settings.fundsWaitMs;
      },
      get confirmWindowMs() {
        return settings.confirmWindowMs;
      },
    },
    { finished: notify },
  );

  const router = new Router();

  router.use(
    platformFaults(faults, 'wechatpay', PREFIX, (c, rule) => {
      c.status = rule.httpStatus ?? 500;
      c.body = { code: String(rule.errcode ?? 'SYSTEM_ERROR'), message: rule.errmsg ?? '系统繁忙，请稍后重试' };
    }),
  );

  // Errors as WeChat Pay answers them; every answer of the real API surface is signed.
  router.use(async (c: Context, next: Next) => {
    const isControl = c.path.startsWith(`${PREFIX}/_sandbox`);
    try {
      await next();
    } catch (err) {
      if (err instanceof ApiError || err instanceof LedgerError) {
        c.status = err.status;
        c.body = { code: err.code, message: err.message };
      } else if (isClientError(err)) {
        // A body that is not JSON (the body parser refused it) is WeChat Pay's PARAM_ERROR too.
        c.status = 400;
        c.body = { code: 'PARAM_ERROR', message: '请求体不是合法的JSON' };
      } else throw err;
    }
    if (isControl || (c.status === 404 && c.body === undefined)) return;
    const text =
      c.body === undefined || c.body === null ? '' : typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
    const requested = c.get('wechatpay-serial');
    const signer =
      requested === signers.platform_cert.serial
        ? signers.platform_cert
        : requested === signers.public_key.serial
          ? signers.public_key
          : signers[settings.signingKey];
    c.set(signedHeaders(text, signer));
    if (text !== '') {
      c.type = 'application/json';
      c.body = text;
    }
  });

  router.use(bodyParser({ enableTypes: ['json'], jsonLimit: '1mb' }));

  // Request signatures (WECHATPAY2-SHA256-RSA2048).
  router.use(async (c: Context, next: Next) => {
    if (c.path.startsWith(`${PREFIX}/_sandbox`)) {
      await next();
      return;
    }
    const auth = parseAuthorization(c.get('authorization'));
    if (!auth) throw new ApiError(401, 'SIGN_ERROR', 'Authorization 缺失或格式错误');
    if (auth.mchid !== keys.mchid) throw new ApiError(401, 'SIGN_ERROR', '商户号与签名不匹配');
    if (auth.serialNo.toUpperCase() !== keys.merchant.serialNo)
      throw new ApiError(401, 'SIGN_ERROR', '商户证书序列号有误');
    if (!/^\d+$/.test(auth.timestamp) || Math.abs(clock.nowSeconds() - Number(auth.timestamp)) > 300)
      throw new ApiError(401, 'SIGN_ERROR', '签名时间戳过期');
    const canonicalUrl = c.originalUrl.slice(PREFIX.length);
    const rawBody = (c.request as { rawBody?: string }).rawBody ?? '';
    const message = requestSigningMessage(c.method, canonicalUrl, auth.timestamp, auth.nonce, rawBody);
    if (!verifyRsaSha256(merchantPublicKey, message, auth.signature)) throw new ApiError(401, 'SIGN_ERROR', '签名错误');
    await next();
  });

  function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(400, 'PARAM_ERROR', `${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
    }
    return parsed.data;
  }

  /** A sensitive field must be decryptable with the WeChat Pay key the request named in Wechatpay-Serial. */
  function decryptName(c: Context, ciphertext: string): string {
    const serial = c.get('wechatpay-serial');
    const pem =
      serial === keys.publicKey.id
        ? keys.publicKey.privateKeyPem
        : serial === keys.platformCert.serialNo
          ? keys.platformCert.privateKeyPem
          : undefined;
    if (!pem)
      throw new ApiError(400, 'PARAM_ERROR', '加密敏感信息时 Wechatpay-Serial 必填且须为有效的平台证书或公钥ID');
    try {
      return decryptSensitive(pem, ciphertext);
    } catch {
      throw new ApiError(400, 'PARAM_ERROR', 'user_name 解密失败');
    }
  }

  router.get('/v3/certificates', (c) => {
    c.body = {
      data: [
        {
          serial_no: keys.platformCert.serialNo,
          effective_time: shanghaiTime(keys.platformCert.notBefore.getTime()),
          expire_time: shanghaiTime(keys.platformCert.notAfter.getTime()),
          encrypt_certificate: encryptResource(keys.apiV3Key, keys.platformCert.certPem, 'certificate'),
        },
      ],
    };
  });

  const billCreated = (bill: SandboxBill) => ({
    out_bill_no: bill.outBillNo,
    transfer_bill_no: bill.transferBillNo,
    create_time: shanghaiTime(bill.createdAt),
    state: bill.state,
    ...(bill.state === 'WAIT_USER_CONFIRM' && bill.packageInfo ? { package_info: bill.packageInfo } : {}),
    ...(bill.state === 'FAIL' && bill.failReason ? { fail_reason: bill.failReason } : {}),
  });

  const billQueried = (bill: SandboxBill) => ({
    mch_id: keys.mchid,
    out_bill_no: bill.outBillNo,
    transfer_bill_no: bill.transferBillNo,
    appid: bill.appid,
    state: bill.state,
    transfer_amount: bill.amountFen,
    transfer_remark: bill.remark,
    ...(bill.failReason && bill.state !== 'SUCCESS' ? { fail_reason: bill.failReason } : {}),
    openid: bill.openid,
    create_time: shanghaiTime(bill.createdAt),
    update_time: shanghaiTime(bill.updatedAt),
  });

  const BILLS = '/v3/fund-app/mch-transfer/transfer-bills';

  router.post(BILLS, (c) => {
    const second = clock.nowSeconds();
    if (window.second !== second) window = { second, count: 0 };
    window.count += 1;
    if (window.count > settings.qpsLimit) throw new ApiError(429, 'FREQUENCY_LIMITED', '频率超限，请降低请求频率');
    const b = parseBody(BillBody, c.request.body);
    if (b.appid !== keys.appid) throw new ApiError(400, 'APPID_MCHID_NOT_MATCH', 'appid 与商户号不匹配');
    if (!SCENES.has(b.transfer_scene_id)) throw new ApiError(403, 'NO_AUTH', '未开通该转账场景');
    if (b.transfer_amount < 10) throw new ApiError(400, 'INVALID_REQUEST', '转账金额不能低于0.1元');
    if (b.transfer_amount >= 200_000 && !b.user_name)
      throw new ApiError(400, 'PARAM_ERROR', '转账金额大于等于2000元时，收款用户姓名必填');
    const userName = b.user_name ? decryptName(c, b.user_name) : undefined;
    const { bill } = ledger.createBill({
      outBillNo: b.out_bill_no,
      appid: b.appid,
      sceneId: b.transfer_scene_id,
      openid: b.openid,
      amountFen: b.transfer_amount,
      remark: b.transfer_remark,
      userName,
      notifyUrl: b.notify_url,
      fingerprint: JSON.stringify([b.openid, b.transfer_amount, b.transfer_scene_id, b.appid]),
    });
    c.body = billCreated(bill);
  });

  router.get(`${BILLS}/out-bill-no/:no`, (c) => {
    const bill = ledger.bill(c.params.no ?? '');
    if (!bill) throw new ApiError(404, 'NOT_FOUND', '记录不存在');
    c.body = billQueried(bill);
  });

  router.get(`${BILLS}/transfer-bill-no/:no`, (c) => {
    const bill = ledger.billByTransferNo(c.params.no ?? '');
    if (!bill) throw new ApiError(404, 'NOT_FOUND', '记录不存在');
    c.body = billQueried(bill);
  });

  router.post(`${BILLS}/out-bill-no/:no/cancel`, (c) => {
    const bill = ledger.cancel(c.params.no ?? '');
    c.body = {
      out_bill_no: bill.outBillNo,
      transfer_bill_no: bill.transferBillNo,
      state: bill.state,
      update_time: shanghaiTime(bill.updatedAt),
    };
  });

  router.post('/v3/transfer/batches', (c) => {
    const b = parseBody(BatchBody, c.request.body);
    if (b.appid !== keys.appid) throw new ApiError(400, 'APPID_MCHID_NOT_MATCH', 'appid 与商户号不匹配');
    const sum = b.transfer_detail_list.reduce((s, d) => s + d.transfer_amount, 0);
    if (sum !== b.total_amount || b.total_num !== b.transfer_detail_list.length)
      throw new ApiError(400, 'PARAM_ERROR', '批次总金额或总笔数与明细不一致');
    if (new Set(b.transfer_detail_list.map((d) => d.out_detail_no)).size !== b.transfer_detail_list.length)
      throw new ApiError(400, 'PARAM_ERROR', '明细单号重复');
    for (const d of b.transfer_detail_list) if (d.user_name) decryptName(c, d.user_name);
    const { batch } = ledger.createBatch({
      outBatchNo: b.out_batch_no,
      appid: b.appid,
      name: b.batch_name,
      remark: b.batch_remark,
      totalAmountFen: b.total_amount,
      details: b.transfer_detail_list.map((d) => ({
        detailId: `1040000${randomBytes(16).toString('hex').slice(0, 26)}`,
        outDetailNo: d.out_detail_no,
        amountFen: d.transfer_amount,
        openid: d.openid,
        remark: d.transfer_remark,
        state: 'INIT' as const,
      })),
      fingerprint: JSON.stringify([
        b.total_amount,
        b.transfer_detail_list.map((d) => [d.out_detail_no, d.openid, d.transfer_amount]),
      ]),
    });
    c.body = {
      out_batch_no: batch.outBatchNo,
      batch_id: batch.batchId,
      create_time: shanghaiTime(batch.createdAt),
      batch_status: batch.state,
    };
  });

  router.get('/v3/transfer/batches/out-batch-no/:no', (c) => {
    const batch = ledger.batch(c.params.no ?? '');
    if (!batch) throw new ApiError(404, 'NOT_FOUND', '记录不存在');
    const needDetail = c.query.need_query_detail === 'true';
    const status = typeof c.query.detail_status === 'string' ? c.query.detail_status : 'ALL';
    const done = batch.details.filter((d) => d.state === 'SUCCESS');
    const failed = batch.details.filter((d) => d.state === 'FAIL');
    c.body = {
      transfer_batch: {
        mchid: keys.mchid,
        out_batch_no: batch.outBatchNo,
        batch_id: batch.batchId,
        appid: batch.appid,
        batch_status: batch.state,
        batch_type: 'API',
        batch_name: batch.name,
        batch_remark: batch.remark,
        total_amount: batch.totalAmountFen,
        total_num: batch.details.length,
        create_time: shanghaiTime(batch.createdAt),
        update_time: shanghaiTime(batch.updatedAt),
        success_amount: done.reduce((s, d) => s + d.amountFen, 0),
        success_num: done.length,
        fail_amount: failed.reduce((s, d) => s + d.amountFen, 0),
        fail_num: failed.length,
      },
      ...(needDetail
        ? {
            transfer_detail_list: batch.details
              .filter((d) => status === 'ALL' || d.state === status)
              .map((d) => ({ detail_id: d.detailId, out_detail_no: d.outDetailNo, detail_status: d.state })),
          }
        : {}),
    };
  });

  // ---- control side (not part of WeChat Pay) ----
  router.get('/_sandbox/balance', (c) => {
    c.body = { balance_fen: ledger.balance() };
  });
  router.put('/_sandbox/balance', (c) => {
    const { balance_fen } = parseBody(
      z.object({ balance_fen: z.number().int().nonnegative() }).strict(),
      c.request.body,
    );
    ledger.setBalance(balance_fen);
    c.body = { balance_fen: ledger.balance() };
  });
  router.post('/_sandbox/transfer-bills/confirm', (c) => {
    const { package: pkg, openid } = parseBody(
      z.object({ package: z.string().min(1), openid: z.string().optional() }).strict(),
      c.request.body,
    );
    c.body = { state: ledger.confirm(pkg, openid).state };
  });
  router.get('/_sandbox/notifications', (c) => {
    c.body = { notifications: attempts };
  });

  const api: PaySandboxApi = {
    keys,
    settings({ notifyUrl, mode = 'public_key' }) {
      return {
        WECHATPAY_MCHID: keys.mchid,
        WECHATPAY_APPID: keys.appid,
        WECHATPAY_SERIAL_NO: keys.merchant.serialNo,
        WECHATPAY_PRIVATE_KEY: keys.merchant.privateKeyPem,
        WECHATPAY_APIV3_KEY: keys.apiV3Key,
        WECHATPAY_API_BASE: `${ctx.baseUrl()}${PREFIX}`,
        WECHATPAY_NOTIFY_URL: notifyUrl,
        ...(mode === 'public_key'
          ? { WECHATPAY_PUBLIC_KEY: keys.publicKey.publicKeyPem, WECHATPAY_PUBLIC_KEY_ID: keys.publicKey.id }
          : { WECHATPAY_PLATFORM_CERT: keys.platformCert.certPem }),
      };
    },
    balance: () => ledger.balance(),
    setBalance: (fen) => ledger.setBalance(fen),
    failPaymentsTo: (openid, reason) => ledger.failPaymentsTo(openid, reason),
    confirmTransfer: (pkg, openid) => ledger.confirm(pkg, openid).state,
    bill: (no) => ledger.bill(no),
    bills: () => ledger.bills(),
    batch: (no) => ledger.batch(no),
    notifications: () => attempts.slice(),
    configure(next) {
      if (next.stepDelayMs !== undefined) settings.stepDelayMs = next.stepDelayMs;
      if (next.fundsWaitMs !== undefined) settings.fundsWaitMs = next.fundsWaitMs;
      if (next.confirmWindowMs !== undefined) settings.confirmWindowMs = next.confirmWindowMs;
      if (next.notifyRetryDelaysMs !== undefined) settings.notifyRetryDelaysMs = next.notifyRetryDelaysMs;
      if (next.signingKey !== undefined) settings.signingKey = next.signingKey;
      if (next.qpsLimit !== undefined) settings.qpsLimit = next.qpsLimit;
    },
  };

  return {
    prefix: PREFIX,
    router,
    api,
    async close() {
      closed = true;
      ledger.close();
      for (const t of notifyTimers) clearTimeout(t);
      notifyTimers.clear();
    },
  };
}
