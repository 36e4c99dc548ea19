/**
 * Runs before every test file: outbound connections to anything but this machine fail the test, so no
 * test can reach (or silently depend on) a real WeChat host.
 */
import net from 'node:net';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);
const originalConnect = net.Socket.prototype.connect;

function targetHost(args: unknown[]): string | undefined {
  const [first, second] = args;
  if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
    const o = first as { host?: string; path?: string };
    if (o.path) return undefined; // unix socket
    return o.host ?? 'localhost';
  }
  if (Array.isArray(first)) return targetHost(first as unknown[]);
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first)))
    return typeof second === 'string' ? second : 'localhost';
  return undefined;
}

net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const host = targetHost(args);
  if (host !== undefined && !LOOPBACK.has(host)) {
    throw new Error(`test tried to connect to ${host}: only 127.0.0.1 (the sandbox, storage, Redis) is allowed`);
  }
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
};
