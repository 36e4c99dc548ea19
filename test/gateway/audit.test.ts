import { describe, expect, it } from 'vitest';
import { createAuditWriter } from '../../src/gateway/audit.js';
import { pruneInboundAudit } from '../../src/gateway/index.js';
import { InboundAuditModel, type InboundAudit } from '../../src/gateway/model.js';
import { ConfigError } from '../../src/infra/config.js';
import { testConfig, useTestApp } from '../support/app.js';
import { randomOpenid } from '../support/wechat-callback.js';

const app = useTestApp();

function record(openid: string, dedupKey: string, receivedAt: Date): InboundAudit {
  return {
    account: 'default',
    dedupKey,
    kind: 'message',
    type: 'text',
    openid,
    createTime: Math.floor(receivedAt.getTime() / 1000),
    xml: '<xml/>',
    encrypted: false,
    receivedAt,
  };
}

describe('the inbound audit', () => {
  it('stores a record once even when it is written twice (a retry racing the first write)', async () => {
    const writer = createAuditWriter({ logger: app().deps.logger, metrics: app().deps.metrics, batchSize: 3 });
    const openid = randomOpenid();
    const now = new Date();
    for (let i = 0; i < 5; i++) writer.record(record(openid, `k:${openid}:${i % 2}`, now));
    await writer.flush();
    writer.record(record(openid, `k:${openid}:2`, now));
    await writer.flush();
    expect(await InboundAuditModel.countDocuments({ openid })).toBe(3);
    expect(app().logs.some((l) => l.includes('audit write failed'))).toBe(false);
  });

  it('the prune job deletes records past the retention and keeps the rest', async () => {
    const openid = randomOpenid();
    const now = new Date('2026-06-30T00:00:00Z');
    const day = 86_400_000;
    await InboundAuditModel.collection.insertMany([
      record(openid, `p:${openid}:old`, new Date(now.getTime() - 31 * day)),
      record(openid, `p:${openid}:edge`, new Date(now.getTime() - 29 * day)),
      record(openid, `p:${openid}:new`, new Date(now.getTime() - day)),
    ]);
    expect(await pruneInboundAudit(30, now)).toBeGreaterThanOrEqual(1);
    const left = await InboundAuditModel.find({ openid }).lean();
    expect(left.map((r) => r.dedupKey).sort()).toEqual([`p:${openid}:edge`, `p:${openid}:new`]);
    // Running it again changes nothing.
    await pruneInboundAudit(30, now);
    expect(await InboundAuditModel.countDocuments({ openid })).toBe(2);
  });
});

describe('audit retention setting', () => {
  it('defaults to 90 days and refuses a non-positive value', () => {
    expect(testConfig().callback.auditRetentionDays).toBe(90);
    expect(testConfig({ WECHAT_CALLBACK_AUDIT_RETENTION_DAYS: '7' }).callback.auditRetentionDays).toBe(7);
    expect(() => testConfig({ WECHAT_CALLBACK_AUDIT_RETENTION_DAYS: '0' })).toThrow(ConfigError);
    expect(() => testConfig({ WECHAT_CALLBACK_AUDIT_RETENTION_DAYS: '0' })).toThrow(
      /WECHAT_CALLBACK_AUDIT_RETENTION_DAYS/,
    );
  });
});
