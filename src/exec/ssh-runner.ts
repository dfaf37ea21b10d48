import { Readable } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import { quote } from 'zx';
import { CommandError, DpdkciError } from '../core/errors.js';
import type { Runner, RunOptions, RunResult } from './runner.js';

export interface SshTarget {
  /** Node name, for messages. */
  name: string;
  host: string;
  port: number;
  user: string;
  privateKey: string;
  /** The node's pinned host key, as in a known_hosts line: "ssh-ed25519 AAAA...". */
  hostKey: string;
}

/** The raw key blob of an OpenSSH public key line, for comparing with what the server offers. */
export function hostKeyBlob(line: string): Buffer {
  const b64 = line.trim().split(/\s+/)[1];
  if (!b64) throw new DpdkciError(`not an SSH public key: ${line}`);
  return Buffer.from(b64, 'base64');
}

/** The remote command line for an argv: every word quoted, no string concatenation of user input. */
export function remoteCommand(argv: readonly string[]): string {
  return argv.map((a) => quote(a)).join(' ');
}

export async function connectSsh(target: SshTarget, readyTimeoutMs = 10_000): Promise<NodeSSH> {
  const pinned = hostKeyBlob(target.hostKey);
  const ssh = new NodeSSH();
  await ssh.connect({
    host: target.host,
    port: target.port,
    username: target.user,
    privateKey: target.privateKey,
    readyTimeout: readyTimeoutMs,
    keepaliveInterval: 5_000,
    hostVerifier: (key: Buffer | string) => Buffer.isBuffer(key) && key.equals(pinned),
  });
  return ssh;
}

export function createSshRunner(target: SshTarget, ssh: NodeSSH): Runner {
  return {
    host: target.name,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
      const command = remoteCommand(argv);
      // Bytes go as a stream: a string would be re-encoded as UTF-8 and break binaries and archives.
      const stdin = options.stdin === undefined ? undefined : typeof options.stdin === 'string' ? options.stdin : Readable.from([options.stdin]);
      const exec = ssh.execCommand(command, stdin === undefined ? {} : { stdin });
      const result = options.timeoutMs
        ? await Promise.race([
            exec,
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new CommandError(target.name, argv, 124, `timed out after ${options.timeoutMs} ms`)), options.timeoutMs).unref(),
            ),
          ])
        : await exec;
      // No exit status at all means the connection went away under the command: never a success.
      const exitCode = result.code ?? 255;
      const stderr = result.code === null ? `${result.stderr}\n(no exit status: ${result.signal ? `killed by ${result.signal}` : 'the SSH connection closed'})` : result.stderr;
      const out = { stdout: result.stdout, stderr, exitCode };
      if (exitCode !== 0 && options.check !== false) {
        throw new CommandError(target.name, argv, exitCode, stderr, result.stdout);
      }
      return out;
    },
    async close() {
      ssh.dispose();
    },
  };
}
