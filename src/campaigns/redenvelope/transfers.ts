/**
 * The red-envelope payout port over the WeChat Pay client: merchant transfers (商家转账) with the claim's
 * fixed out_bill_no; a bill WeChat Pay does not know reads as undefined so the payout creates it.
 */
import { isPlatformError } from '../../platform/kernel/errors.js';
import { createTransferBill, getTransferBill, type PayClient } from '../../platform/pay/index.js';
import type { TransferPort } from './service.js';

/** Transfer scene "现金营销" (cash marketing), reported with the campaign as WeChat Pay requires. */
export const CASH_MARKETING_SCENE = '1000';

export function createPayTransferPort(pay: PayClient): TransferPort {
  return {
    async create(input) {
      const bill = await createTransferBill(pay, {
        outBillNo: input.outBillNo,
        openid: input.openid,
        amountFen: input.amountFen,
        sceneId: CASH_MARKETING_SCENE,
        remark: input.remark.slice(0, 32),
        reportInfos: [
          { type: '活动名称', content: '红包活动' },
          { type: '奖励说明', content: '活动红包' },
        ],
      });
      return {
        state: bill.state,
        transferBillNo: bill.transferBillNo,
        ...(bill.packageInfo ? { packageInfo: bill.packageInfo } : {}),
        ...(bill.failReason ? { failReason: bill.failReason } : {}),
      };
    },
    async query(outBillNo) {
      try {
        const bill = await getTransferBill(pay, outBillNo);
        return {
          state: bill.state,
          transferBillNo: bill.transferBillNo,
          ...(bill.failReason ? { failReason: bill.failReason } : {}),
        };
      } catch (err) {
        if (isPlatformError(err, 'NOT_FOUND')) return undefined;
        throw err;
      }
    },
  };
}
