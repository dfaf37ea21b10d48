import { ExitCode, UsageError } from '../../core/errors.js';
import type { CommandContext } from '../context.js';
import { requireCluster, requireNode } from './node-access.js';

export const PORT_NAMES = ['ssh'] as const;

/** `dpdkci ports [ssh] [--node NODE]`: the host port (on 127.0.0.1) forwarded to a node's service. */
export async function runPorts(name: string | undefined, flags: { prefix?: string; node?: string }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env);
  if (name !== undefined && !(PORT_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`ports: "${name}" is not a forwarded port; known: ${PORT_NAMES.join(', ')}`);
  }
  const nodes = flags.node ? [requireNode(record, flags.node, '--node')] : record.nodes;
  if (name) {
    ctx.out(String((nodes[0] ?? record.nodes[0])!.sshPort));
  } else {
    for (const n of nodes) ctx.out(`${n.name} ssh 127.0.0.1:${n.sshPort}`);
  }
  return ExitCode.ok;
}
