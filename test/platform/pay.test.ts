/**
 * WeChat Pay v3 client against the sandbox: signatures both ways, transfers through their states,
 * callbacks verified and decrypted (public key and platform certificate modes), refusals, error classes.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WechatPayConfig } from '../../src/infra/config.js';
import { PlatformError } from '../../src/platform/kernel/errors.js';
import {
  answerPayNotification,
  cancelTransferBill,
  createPayClient,
  createTransferBatch,
  createTransferBill,
  getTransferBatch,
  getTransferBill,
  openPayNotification,
  verifyPayNotification,
  type PayClient,
  type PayEvent,
  type PayVerificationError,
} from '../../src/platform/pay/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { testConfig } from '../support/app.js';

async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  outcome: PayEvent | { refused: string };
}

let sandbox: Sandbox;
let receiver: Server;
let notifyUrl = '';
const received: Received[] = [];
let failHandling = false;
let client: PayClient;

function payConfig(
  overrides: Record<string, string> = {},
  mode: 'public_key' | 'platform_cert' = 'public_key',
): WechatPayConfig {
  const config = testConfig({ ...sandbox.pay.settings({ notifyUrl, mode }), ...overrides });
  if (!config.pay) throw new Error('pay settings missing');
  return config.pay;
}

const events = (): PayEvent[] => received.flatMap((r) => ('kind' in r.outcome ? [r.outcome] : []));
const eventFor = (outBillNo: string) =>
  eventually(() => events().find((e) => e.kind === 'transfer_bill_finished' && e.outBillNo === outBillNo));
const billNo = () => `T${randomBytes(10).toString('hex')}`;
const openid = () => `o${randomBytes(13).toString('base64url')}`;
const transfer = (overrides: Partial<Parameters<typeof createTransferBill>[1]> = {}) => ({
  outBillNo: billNo(),
  openid: openid(),
  amountFen: 1000,
  sceneId: '1000',
  remark: 'Campaign reward',
  reportInfos: [
    { type: '活动名称', content: 'Spring' },
    { type: '奖励说明', content: 'Red envelope' },
  ],
  ...overrides,
});

beforeAll(async () => {
  sandbox = await startSandbox();
  sandbox.pay.configure({ stepDelayMs: 10, notifyRetryDelaysMs: [50, 50, 50] });
  // Our side of the callback: verify + decrypt with the client, answer 204 or refuse with 401.
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      void answerPayNotification(client, { headers: req.headers, body }, async (event) => {
        if (failHandling) throw new Error('storage down');
        received.push({ headers: req.headers, body, outcome: event });
        return Promise.resolve();
      }).then((answer) => {
        if (answer.status !== 204)
          received.push({
            headers: req.headers,
            body,
            outcome: { refused: answer.body?.message ?? String(answer.status) },
          });
        res
          .writeHead(answer.status, { 'content-type': 'application/json' })
          .end(answer.body ? JSON.stringify(answer.body) : '');
      });
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  notifyUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/pay/notify`;
  client = createPayClient({ config: payConfig(), timeoutMs: 10_000 });
});

afterAll(async () => {
  await sandbox.close();
  await new Promise<void>((r) => receiver.close(() => r()));
});

afterEach(() => {
  sandbox.faults.clear();
  sandbox.clock.reset();
  sandbox.pay.configure({ signingKey: 'public_key', fundsWaitMs: 2000 });
});

describe('merchant transfer (transfer-bills)', () => {
  it('a transfer is created, confirmed by the user, succeeds, and its callback is verified and decrypted', async () => {
    sandbox.pay.setBalance(100_000);
    const input = transfer({ amountFen: 2_345 });
    const created = await createTransferBill(client, input);
    expect(created).toMatchObject({ outBillNo: input.outBillNo, state: 'WAIT_USER_CONFIRM' });
    expect(created.packageInfo).toEqual(expect.any(String));
    expect(sandbox.pay.balance()).toBe(100_000 - 2_345); // funds locked

    expect(sandbox.pay.confirmTransfer(created.packageInfo!, input.openid)).toBe('TRANSFERING');
    const event = await eventFor(input.outBillNo);
    expect(event).toMatchObject({
      kind: 'transfer_bill_finished',
      state: 'SUCCESS',
      amountFen: 2_345,
      openid: input.openid,
      transferBillNo: created.transferBillNo,
      mchid: sandbox.pay.keys.mchid,
      signedBy: sandbox.pay.keys.publicKey.id,
    });
    expect(sandbox.pay.bill(input.outBillNo)?.history.map((h) => h.state)).toEqual([
      'ACCEPTED',
      'PROCESSING',
      'WAIT_USER_CONFIRM',
      'TRANSFERING',
      'SUCCESS',
    ]);
    const queried = await getTransferBill(client, input.outBillNo);
    expect(queried).toMatchObject({ state: 'SUCCESS', amountFen: 2_345, transferBillNo: created.transferBillNo });
    expect(sandbox.pay.balance()).toBe(100_000 - 2_345);
  });

  it('is idempotent by out_bill_no: a repeat returns the same bill and pays once; other parameters are refused', async () => {
    sandbox.pay.setBalance(10_000);
    const input = transfer({ amountFen: 1_000 });
    const [a, b] = await Promise.all([createTransferBill(client, input), createTransferBill(client, input)]);
    expect(a.transferBillNo).toBe(b.transferBillNo);
    expect(sandbox.pay.balance()).toBe(9_000);
    await expect(createTransferBill(client, { ...input, amountFen: 2_000 })).rejects.toMatchObject({
      errcode: 'INVALID_REQUEST',
      disposition: 'give_up',
      httpStatus: 400,
    });
  });

  it('a transfer fails for insufficient balance: it waits in PROCESSING, then FAIL, and no money moves', async () => {
    sandbox.pay.configure({ fundsWaitMs: 100 });
    sandbox.pay.setBalance(500);
    const input = transfer({ amountFen: 1_000 });
    const created = await createTransferBill(client, input);
    expect(created.state).toBe('PROCESSING');
    expect(created.packageInfo).toBeUndefined();
    const event = await eventFor(input.outBillNo);
    expect(event).toMatchObject({ state: 'FAIL', failReason: 'OVERDUE_CLOSE' });
    expect(await getTransferBill(client, input.outBillNo)).toMatchObject({
      state: 'FAIL',
      failReason: 'OVERDUE_CLOSE',
    });
    expect(sandbox.pay.balance()).toBe(500);
  });

  it('a transfer short of funds proceeds once the balance is topped up', async () => {
    sandbox.pay.setBalance(0);
    const input = transfer({ amountFen: 800 });
    expect((await createTransferBill(client, input)).state).toBe('PROCESSING');
    sandbox.pay.setBalance(1_000);
    const bill = await getTransferBill(client, input.outBillNo);
    expect(bill.state).toBe('WAIT_USER_CONFIRM');
    expect(sandbox.pay.balance()).toBe(200);
  });

  it('a payment the platform refuses for the payee fails with its reason and returns the funds', async () => {
    sandbox.pay.setBalance(5_000);
    const input = transfer({ amountFen: 1_500 });
    sandbox.pay.failPaymentsTo(input.openid, 'ACCOUNT_FROZEN');
    const created = await createTransferBill(client, input);
    sandbox.pay.confirmTransfer(created.packageInfo!);
    expect(await eventFor(input.outBillNo)).toMatchObject({ state: 'FAIL', failReason: 'ACCOUNT_FROZEN' });
    expect(sandbox.pay.balance()).toBe(5_000);
  });

  it('a waiting transfer can be cancelled (funds returned, CANCELLED callback); a finished one cannot', async () => {
    sandbox.pay.setBalance(3_000);
    const input = transfer({ amountFen: 1_000 });
    await createTransferBill(client, input);
    const cancelled = await cancelTransferBill(client, input.outBillNo);
    expect(['CANCELING', 'CANCELLED']).toContain(cancelled.state);
    expect(await eventFor(input.outBillNo)).toMatchObject({ state: 'CANCELLED' });
    expect(sandbox.pay.balance()).toBe(3_000);

    const done = transfer({ amountFen: 100 });
    const c2 = await createTransferBill(client, done);
    sandbox.pay.confirmTransfer(c2.packageInfo!);
    await eventFor(done.outBillNo);
    await expect(cancelTransferBill(client, done.outBillNo)).rejects.toMatchObject({
      errcode: 'INVALID_REQUEST',
      disposition: 'give_up',
    });
  });

  it('a transfer the user never confirms closes with OVERDUE_CLOSE and returns the funds', async () => {
    sandbox.pay.configure({ confirmWindowMs: 150 });
    try {
      sandbox.pay.setBalance(2_000);
      const input = transfer({ amountFen: 700 });
      expect((await createTransferBill(client, input)).state).toBe('WAIT_USER_CONFIRM');
      expect(sandbox.pay.balance()).toBe(1_300);
      expect(await eventFor(input.outBillNo)).toMatchObject({ state: 'FAIL', failReason: 'OVERDUE_CLOSE' });
      expect(sandbox.pay.balance()).toBe(2_000);
    } finally {
      sandbox.pay.configure({ confirmWindowMs: 24 * 3600_000 });
    }
  });

  it('the user confirming a transfer meant for someone else is refused', async () => {
    sandbox.pay.setBalance(1_000);
    const created = await createTransferBill(client, transfer({ amountFen: 100 }));
    expect(() => sandbox.pay.confirmTransfer(created.packageInfo!, 'o-someone-else')).toThrow(/another user/);
  });

  it('encrypts user_name with the WeChat Pay key, and requires it from 2,000 CNY', async () => {
    sandbox.pay.setBalance(1_000_000);
    await expect(createTransferBill(client, transfer({ amountFen: 200_000 }))).rejects.toMatchObject({
      errcode: 'PARAM_ERROR',
      disposition: 'give_up',
    });
    const input = transfer({ amountFen: 200_000, userName: '张三' });
    await createTransferBill(client, input);
    expect(sandbox.pay.bill(input.outBillNo)?.userName).toBe('张三');
  });

  it('a missing bill is NOT_FOUND (give up)', async () => {
    await expect(getTransferBill(client, 'NOSUCHBILL1')).rejects.toMatchObject({
      errcode: 'NOT_FOUND',
      disposition: 'give_up',
      httpStatus: 404,
    });
  });
});

describe('callbacks', () => {
  async function oneNotification(): Promise<Received> {
    sandbox.pay.setBalance(1_000);
    const input = transfer({ amountFen: 100 });
    const created = await createTransferBill(client, input);
    sandbox.pay.confirmTransfer(created.packageInfo!);
    await eventFor(input.outBillNo);
    return received.find(
      (r) => 'kind' in r.outcome && r.outcome.kind !== 'unknown' && r.outcome.outBillNo === input.outBillNo,
    )!;
  }
  const refusal = (fn: () => unknown) => {
    try {
      fn();
      return 'accepted';
    } catch (err) {
      return (err as PayVerificationError).code;
    }
  };

  it('a callback with a forged signature, a tampered body or an unknown key is refused', async () => {
    const real = await oneNotification();
    const headers = { ...real.headers };
    expect(refusal(() => verifyPayNotification(client, { headers, body: real.body }))).toBe('accepted');
    expect(
      refusal(() => verifyPayNotification(client, { headers, body: real.body.replace('"id":"EV-', '"id":"EV-X') })),
    ).toBe('bad_signature');
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const { createSign } = await import('node:crypto');
    const forged = createSign('RSA-SHA256')
      .update(`${String(headers['wechatpay-timestamp'])}\n${String(headers['wechatpay-nonce'])}\n${real.body}\n`)
      .sign(attacker, 'base64');
    expect(
      refusal(() =>
        verifyPayNotification(client, { headers: { ...headers, 'wechatpay-signature': forged }, body: real.body }),
      ),
    ).toBe('bad_signature');
    expect(
      refusal(() =>
        verifyPayNotification(client, {
          headers: { ...headers, 'wechatpay-serial': 'PUB_KEY_ID_0114FAKE' },
          body: real.body,
        }),
      ),
    ).toBe('unknown_serial');
    expect(
      refusal(() =>
        verifyPayNotification(client, {
          headers: { ...headers, 'wechatpay-signature': 'WECHATPAY/SIGNTEST/xyz' },
          body: real.body,
        }),
      ),
    ).toBe('probe_signature');
  });

  it('a replayed callback outside the 5-minute window is refused', async () => {
    const real = await oneNotification();
    const later = (Number(real.headers['wechatpay-timestamp']) + 301) * 1000;
    const replayClient = createPayClient({ config: payConfig(), now: () => later });
    expect(refusal(() => verifyPayNotification(replayClient, { headers: real.headers, body: real.body }))).toBe(
      'stale_timestamp',
    );
  });

  it('a stale-timestamp callback is refused and WeChat Pay re-sends it until it is accepted', async () => {
    sandbox.pay.setBalance(1_000);
    const input = transfer({ amountFen: 100 });
    const created = await createTransferBill(client, input);
    sandbox.clock.advance(10 * 60_000); // the platform's clock runs 10 minutes ahead of ours
    sandbox.pay.confirmTransfer(created.packageInfo!);
    await eventually(() =>
      received.find((r) => 'refused' in r.outcome && r.outcome.refused === 'stale_timestamp' && r.body.length > 0),
    );
    sandbox.clock.reset();
    const event = await eventFor(input.outBillNo);
    expect(event).toMatchObject({ state: 'SUCCESS' });
    // The sandbox records a delivery once our answer reaches it, a moment after we handled the event.
    await eventually(() =>
      sandbox.pay.notifications().find((a) => a.outBillNo === input.outBillNo && a.status === 204),
    );
    const attemptsForBill = sandbox.pay.notifications().filter((a) => a.outBillNo === input.outBillNo);
    expect(attemptsForBill[0]?.status).toBe(401);
    expect(attemptsForBill.at(-1)?.status).toBe(204);
    expect(new Set(attemptsForBill.map((a) => a.notificationId)).size).toBe(1);
  });

  it('a callback our storage could not take is answered 500 and re-sent until handled', async () => {
    sandbox.pay.setBalance(1_000);
    const input = transfer({ amountFen: 100 });
    const created = await createTransferBill(client, input);
    failHandling = true;
    try {
      sandbox.pay.confirmTransfer(created.packageInfo!);
      await eventually(() =>
        sandbox.pay.notifications().find((a) => a.outBillNo === input.outBillNo && a.status === 500),
      );
    } finally {
      failHandling = false;
    }
    expect(await eventFor(input.outBillNo)).toMatchObject({ state: 'SUCCESS' });
  });

  it('platform-certificate mode: certificates download encrypted, responses and callbacks verify by cert serial', async () => {
    const certClient = createPayClient({ config: payConfig({}, 'platform_cert') });
    expect(await certClient.refreshCertificates()).toEqual([sandbox.pay.keys.platformCert.serialNo]);
    sandbox.pay.setBalance(1_000);
    sandbox.pay.configure({ signingKey: 'platform_cert' });
    const input = transfer({ amountFen: 100, userName: '李四' });
    const created = await createTransferBill(certClient, input);
    expect(sandbox.pay.bill(input.outBillNo)?.userName).toBe('李四');
    sandbox.pay.confirmTransfer(created.packageInfo!);
    // The shared receiver verifies with the public-key client: a cert-signed callback is unknown to it.
    await eventually(() => received.find((r) => 'refused' in r.outcome && r.outcome.refused === 'unknown_serial'));
    const cert = received.find((r) => 'refused' in r.outcome && r.outcome.refused === 'unknown_serial')!;
    const event = verifyPayNotification(certClient, { headers: cert.headers, body: cert.body });
    expect(event).toMatchObject({
      outBillNo: input.outBillNo,
      state: 'SUCCESS',
      signedBy: sandbox.pay.keys.platformCert.serialNo,
    });
  });

  it('a rotated platform certificate is downloaded from /v3/certificates on first sight', async () => {
    const { generatePaySandboxKeys } = await import('../../src/sandbox/pay/keys.js');
    const retired = generatePaySandboxKeys().platformCert;
    const rotated = createPayClient({
      config: { ...payConfig({}, 'platform_cert'), platformCertPem: retired.certPem },
    });
    sandbox.pay.configure({ signingKey: 'platform_cert' });
    await expect(getTransferBill(rotated, 'NOSUCHBILL2')).rejects.toMatchObject({ errcode: 'NOT_FOUND' });
    sandbox.pay.setBalance(1_000);
    const created = await createTransferBill(rotated, transfer({ amountFen: 100 }));
    expect(created.state).toBe('WAIT_USER_CONFIRM');
    expect(rotated.keyring.serials()).toContain(sandbox.pay.keys.platformCert.serialNo);
  });

  it('a certificate list that does not decrypt with our APIv3 key is refused and trusted nothing', async () => {
    const wrongKey = createPayClient({
      config: { ...payConfig({}, 'platform_cert'), apiV3Key: 'ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ' },
    });
    const before = wrongKey.keyring.serials();
    await expect(wrongKey.refreshCertificates()).rejects.toMatchObject({
      errcode: 'bad_response',
      disposition: 'retry',
    });
    expect(wrongKey.keyring.serials()).toEqual(before);
  });

  it('a client trusting both keys (switch-over) accepts callbacks signed by either', async () => {
    const keys = sandbox.pay.keys;
    const both = createPayClient({
      config: { ...payConfig(), platformCertPem: keys.platformCert.certPem },
    });
    const real = await oneNotification();
    expect(verifyPayNotification(both, { headers: real.headers, body: real.body })).toMatchObject({
      signedBy: keys.publicKey.id,
    });
    expect(both.keyring.serials().sort()).toEqual([keys.platformCert.serialNo, keys.publicKey.id].sort());
    expect(openPayNotification).toBeTypeOf('function');
  });
});

describe('error classes', () => {
  it('a request signed with the wrong merchant key gets 401 SIGN_ERROR (give up)', async () => {
    const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const bad = createPayClient({ config: payConfig({ WECHATPAY_PRIVATE_KEY: wrongKey }) });
    await expect(getTransferBill(bad, 'ANY1')).rejects.toMatchObject({
      errcode: 'SIGN_ERROR',
      httpStatus: 401,
      disposition: 'give_up',
    });
  });

  it('a response signed by a key we do not trust is refused even though the call succeeded', async () => {
    const otherPub = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const fooled = createPayClient({ config: payConfig({ WECHATPAY_PUBLIC_KEY: otherPub }) });
    sandbox.pay.setBalance(1_000);
    await expect(createTransferBill(fooled, transfer({ amountFen: 100 }), { attempts: 1 })).rejects.toMatchObject({
      errcode: 'bad_signature',
      disposition: 'retry',
    });
  });

  it('SYSTEM_ERROR and 429 are retried with the same out_bill_no; the transfer happens once', async () => {
    sandbox.pay.setBalance(10_000);
    sandbox.faults.add({
      platform: 'wechatpay',
      path: '/v3/fund-app/mch-transfer/transfer-bills',
      httpStatus: 500,
      errcode: 'SYSTEM_ERROR',
      times: 1,
    });
    sandbox.faults.add({
      platform: 'wechatpay',
      path: '/v3/fund-app/mch-transfer/transfer-bills',
      httpStatus: 429,
      errcode: 'FREQUENCY_LIMITED',
      times: 1,
    });
    const input = transfer({ amountFen: 1_000 });
    const created = await createTransferBill(client, input, { attempts: 3 });
    expect(created.state).toBe('WAIT_USER_CONFIRM');
    expect(sandbox.pay.balance()).toBe(9_000);
  });

  it('past the per-second limit creates answer 429 FREQUENCY_LIMITED (retry); a body that is not JSON is PARAM_ERROR', async () => {
    sandbox.pay.setBalance(100_000);
    sandbox.pay.configure({ qpsLimit: 2 });
    // Its own client: a burst of 429s counts against the circuit breaker of the client that sees them.
    const limited = createPayClient({ config: payConfig() });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, () => createTransferBill(limited, transfer({ amountFen: 100 }), { attempts: 1 })),
      );
      const rejected = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as PlatformError] : []));
      expect(rejected.length).toBeGreaterThan(0);
      for (const err of rejected)
        expect(err).toMatchObject({ errcode: 'FREQUENCY_LIMITED', disposition: 'retry', httpStatus: 429 });
    } finally {
      sandbox.pay.configure({ qpsLimit: 100 });
    }
    const raw = await client
      .request({ method: 'POST', path: '/v3/transfer/batches', body: 'not json' })
      .catch((e: unknown) => e);
    expect(raw).toMatchObject({ errcode: 'PARAM_ERROR', disposition: 'give_up' });
  });

  it('after consecutive outages the circuit opens and calls fail fast without reaching WeChat Pay', async () => {
    const guarded = createPayClient({ config: payConfig() });
    const id = sandbox.faults.add({
      platform: 'wechatpay',
      path: '/v3/fund-app/mch-transfer/transfer-bills/*',
      httpStatus: 503,
    });
    for (let i = 0; i < 5; i++)
      await expect(getTransferBill(guarded, 'ANY9')).rejects.toMatchObject({ httpStatus: 503, disposition: 'retry' });
    const fired = sandbox.faults.list().find((f) => f.id === id)?.fired;
    await expect(getTransferBill(guarded, 'ANY9')).rejects.toMatchObject({
      errcode: 'circuit_open',
      disposition: 'retry',
    });
    expect(sandbox.faults.list().find((f) => f.id === id)?.fired).toBe(fired);
  });

  it('transient errors surface as retry when attempts run out; a timeout is a retry too', async () => {
    sandbox.faults.add({
      platform: 'wechatpay',
      path: '/v3/fund-app/mch-transfer/transfer-bills/*',
      httpStatus: 500,
      errcode: 'SYSTEM_ERROR',
      times: 1,
    });
    const err = await getTransferBill(client, 'ANY2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ errcode: 'SYSTEM_ERROR', disposition: 'retry', httpStatus: 500 });

    sandbox.faults.add({
      platform: 'wechatpay',
      path: '/v3/fund-app/mch-transfer/transfer-bills/*',
      hang: true,
      times: 1,
    });
    const quick = createPayClient({ config: payConfig(), timeoutMs: 200 });
    await expect(getTransferBill(quick, 'ANY3')).rejects.toMatchObject({ errcode: 'timeout', disposition: 'retry' });
  });
});

describe('pay settings', () => {
  it('loads a sandbox merchant in both modes and names a public key without its id', () => {
    expect(payConfig()).toMatchObject({ mchid: sandbox.pay.keys.mchid, publicKeyId: sandbox.pay.keys.publicKey.id });
    expect(payConfig({}, 'platform_cert').platformCertPem).toContain('BEGIN CERTIFICATE');
    expect(() => payConfig({ WECHATPAY_PUBLIC_KEY_ID: '' })).toThrow(/WECHATPAY_PUBLIC_KEY_ID is required/);
    expect(() => payConfig({ WECHATPAY_PUBLIC_KEY_ID: 'PUB-KEY' })).toThrow(/WECHATPAY_PUBLIC_KEY_ID is invalid/);
  });
});

describe('sandbox control API', () => {
  it('sets the balance and confirms as the user over HTTP', async () => {
    const put = await fetch(`${sandbox.payBase}/_sandbox/balance`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ balance_fen: 4_321 }),
    });
    expect(await put.json()).toEqual({ balance_fen: 4_321 });
    const input = transfer({ amountFen: 321 });
    const created = await createTransferBill(client, input);
    const confirm = await fetch(`${sandbox.payBase}/_sandbox/transfer-bills/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ package: created.packageInfo, openid: input.openid }),
    });
    expect(await confirm.json()).toEqual({ state: 'TRANSFERING' });
    expect(await eventFor(input.outBillNo)).toMatchObject({ state: 'SUCCESS' });
    const refused = await fetch(`${sandbox.payBase}/_sandbox/balance`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ balance_fen: -1 }),
    });
    expect(refused.status).toBe(400);
  });
});

describe('batch transfer (transfer/batches)', () => {
  it('pays each detail, failing the one the platform refuses, and reports the batch FINISHED', async () => {
    sandbox.pay.setBalance(10_000);
    const [good, frozen] = [openid(), openid()];
    sandbox.pay.failPaymentsTo(frozen, 'ACCOUNT_FROZEN');
    const outBatchNo = billNo();
    const created = await createTransferBatch(client, {
      outBatchNo,
      batchName: 'Rewards',
      batchRemark: 'Spring rewards',
      details: [
        { outDetailNo: `${outBatchNo}A`, amountFen: 300, remark: 'reward', openid: good },
        { outDetailNo: `${outBatchNo}B`, amountFen: 200, remark: 'reward', openid: frozen },
      ],
    });
    expect(created).toMatchObject({ outBatchNo, batchStatus: 'ACCEPTED' });
    const batch = await eventually(async () => {
      const b = await getTransferBatch(client, outBatchNo);
      return b.transfer_batch.batch_status === 'FINISHED' ? b : undefined;
    });
    expect(batch.transfer_batch).toMatchObject({ total_amount: 500, success_amount: 300, fail_amount: 200 });
    expect(batch.transfer_detail_list?.map((d) => d.detail_status).sort()).toEqual(['FAIL', 'SUCCESS']);
    expect(sandbox.pay.balance()).toBe(10_000 - 300);
  });

  it('a batch beyond the balance is NOT_ENOUGH; topping up and retrying the same number succeeds', async () => {
    sandbox.pay.setBalance(100);
    const input = {
      outBatchNo: billNo(),
      batchName: 'Rewards',
      batchRemark: 'Spring rewards',
      details: [{ outDetailNo: billNo(), amountFen: 500, remark: 'reward', openid: openid() }],
    };
    await expect(createTransferBatch(client, input)).rejects.toMatchObject({
      errcode: 'NOT_ENOUGH',
      httpStatus: 403,
      disposition: 'give_up',
    });
    await expect(getTransferBatch(client, input.outBatchNo)).rejects.toMatchObject({ errcode: 'NOT_FOUND' });
    sandbox.pay.setBalance(1_000);
    expect(await createTransferBatch(client, input)).toMatchObject({ outBatchNo: input.outBatchNo });
    expect(sandbox.pay.balance()).toBe(500);
  });
});
