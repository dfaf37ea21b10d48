import { resolvePrefix } from '../../core/config.js';
import { ExitCode } from '../../core/errors.js';
import { deleteCluster } from '../../../providers/qemu/provider.js';
import type { CommandContext } from '../context.js';

export async function runDown(flags: { prefix?: string; force?: boolean }, ctx: CommandContext): Promise<number> {
  const prefix = resolvePrefix(flags.prefix, ctx.env);
  const step = ctx.progress.start(`remove cluster ${prefix}`);
  const report = await deleteCluster(prefix, { graceful: !flags.force, env: ctx.env });
  if (report.nodes.length === 0 && report.switchPids.length === 0 && !report.removedDir) {
    step.end('skipped', 'nothing to remove');
    return ExitCode.ok;
  }
  step.end('done', [...report.nodes.map((n) => `${n.name} ${n.how}`), report.removedDir ? 'state removed' : ''].filter(Boolean).join(', '));
  return ExitCode.ok;
}
