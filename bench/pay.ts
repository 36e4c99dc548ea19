/**
 * WeChat Pay costs on our side: verifying + decrypting one transfer callback (RSA-2048 verify and
 * AES-256-GCM, in process), and one signed transfer-bill create against the sandbox over loopback (RSA
 * sign, HTTP, the sandbox's own verify + sign, our response verify), sequential and 10 at a time.
 * Run: npx tsx bench/pay.ts
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/infra/config.js';
import { createPayClient, createTransferBill, verifyPayNotification } from '../src/platform/pay/index.js';
import { encryptResource, randomNonce, responseSigningMessage } from '../src/platform/pay/signing.js';
import { startSandbox } from '../src/sandbox/server.js';
import { createSign } from 'node:crypto';

async function timed(n: number, concurrency: number, fn: (i: number) => unknown) {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { perSecond: n / seconds, msEach: (seconds * 1000 * concurrency) / n };
}

export async function benchPay(): Promise<string> {
  const sandbox = await startSandbox();
  try {
    const settings = sandbox.pay.settings({ notifyUrl: 'http://127.0.0.1:9/pay/notify' });
    const config = loadConfig({
      APP_ENV: 'test',
      MONGO_URL: 'mongodb://127.0.0.1:1/',
      REDIS_URL: 'redis://127.0.0.1:1',
      ...settings,
    }).pay!;
    const client = createPayClient({ config });
    const keys = sandbox.pay.keys;

    const resource = JSON.stringify({
      out_bill_no: 'B1',
      transfer_bill_no: '1330000000000000000000000000000000001',
      state: 'SUCCESS',
      mch_id: keys.mchid,
      transfer_amount: 100,
      openid: 'o1',
      create_time: '2026-01-01T00:00:00+08:00',
      update_time: '2026-01-01T00:00:01+08:00',
    });
    const body = JSON.stringify({
      id: 'EV-1',
      create_time: '2026-01-01T00:00:01+08:00',
      resource_type: 'encrypt-resource',
      event_type: 'MCHTRANSFER.BILL.FINISHED',
      resource: { original_type: 'mch_payment', ...encryptResource(keys.apiV3Key, resource, 'mch_payment') },
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomNonce();
    const headers = {
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': nonce,
      'wechatpay-serial': keys.publicKey.id,
      'wechatpay-signature': createSign('RSA-SHA256')
        .update(responseSigningMessage(timestamp, nonce, body))
        .sign(keys.publicKey.privateKeyPem, 'base64'),
    };
    await timed(500, 1, () => verifyPayNotification(client, { headers, body })); // warm-up
    const verify = await timed(3000, 1, () => verifyPayNotification(client, { headers, body }));

    sandbox.pay.setBalance(1_000_000_000);
    const create = (i: number) =>
      createTransferBill(client, {
        outBillNo: `B${randomBytes(8).toString('hex')}${i}`,
        openid: 'oBench000000000000000000000',
        amountFen: 100,
        sceneId: '1000',
        remark: 'bench',
        reportInfos: [{ type: '活动名称', content: 'bench' }],
      });
    await timed(50, 5, create); // warm-up
    const sequential = await timed(300, 1, create);
    const parallel = await timed(600, 10, create);
    return [
      '| operation | ops/s | ms each |',
      '|---|---|---|',
      `| verify + decrypt one transfer callback (in process) | ${verify.perSecond.toFixed(0)} | ${verify.msEach.toFixed(3)} |`,
      `| create transfer bill via sandbox, 1 at a time | ${sequential.perSecond.toFixed(0)} | ${sequential.msEach.toFixed(2)} |`,
      `| create transfer bill via sandbox, 10 concurrent | ${parallel.perSecond.toFixed(0)} | ${parallel.msEach.toFixed(2)} |`,
      '',
      `Client and sandbox in one process (both sides sign and verify RSA-2048); ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}.`,
    ].join('\n');
  } finally {
    await sandbox.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchPay());
}
