/**
 * Paying users: the merchant transfer (商家转账, user-confirm mode) and the older batch transfer
 * (商家转账到零钱). Amounts are integer fen. Both are idempotent by the merchant's number
 * (`out_bill_no` / `out_batch_no`): on a timeout or an unknown outcome, retry with the same number or
 * query it — never issue a new number until the first is known to have failed.
 */
import { z } from 'zod';
import { backoffMs, PlatformError } from '../kernel/errors.js';
import type { PayClient } from './client.js';

export const TRANSFER_BILL_STATES = [
  'ACCEPTED',
  'PROCESSING',
  'WAIT_USER_CONFIRM',
  'TRANSFERING',
  'SUCCESS',
  'FAIL',
  'CANCELING',
  'CANCELLED',
] as const;
export type TransferBillState = (typeof TRANSFER_BILL_STATES)[number];
export const FINAL_TRANSFER_BILL_STATES: readonly TransferBillState[] = ['SUCCESS', 'FAIL', 'CANCELLED'];

const OUT_NO = /^[0-9A-Za-z]{1,32}$/;

export const CreateTransferBillInput = z
  .object({
    outBillNo: z.string().regex(OUT_NO, 'out_bill_no is 1-32 letters or digits'),
    openid: z.string().min(1).max(64),
    amountFen: z.number().int().positive(),
    /** Scene applied for in the merchant console, e.g. '1000' cash marketing. */
    sceneId: z.string().regex(/^\d{1,8}$/),
    remark: z.string().min(1).max(32),
    /** Payee's real name; encrypted before sending; required by WeChat Pay from 2,000 CNY. */
    userName: z.string().min(1).max(64).optional(),
    userRecvPerception: z.string().max(64).optional(),
    reportInfos: z
      .array(z.object({ type: z.string().min(1).max(15), content: z.string().min(1).max(32) }).strict())
      .min(1)
      .max(10),
    notifyUrl: z.string().url().optional(),
  })
  .strict();
export type CreateTransferBillInput = z.input<typeof CreateTransferBillInput>;

const CreatedBill = z.object({
  out_bill_no: z.string(),
  transfer_bill_no: z.string(),
  create_time: z.string(),
  state: z.enum(TRANSFER_BILL_STATES),
  package_info: z.string().optional(),
  fail_reason: z.string().optional(),
});

export interface CreatedTransferBill {
  outBillNo: string;
  transferBillNo: string;
  createTime: string;
  state: TransferBillState;
  /** Handed to the user's WeChat (JS-SDK requestMerchantTransfer) to confirm receipt. */
  packageInfo?: string;
  failReason?: string;
}

const QueriedBill = z.object({
  mch_id: z.string(),
  out_bill_no: z.string(),
  transfer_bill_no: z.string(),
  appid: z.string(),
  state: z.enum(TRANSFER_BILL_STATES),
  transfer_amount: z.number().int(),
  transfer_remark: z.string(),
  fail_reason: z.string().optional(),
  openid: z.string().optional(),
  user_name: z.string().optional(),
  create_time: z.string(),
  update_time: z.string(),
});

export interface TransferBill {
  mchid: string;
  appid: string;
  outBillNo: string;
  transferBillNo: string;
  state: TransferBillState;
  amountFen: number;
  remark: string;
  openid?: string;
  failReason?: string;
  createTime: string;
  updateTime: string;
}

const CancelledBill = z.object({
  out_bill_no: z.string(),
  transfer_bill_no: z.string(),
  state: z.enum(TRANSFER_BILL_STATES),
  update_time: z.string(),
});

const BILLS = '/v3/fund-app/mch-transfer/transfer-bills';

/** Retries a call that is safe to repeat (same merchant number) while its error says 'retry'. */
async function withSameNumber<T>(attempts: number, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof PlatformError) || err.disposition !== 'retry' || attempt + 1 >= attempts) throw err;
      await new Promise((r) => setTimeout(r, backoffMs(attempt, 100, 2000)));
    }
  }
}

/**
 * Creates a transfer bill (发起转账). Retries transient failures with the same out_bill_no, so a repeat
 * returns the original bill instead of paying twice.
 * https://pay.weixin.qq.com/doc/v3/merchant/4012716434
 */
export async function createTransferBill(
  client: PayClient,
  input: CreateTransferBillInput,
  options: { attempts?: number } = {},
): Promise<CreatedTransferBill> {
  const v = CreateTransferBillInput.parse(input);
  const body: Record<string, unknown> = {
    appid: client.appid,
    out_bill_no: v.outBillNo,
    transfer_scene_id: v.sceneId,
    openid: v.openid,
    transfer_amount: v.amountFen,
    transfer_remark: v.remark,
    notify_url: v.notifyUrl ?? client.notifyUrl,
    transfer_scene_report_infos: v.reportInfos.map((r) => ({ info_type: r.type, info_content: r.content })),
  };
  if (v.userName) body.user_name = client.encryptSensitive(v.userName).ciphertext;
  if (v.userRecvPerception) body.user_recv_perception = v.userRecvPerception;
  const res = await withSameNumber(options.attempts ?? 3, () =>
    client.request({ method: 'POST', path: BILLS, body, schema: CreatedBill }),
  );
  return {
    outBillNo: res.out_bill_no,
    transferBillNo: res.transfer_bill_no,
    createTime: res.create_time,
    state: res.state,
    packageInfo: res.package_info,
    failReason: res.fail_reason,
  };
}

/**
 * Queries a transfer bill by the merchant's number (商户单号查询转账单); 404 NOT_FOUND is a give-up error.
 * https://pay.weixin.qq.com/doc/v3/merchant/4012716437
 */
export async function getTransferBill(client: PayClient, outBillNo: string): Promise<TransferBill> {
  if (!OUT_NO.test(outBillNo)) throw new TypeError('out_bill_no is 1-32 letters or digits');
  const res = await client.request({
    method: 'GET',
    path: `${BILLS}/out-bill-no/${outBillNo}`,
    endpoint: `${BILLS}/out-bill-no/{out_bill_no}`,
    schema: QueriedBill,
  });
  return {
    mchid: res.mch_id,
    appid: res.appid,
    outBillNo: res.out_bill_no,
    transferBillNo: res.transfer_bill_no,
    state: res.state,
    amountFen: res.transfer_amount,
    remark: res.transfer_remark,
    openid: res.openid,
    failReason: res.fail_reason,
    createTime: res.create_time,
    updateTime: res.update_time,
  };
}

/**
 * Cancels a transfer that has not finished (撤销转账); the answer is CANCELING or CANCELLED.
 * https://pay.weixin.qq.com/doc/v3/merchant/4012716458
 */
export async function cancelTransferBill(
  client: PayClient,
  outBillNo: string,
): Promise<{ outBillNo: string; transferBillNo: string; state: TransferBillState; updateTime: string }> {
  if (!OUT_NO.test(outBillNo)) throw new TypeError('out_bill_no is 1-32 letters or digits');
  const res = await client.request({
    method: 'POST',
    path: `${BILLS}/out-bill-no/${outBillNo}/cancel`,
    endpoint: `${BILLS}/out-bill-no/{out_bill_no}/cancel`,
    schema: CancelledBill,
  });
  return {
    outBillNo: res.out_bill_no,
    transferBillNo: res.transfer_bill_no,
    state: res.state,
    updateTime: res.update_time,
  };
}

// ---- Legacy batch transfer (商家转账到零钱) -----------------------------------------------------

export const CreateTransferBatchInput = z
  .object({
    outBatchNo: z.string().regex(OUT_NO),
    batchName: z.string().min(1).max(32),
    batchRemark: z.string().min(1).max(32),
    sceneId: z
      .string()
      .regex(/^\d{1,8}$/)
      .optional(),
    notifyUrl: z.string().url().optional(),
    details: z
      .array(
        z
          .object({
            outDetailNo: z.string().regex(OUT_NO),
            amountFen: z.number().int().positive(),
            remark: z.string().min(1).max(32),
            openid: z.string().min(1).max(64),
            userName: z.string().min(1).max(64).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(1000),
  })
  .strict();
export type CreateTransferBatchInput = z.input<typeof CreateTransferBatchInput>;

const CreatedBatch = z.object({
  out_batch_no: z.string(),
  batch_id: z.string(),
  create_time: z.string(),
  batch_status: z.string().optional(),
});

export const BATCH_STATES = ['WAIT_PAY', 'ACCEPTED', 'PROCESSING', 'FINISHED', 'CLOSED'] as const;
export const DETAIL_STATES = ['INIT', 'WAIT_PAY', 'PROCESSING', 'SUCCESS', 'FAIL'] as const;

const QueriedBatch = z.object({
  transfer_batch: z.object({
    mchid: z.string(),
    out_batch_no: z.string(),
    batch_id: z.string(),
    appid: z.string(),
    batch_status: z.enum(BATCH_STATES),
    batch_type: z.string(),
    batch_name: z.string(),
    batch_remark: z.string(),
    close_reason: z.string().optional(),
    total_amount: z.number().int(),
    total_num: z.number().int(),
    create_time: z.string().optional(),
    update_time: z.string().optional(),
    success_amount: z.number().int().optional(),
    success_num: z.number().int().optional(),
    fail_amount: z.number().int().optional(),
    fail_num: z.number().int().optional(),
  }),
  transfer_detail_list: z
    .array(z.object({ detail_id: z.string(), out_detail_no: z.string(), detail_status: z.enum(DETAIL_STATES) }))
    .optional(),
});
export type TransferBatch = z.infer<typeof QueriedBatch>;

/**
 * Starts a batch transfer (发起商家转账); retries transient failures with the same out_batch_no.
 * https://pay.weixin.qq.com/docs/merchant/apis/batch-transfer-to-balance/transfer-batch/initiate-batch-transfer.html
 */
export async function createTransferBatch(
  client: PayClient,
  input: CreateTransferBatchInput,
  options: { attempts?: number } = {},
): Promise<{ outBatchNo: string; batchId: string; createTime: string; batchStatus?: string }> {
  const v = CreateTransferBatchInput.parse(input);
  const body: Record<string, unknown> = {
    appid: client.appid,
    out_batch_no: v.outBatchNo,
    batch_name: v.batchName,
    batch_remark: v.batchRemark,
    total_amount: v.details.reduce((sum, d) => sum + d.amountFen, 0),
    total_num: v.details.length,
    transfer_detail_list: v.details.map((d) => ({
      out_detail_no: d.outDetailNo,
      transfer_amount: d.amountFen,
      transfer_remark: d.remark,
      openid: d.openid,
      ...(d.userName ? { user_name: client.encryptSensitive(d.userName).ciphertext } : {}),
    })),
  };
  if (v.sceneId) body.transfer_scene_id = v.sceneId;
  if (v.notifyUrl) body.notify_url = v.notifyUrl;
  const res = await withSameNumber(options.attempts ?? 3, () =>
    client.request({ method: 'POST', path: '/v3/transfer/batches', body, schema: CreatedBatch }),
  );
  return {
    outBatchNo: res.out_batch_no,
    batchId: res.batch_id,
    createTime: res.create_time,
    batchStatus: res.batch_status,
  };
}

/**
 * Queries a batch by the merchant's number, with its details (商家批次单号查询批次单).
 * https://pay.weixin.qq.com/docs/merchant/apis/batch-transfer-to-balance/transfer-batch/get-transfer-batch-by-out-no.html
 */
export async function getTransferBatch(
  client: PayClient,
  outBatchNo: string,
  options: { needDetail?: boolean; detailStatus?: 'ALL' | 'SUCCESS' | 'FAIL' } = {},
): Promise<TransferBatch> {
  if (!OUT_NO.test(outBatchNo)) throw new TypeError('out_batch_no is 1-32 letters or digits');
  const needDetail = options.needDetail ?? true;
  return client.request({
    method: 'GET',
    path: `/v3/transfer/batches/out-batch-no/${outBatchNo}`,
    endpoint: '/v3/transfer/batches/out-batch-no/{out_batch_no}',
    query: { need_query_detail: needDetail, detail_status: needDetail ? (options.detailStatus ?? 'ALL') : undefined },
    schema: QueriedBatch,
  });
}
