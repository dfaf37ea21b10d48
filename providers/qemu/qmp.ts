import { connect } from 'node:net';

/**
 * A minimal QMP client: connect, negotiate capabilities, run one command, return its "return" value.
 */
export async function qmpCommand(socketPath: string, command: string, args?: object, timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buffer = '';
    let stage: 'greeting' | 'caps' | 'command' = 'greeting';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`QMP ${command} on ${socketPath}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (error: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      sock.end();
      error ? reject(error) : resolve(value);
    };
    sock.on('error', (e) => finish(e));
    sock.on('data', (chunk) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
        if (msg.event) continue;
        if (msg.error) return finish(new Error(`QMP ${command}: ${msg.error.desc}`));
        if (stage === 'greeting' && msg.QMP) {
          stage = 'caps';
          sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (stage === 'caps' && 'return' in msg) {
          stage = 'command';
          sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
        } else if (stage === 'command' && 'return' in msg) {
          return finish(undefined, msg.return);
        }
      }
    });
  });
}
