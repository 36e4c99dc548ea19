/**
 * The sandbox merchant's money: its balance, transfer bills moving through WeChat Pay's states, batch
 * transfers, and the callbacks announcing a bill's final state. Single-process and in memory: every
 * transition happens in one synchronous step, so balance checks and debits cannot interleave.
 *
 * Transfer bill (商家转账): ACCEPTED → PROCESSING (funds locked; stays here while the balance is short,
 * then FAIL/OVERDUE_CLOSE) → WAIT_USER_CONFIRM (package_info) → TRANSFERING (user confirmed) → SUCCESS,
 * or FAIL with a reason (funds returned), or CANCELING → CANCELLED on a merchant cancel.
 */
import { randomBytes } from 'node:crypto';
import type { SandboxClock } from '../clock.js';

export type BillState =
  'ACCEPTED' | 'PROCESSING' | 'WAIT_USER_CONFIRM' | 'TRANSFERING' | 'SUCCESS' | 'FAIL' | 'CANCELING' | 'CANCELLED';

export interface SandboxBill {
  outBillNo: string;
  transferBillNo: string;
  appid: string;
  sceneId: string;
  openid: string;
  amountFen: number;
  remark: string;
  userName?: string;
  notifyUrl?: string;
  state: BillState;
  failReason?: string;
  packageInfo?: string;
  fundsLocked: boolean;
  createdAt: number;
  updatedAt: number;
  history: { state: BillState; at: number }[];
  /** What makes a repeat with the same out_bill_no "the same request". */
  fingerprint: string;
}

export interface SandboxBatchDetail {
  detailId: string;
  outDetailNo: string;
  amountFen: number;
  openid: string;
  remark: string;
  state: 'INIT' | 'WAIT_PAY' | 'PROCESSING' | 'SUCCESS' | 'FAIL';
  failReason?: string;
}

export interface SandboxBatch {
  outBatchNo: string;
  batchId: string;
  appid: string;
  name: string;
  remark: string;
  state: 'WAIT_PAY' | 'ACCEPTED' | 'PROCESSING' | 'FINISHED' | 'CLOSED';
  totalAmountFen: number;
  details: SandboxBatchDetail[];
  createdAt: number;
  updatedAt: number;
  fingerprint: string;
}

export interface LedgerTimings {
  /** Delay between automatic steps (ACCEPTED → PROCESSING → …). */
  stepDelayMs: number;
  /** How long a bill waits in PROCESSING for the balance before failing with OVERDUE_CLOSE. */
  fundsWaitMs: number;
  /** How long (sandbox clock) a user has to confirm before the bill closes (24 h on the real platform). */
  confirmWindowMs: number;
}

export interface LedgerEvents {
  /** A bill reached SUCCESS, FAIL or CANCELLED. */
  finished(bill: SandboxBill): void;
}

export const FINAL_STATES: readonly BillState[] = ['SUCCESS', 'FAIL', 'CANCELLED'];
const CANCELLABLE: readonly BillState[] = ['ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM'];

function digits(n: number): string {
  return [...randomBytes(n)].map((b) => String(b % 10)).join('');
}

export class LedgerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function createLedger(clock: SandboxClock, timings: LedgerTimings, events: LedgerEvents) {
  let balanceFen = 0;
  const bills = new Map<string, SandboxBill>();
  const billsByNo = new Map<string, SandboxBill>();
  const billsByPackage = new Map<string, SandboxBill>();
  const batches = new Map<string, SandboxBatch>();
  /** openid → the reason a payment to it fails (ACCOUNT_FROZEN, REAL_NAME_CHECK_FAIL…). */
  const failingPayees = new Map<string, string>();
  const timers = new Set<NodeJS.Timeout>();

  function later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  }

  function move(bill: SandboxBill, state: BillState, failReason?: string): void {
    bill.state = state;
    bill.updatedAt = clock.now();
    bill.history.push({ state, at: bill.updatedAt });
    if (failReason) bill.failReason = failReason;
    if (FINAL_STATES.includes(state)) {
      if (state !== 'SUCCESS' && bill.fundsLocked) balanceFen += bill.amountFen;
      bill.fundsLocked = false;
      bill.packageInfo = undefined;
      events.finished(bill);
    }
  }

  /** PROCESSING: lock the funds if the balance allows; WAIT_USER_CONFIRM with a package for the user. */
  function tryLockFunds(bill: SandboxBill): boolean {
    if (bill.state !== 'PROCESSING' || bill.amountFen > balanceFen) return false;
    balanceFen -= bill.amountFen;
    bill.fundsLocked = true;
    bill.packageInfo = randomBytes(48).toString('base64');
    billsByPackage.set(bill.packageInfo, bill);
    move(bill, 'WAIT_USER_CONFIRM');
    const deadline = bill.updatedAt + timings.confirmWindowMs;
    const checkExpiry = () => {
      if (bill.state !== 'WAIT_USER_CONFIRM') return;
      if (clock.now() >= deadline) move(bill, 'FAIL', 'OVERDUE_CLOSE');
      else later(Math.min(1000, Math.max(10, deadline - clock.now())), checkExpiry);
    };
    later(Math.min(1000, timings.confirmWindowMs), checkExpiry);
    return true;
  }

  function process(bill: SandboxBill): void {
    move(bill, 'PROCESSING');
    if (tryLockFunds(bill)) return;
    later(timings.fundsWaitMs, () => {
      if (bill.state === 'PROCESSING') move(bill, 'FAIL', 'OVERDUE_CLOSE');
    });
  }

  return {
    balance: () => balanceFen,
    /** Sets the balance; bills waiting in PROCESSING take their funds now if they can. */
    setBalance(fen: number): void {
      if (!Number.isInteger(fen) || fen < 0) throw new RangeError('balance is a non-negative integer of fen');
      balanceFen = fen;
      for (const bill of bills.values()) tryLockFunds(bill);
    },
    failPaymentsTo(openid: string, reason: string | undefined): void {
      if (reason) failingPayees.set(openid, reason);
      else failingPayees.delete(openid);
    },
    bill: (outBillNo: string) => bills.get(outBillNo),
    billByTransferNo: (no: string) => billsByNo.get(no),
    bills: () => [...bills.values()],

    /** Creates a bill or returns the one already made for the same request (idempotent by out_bill_no). */
    createBill(
      input: Omit<SandboxBill, 'transferBillNo' | 'state' | 'fundsLocked' | 'createdAt' | 'updatedAt' | 'history'>,
    ): {
      bill: SandboxBill;
      repeated: boolean;
    } {
      const existing = bills.get(input.outBillNo);
      if (existing) {
        if (existing.fingerprint !== input.fingerprint)
          throw new LedgerError(400, 'INVALID_REQUEST', '商户单号重复，且与原请求参数不一致');
        return { bill: existing, repeated: true };
      }
      const now = clock.now();
      const bill: SandboxBill = {
        ...input,
        transferBillNo: `1330000${digits(33)}`,
        state: 'ACCEPTED',
        fundsLocked: false,
        createdAt: now,
        updatedAt: now,
        history: [{ state: 'ACCEPTED', at: now }],
      };
      bills.set(bill.outBillNo, bill);
      billsByNo.set(bill.transferBillNo, bill);
      // The real API usually answers WAIT_USER_CONFIRM at once; a short balance leaves it PROCESSING.
      process(bill);
      return { bill, repeated: false };
    },

    /** The user confirms receipt in WeChat (requestMerchantTransfer with the package). */
    confirm(packageInfo: string, openid?: string): SandboxBill {
      const bill = billsByPackage.get(packageInfo);
      if (!bill) throw new LedgerError(404, 'NOT_FOUND', 'no transfer waits for this package');
      if (openid !== undefined && openid !== bill.openid)
        throw new LedgerError(403, 'NO_AUTH', 'this transfer is for another user');
      if (bill.state === 'TRANSFERING') return bill;
      if (bill.state !== 'WAIT_USER_CONFIRM')
        throw new LedgerError(400, 'INVALID_REQUEST', `the transfer is ${bill.state}, not waiting for confirmation`);
      move(bill, 'TRANSFERING');
      later(timings.stepDelayMs, () => {
        if (bill.state !== 'TRANSFERING') return;
        const reason = failingPayees.get(bill.openid);
        if (reason) move(bill, 'FAIL', reason);
        else move(bill, 'SUCCESS');
      });
      return bill;
    },

    /** The merchant cancels a bill that has not reached the user's account. */
    cancel(outBillNo: string): SandboxBill {
      const bill = bills.get(outBillNo);
      if (!bill) throw new LedgerError(404, 'NOT_FOUND', '记录不存在');
      if (bill.state === 'CANCELING' || bill.state === 'CANCELLED') return bill;
      if (!CANCELLABLE.includes(bill.state))
        throw new LedgerError(400, 'INVALID_REQUEST', `当前状态(${bill.state})不支持撤销`);
      move(bill, 'CANCELING');
      later(timings.stepDelayMs, () => move(bill, 'CANCELLED', 'MCH_CANCEL'));
      return bill;
    },

    batch: (outBatchNo: string) => batches.get(outBatchNo),

    /** Creates a batch; the whole amount must be available (403 NOT_ENOUGH otherwise: retry the same number). */
    createBatch(input: Omit<SandboxBatch, 'batchId' | 'state' | 'createdAt' | 'updatedAt'>): {
      batch: SandboxBatch;
      repeated: boolean;
    } {
      const existing = batches.get(input.outBatchNo);
      if (existing) {
        if (existing.fingerprint !== input.fingerprint)
          throw new LedgerError(400, 'INVALID_REQUEST', '商家批次单号重复，且与原请求参数不一致');
        return { batch: existing, repeated: true };
      }
      if (input.totalAmountFen > balanceFen)
        throw new LedgerError(403, 'NOT_ENOUGH', '商户账户资金不足，请充值后原单重试，请勿更换商家转账批次单号');
      balanceFen -= input.totalAmountFen;
      const now = clock.now();
      const batch: SandboxBatch = {
        ...input,
        batchId: `1030000${digits(33)}`,
        state: 'ACCEPTED',
        createdAt: now,
        updatedAt: now,
      };
      batches.set(batch.outBatchNo, batch);
      later(timings.stepDelayMs, () => {
        batch.state = 'PROCESSING';
        batch.updatedAt = clock.now();
        for (const d of batch.details) d.state = 'PROCESSING';
        later(timings.stepDelayMs, () => {
          for (const d of batch.details) {
            const reason = failingPayees.get(d.openid);
            if (reason) {
              d.state = 'FAIL';
              d.failReason = reason;
              balanceFen += d.amountFen;
            } else d.state = 'SUCCESS';
          }
          batch.state = 'FINISHED';
          batch.updatedAt = clock.now();
        });
      });
      return { batch, repeated: false };
    },

    close(): void {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

export type Ledger = ReturnType<typeof createLedger>;
