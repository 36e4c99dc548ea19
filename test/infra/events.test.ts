import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createEventBus } from '../../src/infra/events.js';
import { createLogger } from '../../src/infra/logger.js';
import type { Inbound } from '../../src/platform/wechat/inbound.js';
import '../../src/gateway/events.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

const payload = (openid: string) => ({
  account: 'default',
  requestId: 'r',
  receivedAt: new Date(),
  inbound: { kind: 'event', event: 'unsubscribe', openid, toUserName: 'gh', createTime: 1, fields: {} } as Inbound,
});

describe('the domain-event bus', () => {
  it('delivers to every subscriber, after the publisher returns', async () => {
    const { logger } = capture();
    const bus = createEventBus({ logger });
    const seen: string[] = [];
    bus.subscribe('wechat.inbound', (e) => void seen.push(`a:${e.inbound.openid}`));
    bus.subscribe('wechat.inbound', async (e) => void seen.push(`b:${e.inbound.openid}`));
    bus.publish('wechat.inbound', payload('o1'));
    expect(seen).toEqual([]);
    await bus.idle();
    expect(seen.sort()).toEqual(['a:o1', 'b:o1']);
  });

  it('isolates failures: a throwing or rejecting subscriber is logged and the others still run', async () => {
    const { logger, lines } = capture();
    const failures: string[] = [];
    const bus = createEventBus({ logger, onError: (name) => failures.push(name) });
    const seen: string[] = [];
    bus.subscribe('wechat.inbound', () => {
      throw new Error('sync boom');
    });
    bus.subscribe('wechat.inbound', () => Promise.reject(new Error('async boom')));
    bus.subscribe('wechat.inbound', (e) => void seen.push(e.inbound.openid));
    expect(() => bus.publish('wechat.inbound', payload('o2'))).not.toThrow();
    await bus.idle();
    expect(seen).toEqual(['o2']);
    expect(failures).toEqual(['wechat.inbound', 'wechat.inbound']);
    expect(lines.filter((l) => l.includes('event subscriber failed'))).toHaveLength(2);
  });

  it('unsubscribes', async () => {
    const bus = createEventBus({ logger: capture().logger });
    let n = 0;
    const off = bus.subscribe('wechat.inbound', () => void n++);
    bus.publish('wechat.inbound', payload('o3'));
    off();
    bus.publish('wechat.inbound', payload('o4'));
    await bus.idle();
    expect(n).toBe(1);
  });
});
