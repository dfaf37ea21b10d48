import { resolvePrefix } from '../../core/config.js';
import { ExitCode, UsageError } from '../../core/errors.js';
import { readClusterRecord } from '../../core/cluster.js';
import { clusterPaths } from '../../core/paths.js';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';

async function removeOne(prefix: string, force: boolean, ctx: CommandContext, why?: string): Promise<void> {
  const step = ctx.progress.start(`remove cluster ${prefix}${why ? ` (${why})` : ''}`);
  const provider = providerFor(readClusterRecord(clusterPaths(prefix, ctx.env).specFile));
  const report = await provider.deleteCluster(prefix, { graceful: !force, env: ctx.env });
  if (report.nodes.length === 0 && report.switchPids.length === 0 && report.registryPids.length === 0 && !report.removedDir) {
    step.end('skipped', 'nothing to remove');
    return;
  }
  step.end('done', [...report.nodes.map((n) => `${n.name} ${n.how}`), report.registryPids.length ? 'registry stopped' : '', report.removedDir ? 'state removed' : ''].filter(Boolean).join(', '));
}

export async function runDown(flags: { prefix?: string; force?: boolean; allStale?: boolean; prefixGiven?: boolean }, ctx: CommandContext): Promise<number> {
  if (flags.allStale) {
    if (flags.prefixGiven) {
      throw new UsageError('--all-stale: it reaps every stale cluster of this host and takes no --prefix; drop one of the two');
    }
    const stale = providerFor().findStale(ctx.env);
    if (stale.length === 0) ctx.progress.info('no stale clusters');
    // Stale clusters are nobody's: no ACPI power-off to wait for.
    for (const s of stale) await removeOne(s.prefix, true, ctx, s.reason);
    return ExitCode.ok;
  }
  await removeOne(resolvePrefix(flags.prefix, ctx.env), Boolean(flags.force), ctx);
  return ExitCode.ok;
}
