import type { NodeSSH } from 'node-ssh';
import { DpdkciError } from '../core/errors.js';
import { remoteCommand } from '../exec/ssh-runner.js';

/**
 * Runs a node script that sets the clock (snapshot.sh reseed|clock) over an open connection: the host's
 * time is sent only once the script says "ready", so what the node sets is not behind by the seconds a
 * shell takes to start on a node that was just resumed under TCG. Returns what the script printed after.
 */
/** The part of an ssh2 exec channel used here (node-ssh's types leave ssh2's out). */
interface ExecChannel {
  on(event: 'data', fn: (chunk: Buffer) => void): void;
  on(event: 'close', fn: (code: number | null) => void): void;
  stderr: { on(event: 'data', fn: (chunk: Buffer) => void): void };
  write(text: string): void;
  close(): void;
}

export async function runWithHostTime(ssh: NodeSSH, argv: readonly string[], timeoutMs = 30_000): Promise<string> {
  const client = ssh.connection as { exec(command: string, cb: (error: Error | undefined, channel: ExecChannel) => void): void } | null;
  if (!client) throw new DpdkciError('internal: the SSH connection is closed');
  return new Promise((resolve, reject) => {
    client.exec(remoteCommand(argv), (error, channel) => {
      if (error) return reject(error);
      let out = '';
      let err = '';
      let sent = false;
      const timer = setTimeout(() => {
        channel.close();
        reject(new DpdkciError(`${argv.join(' ')}: no answer in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      channel.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (!sent && out.includes('ready\n')) {
          sent = true;
          channel.write(`${(Date.now() / 1000).toFixed(3)}\n`);
          out = out.slice(out.indexOf('ready\n') + 6);
        }
      });
      channel.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      channel.on('close', (code: number | null) => {
        clearTimeout(timer);
        if (code === 0) resolve(out.trim());
        else reject(new DpdkciError(`${argv.join(' ')} exited ${code}: ${err.trim() || out.trim()}`));
      });
    });
  });
}
