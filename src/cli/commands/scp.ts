import { execa } from 'execa';
import { UsageError } from '../../core/errors.js';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';
import { requireCluster, requireNode } from './node-access.js';

const REMOTE = /^(node\d{2}):(.*)$/;

/** `dpdkci scp SRC DST`, one side written NODE:/path. */
export async function runScp(src: string, dst: string, flags: { prefix?: string; recursive?: boolean }, ctx: CommandContext): Promise<number> {
  const s = REMOTE.exec(src);
  const d = REMOTE.exec(dst);
  if (Boolean(s) === Boolean(d)) {
    throw new UsageError(`scp: exactly one of SRC ("${src}") and DST ("${dst}") must be on a node, written like node01:/path`);
  }
  const remote = (s ?? d) as RegExpExecArray;
  const record = requireCluster(flags.prefix, ctx.env);
  const node = requireNode(record, remote[1] as string, s ? 'SRC' : 'DST');
  const client = providerFor(record).sshClient(record, node, ctx.env);
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
