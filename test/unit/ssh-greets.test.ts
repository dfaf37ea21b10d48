import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sshGreets } from '../../providers/qemu/provider.js';

/**
 * sshGreets against local TCP servers that behave as a booting node does behind QEMU's user network: a
 * connection that stalls, sshd's greeting coming late, something that is not sshd. (The real thing, QEMU and
 * sshd, is every e2e `up`.)
 */
let server: Server | undefined;
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server whose nth connection (from 0) is handled by handle; returns its port and what it saw. */
async function serve(handle: (socket: Socket, n: number) => void): Promise<{ port: number; stats: { connections: number; maxOpen: number } }> {
  const stats = { connections: 0, maxOpen: 0 };
  let open = 0;
  server = createServer((socket) => {
    sockets.add(socket);
    open++;
    stats.maxOpen = Math.max(stats.maxOpen, open);
    socket.on('close', () => open--);
    socket.on('error', () => undefined);
    handle(socket, stats.connections++);
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return { port: addr.port, stats };
}

const timed = async (p: Promise<boolean>) => {
  const began = performance.now();
  const ok = await p;
  return { ok, ms: performance.now() - began };
};

describe('sshGreets', () => {
  it('a first connection that stalls does not hold up a later one that is greeted', async () => {
    // The first two connections never hear anything, as when they were made before the guest's address was up.
    const { port } = await serve((socket, n) => {
      if (n >= 2) socket.write('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n');
    });
    const { ok, ms } = await timed(sshGreets('127.0.0.1', port, 5_000, { everyMs: 100, attemptMs: 300 }));
    expect(ok).toBe(true);
    expect(ms).toBeLessThan(1_000);
  });

  it('a connection the guest refuses is replaced at once, not at the next tick', async () => {
    // The guest's address is up and sshd not yet listening: each connection is reset straight away.
    const { port, stats } = await serve((socket, n) => (n < 3 ? socket.destroy() : socket.write('SSH-2.0-x\r\n')));
    const { ok, ms } = await timed(sshGreets('127.0.0.1', port, 5_000, { everyMs: 4_000 }));
    expect(ok).toBe(true);
    expect(stats.connections).toBe(4);
    expect(ms).toBeLessThan(1_000);
  });

  it('a greeting that takes longer than the attempt interval is still waited for', async () => {
    const { port, stats } = await serve((socket) => void setTimeout(() => !socket.destroyed && socket.write('SSH-2.0-x\r\n'), 700));
    const { ok, ms } = await timed(sshGreets('127.0.0.1', port, 5_000, { everyMs: 100, attemptMs: 2_000, maxOpen: 3 }));
    expect(ok).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(650);
    expect(ms).toBeLessThan(1_500);
    // Never more connections open at once than allowed.
    expect(stats.maxOpen).toBeLessThanOrEqual(3);
  });

  it('something that is not sshd, or nothing at all, is false once the window ends, and every connection is closed', async () => {
    const { port, stats } = await serve((socket) => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const { ok, ms } = await timed(sshGreets('127.0.0.1', port, 600, { everyMs: 50 }));
    expect(ok).toBe(false);
    expect(ms).toBeGreaterThanOrEqual(590);
    expect(stats.connections).toBeGreaterThan(3);

    const stalled = await serve(() => undefined);
    expect(await sshGreets('127.0.0.1', stalled.port, 500, { everyMs: 50, maxOpen: 4 })).toBe(false);
    expect(stalled.stats.maxOpen).toBe(4);
    await new Promise((r) => setTimeout(r, 100));
    expect([...sockets].filter((s) => !s.destroyed && s.readyState === 'open' && s.localPort === stalled.port)).toEqual([]);
  });

  it('a port nobody listens on is false after the window, without throwing', async () => {
    const { port } = await serve(() => undefined);
    await new Promise<void>((r) => server?.close(() => r()));
    server = undefined;
    expect(await sshGreets('127.0.0.1', port, 400, { everyMs: 50 })).toBe(false);
  });
});
