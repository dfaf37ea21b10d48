import { createServer } from 'node:net';

/** Whether 127.0.0.1:port can be bound right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** `count` free loopback ports from `start` upwards, skipping `reserved` (ports other clusters recorded). */
export async function allocatePorts(count: number, start: number, reserved: ReadonlySet<number>): Promise<number[]> {
  const out: number[] = [];
  for (let port = start; out.length < count && port < 65535; port++) {
    if (reserved.has(port)) continue;
    if (await portIsFree(port)) out.push(port);
  }
  if (out.length < count) throw new Error(`no ${count} free TCP ports on 127.0.0.1 from ${start}`);
  return out;
}
