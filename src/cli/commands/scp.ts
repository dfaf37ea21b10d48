import { execa } from 'execa';
import { UsageError } from '../../core/errors.js';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';
import { requireCluster, requireNode } from './node-access.js';

// A side is on a node when it starts with a name like node01 (QEMU) or an inventory's host name, and a colon.
const REMOTE = /^([A-Za-z0-9][A-Za-z0-9._-]*):(.*)$/;

/** `dpdkci scp SRC DST`, one side written NODE:/path. */
export async function runScp(src: string, dst: string, flags: { prefix?: string; recursive?: boolean }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  const onNode = (side: string) => {
    const m = REMOTE.exec(side);
    return m && record.nodes.some((n) => n.name === m[1]) ? m : null;
  };
  const s = onNode(src);
  const d = onNode(dst);
  if (Boolean(s) === Boolean(d)) {
    const names = record.nodes.map((n) => n.name).join(', ');
    throw new UsageError(`scp: exactly one of SRC ("${src}") and DST ("${dst}") must be on a node of cluster ${record.prefix} (${names}), written like ${record.nodes[0]?.name ?? 'node01'}:/path`);
  }
  const remote = (s ?? d) as RegExpExecArray;
  const node = requireNode(record, remote[1] as string, s ? 'SRC' : 'DST');
  const client = providerFor(record).sshClient(record, node, ctx.places);
  const spec = `${client.destination}:${remote[2] || '.'}`;
  const args = [
    ...client.options,
    '-P', String(client.port),
    ...(flags.recursive ? ['-r'] : []),
    s ? spec : src,
    d ? spec : dst,
  ];
  const result = await execa('scp', args, { stdio: 'inherit', reject: false });
  return result.exitCode ?? 255;
}
