import { resolvePrefix } from '../../core/config.js';
import { DpdkciError, ExitCode, UsageError } from '../../core/errors.js';
import { readClusterRecord } from '../../core/cluster.js';
import { clusterPaths } from '../../core/paths.js';
import { allProviders, PROVIDER_NAMES, providerFor } from '../providers.js';
import type { Provider } from '../../provider/provider.js';
import type { CommandContext } from '../context.js';

async function removeOne(prefix: string, force: boolean, ctx: CommandContext, why?: string, purgePackages = false, judgedBy?: Provider): Promise<void> {
  const step = ctx.progress.start(`remove cluster ${prefix}${why ? ` (${why})` : ''}`);
  const record = readClusterRecord(clusterPaths(prefix, ctx.places).specFile);
  if (purgePackages && record?.provider !== 'hosts') {
    step.end('failed', 'refused');
    throw new UsageError(`--purge-packages: cluster "${prefix}" is not on machines of an inventory (provider ${record?.provider ?? 'none'}); its nodes are removed whole: leave --purge-packages out`);
  }
  const provider = providerFor(record);
  if (judgedBy && provider !== judgedBy) {
    // Its record changed hands since it was judged (another up under the same prefix): not this reaping's to remove.
    step.end('skipped', `now a ${provider.name} cluster, not judged stale by its provider`);
    return;
  }
  const report = await provider.deleteCluster(prefix, { graceful: !force, places: ctx.places, purgePackages, forget: force });
  if (report.hosts) {
    // A hosts cluster: what was put back on each machine, which keeps running.
    const failed = report.hosts.filter((h) => h.error);
    step.end(failed.length ? 'failed' : 'done', report.hosts.map((h) => `${h.name}: ${h.error ? 'FAILED' : `${h.restored.length} thing(s) put back`}`).join(', '));
    for (const h of report.hosts) {
      for (const r of h.restored) ctx.progress.info(`${h.name}: restored ${r}`);
      for (const k of h.kept) ctx.progress.info(`${h.name}: kept ${k}`);
    }
    if (failed.length && force) {
      for (const h of failed) ctx.progress.warn(`${h.name}: ${h.error}; forgotten (--force): what dpdkci changed there stays, listed in /var/lib/dpdkci/host-state on it`);
      throw new DpdkciError(`down --force: ${failed.map((h) => h.name).join(', ')} not undone; the cluster's record was removed all the same`);
    }
    if (failed.length) {
      throw new DpdkciError(
        `down: ${failed.map((h) => `${h.name}: ${h.error}`).join('; ')}\nthe cluster's record is kept so that the same down can be run again once the host answers (or down --force forgets it)`,
      );
    }
    return;
  }
  if (report.nodes.length === 0 && report.switchPids.length === 0 && report.registryPids.length === 0 && !report.removedDir) {
    step.end('skipped', 'nothing to remove');
    return;
  }
  step.end('done', [...report.nodes.map((n) => `${n.name} ${n.how}`), report.registryPids.length ? 'registry stopped' : '', report.removedDir ? 'state removed' : ''].filter(Boolean).join(', '));
}

export async function runDown(flags: { prefix?: string; force?: boolean; allStale?: boolean; prefixGiven?: boolean; purgePackages?: boolean; provider?: string }, ctx: CommandContext): Promise<number> {
  if (flags.allStale) {
    if (flags.prefixGiven) {
      throw new UsageError('--all-stale: it reaps every stale cluster of this host and takes no --prefix; drop one of the two');
    }
    // Each provider judges only its own clusters (a hosts cluster never is stale: its machines run on).
    const stale = allProviders().flatMap((provider) => provider.findStale(ctx.places).map((s) => ({ ...s, provider })));
    if (stale.length === 0) ctx.progress.info('no stale clusters');
    // Stale clusters are nobody's: no ACPI power-off to wait for.
    for (const s of stale) await removeOne(s.prefix, true, ctx, s.reason, false, s.provider);
    return ExitCode.ok;
  }
  const prefix = resolvePrefix(flags.prefix, ctx.env);
  if (flags.provider !== undefined) {
    const record = readClusterRecord(clusterPaths(prefix, ctx.places).specFile);
    if (!(PROVIDER_NAMES as readonly string[]).includes(flags.provider)) throw new UsageError(`--provider: "${flags.provider}" is not a provider; use ${PROVIDER_NAMES.join(' or ')}`);
    if (record && record.provider !== flags.provider) {
      throw new UsageError(`--provider ${flags.provider}: cluster "${prefix}" is a ${record.provider} cluster; leave --provider out (down reads it from the cluster's record), or check --prefix`);
    }
  }
  await removeOne(prefix, Boolean(flags.force), ctx, undefined, Boolean(flags.purgePackages));
  return ExitCode.ok;
}
