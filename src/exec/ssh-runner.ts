import { Readable } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import { quote } from 'zx';
import { createHash } from 'node:crypto';
import { CommandError, DpdkciError, UsageError } from '../core/errors.js';
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
  /** Further keys pinned for it (a known_hosts file may hold several types). */
  moreHostKeys?: string[];
  /** How to pin a key it offers that is not pinned (the hosts provider: the inventory's hostKey field). */
  pinHint?: string;
  /** Commands run through `sudo -n` (a machine reached as a user other than root). */
  sudo?: boolean;
}

/** Host key algorithms ssh2 may negotiate for a pinned key's type (RSA keys sign with SHA-2 too). */
function algorithmsFor(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/** OpenSSH's fingerprint of a key blob: SHA256:base64 without padding. */
export function keyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
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
  const lines = [target.hostKey, ...(target.moreHostKeys ?? [])];
  const pinned = lines.map(hostKeyBlob);
  const types = [...new Set(lines.map((l) => l.trim().split(/\s+/)[0] as string))];
  let offered: Buffer | undefined;
  const ssh = new NodeSSH();
  try {
    await ssh.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: readyTimeoutMs,
      keepaliveInterval: 5_000,
      // Only the pinned keys' types are negotiated, so the key offered is one that can be compared.
      algorithms: { serverHostKey: types.flatMap(algorithmsFor) as never },
      hostVerifier: (key: Buffer | string) => {
        if (!Buffer.isBuffer(key)) return false;
        offered = key;
        return pinned.some((p) => key.equals(p));
      },
    });
  } catch (e) {
    if (offered && !pinned.some((p) => p.equals(offered as Buffer))) {
      const type = offered.subarray(4, 4 + offered.readUInt32BE(0)).toString();
      throw new UsageError(
        `${target.name} (${target.host}:${target.port}) offered the host key ${type} ${keyFingerprint(offered)}, which is not pinned for it; dpdkci does not trust a host key on first use. ` +
          `Compare it with \`ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub\` run on the machine itself, then pin it` +
          `${target.pinHint ? `: ${target.pinHint} "${type} ${offered.toString('base64')}"` : ''}`,
      );
    }
    throw e;
  }
  return ssh;
}

export function createSshRunner(target: SshTarget, ssh: NodeSSH): Runner {
  return {
    host: target.name,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
      const command = remoteCommand(target.sudo ? ['sudo', '-n', '--', ...argv] : argv);
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
