import { execa } from 'execa';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';
import { requireCluster, requireNode } from './node-access.js';

/**
 * `dpdkci ssh NODE [-- CMD...]`: the system ssh client with the cluster key and pinned host key.
 * Like ssh itself, CMD's words are joined and run by the node's shell; its exit code is ours.
 */
export async function runSsh(node: string, command: string[], flags: { prefix?: string }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  const target = requireNode(record, node);
  const interactive = command.length === 0;
  const client = providerFor(record).sshClient(record, target, ctx.places);
  const args = [
    ...client.options,
    ...(interactive && process.stdin.isTTY ? ['-t'] : []),
    '-p', String(client.port),
    client.destination,
    ...(interactive ? [] : ['--', command.join(' ')]),
  ];
  const result = await execa('ssh', args, { stdio: 'inherit', reject: false });
  return result.exitCode ?? 255;
}
