import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SUMS_FILE, verifyBundle } from '../../bundle/bundle.js';
import { resolveClusterOptions, type ClusterOptions } from '../../core/config.js';
import { DpdkciError, UsageError } from '../../core/errors.js';
import { artefactCache } from '../../core/paths.js';
import { artefactSources } from '../../kubernetes/artefacts.js';
import { resolveKubernetesSources } from '../../core/run-options.js';
import type { UpContext } from '../../steps/context.js';
import { clusterArtefacts, kubernetesVersion, loadLock, lockFile, type Lock } from '../../versions/lock.js';
import { preflight, preflightMessage } from '../../versions/preflight.js';
import type { CommandContext } from '../context.js';
import type { Places } from '../../core/places.js';
import type { UpFlags } from './up-plan.js';

/** Where up's Kubernetes comes from, before anything boots: the preflight, --kubernetes auto, the bundle's version. */
type KubernetesFlags = Pick<UpFlags, 'bundle' | 'mirror'>;

/** A directory made by `dpdkci bundle` (its files/ is what the preflight looks in). */
function isBundle(dir: string): boolean {
  return existsSync(join(dir, 'files'));
}

/**
 * Said before anything boots: whether every artefact of the Kubernetes version can be had (bundle, cache
 * or network, probed in parallel within seconds). A cluster that looks fine but lacks what was asked for
 * is worse than no cluster.
 */
export async function kubernetesPreflight(lock: Lock, minor: string, flags: KubernetesFlags, ctx: CommandContext): Promise<NonNullable<UpContext['kubernetes']>> {
  kubernetesVersion(lock, minor);
  const sources = resolveKubernetesSources(flags, ctx.env);
  const { bundleDir, mirror } = sources;
  if (bundleDir !== undefined && !isBundle(bundleDir)) {
    throw new UsageError(`--bundle: ${bundleDir} is not a dpdkci bundle (no files/ in it); make one with \`dpdkci bundle DIR\` on a connected machine`);
  }
  if (bundleDir !== undefined) bundleForMinor(bundleDir, minor);
  const step = ctx.progress.start(`preflight: Kubernetes ${minor} artefacts`);
  if (bundleDir !== undefined) {
    const bad = await verifyBundle(bundleDir);
    if (bad.length) {
      const message = `--bundle: ${bundleDir} does not match its ${SUMS_FILE}; nothing was started:\n${bad.map((b) => `  ${b}`).join('\n')}\nmake the bundle again with dpdkci bundle`;
      step.end('failed', `${bad.length} bad entr(ies)`, message);
      throw new DpdkciError(message);
    }
  }
  const result = await preflight(lock, minor, artefactSources(artefactCache(ctx.places), sources));
  if (result.missing.length || result.unpinned.length) {
    const message = preflightMessage(minor, result, bundleDir);
    step.end('failed', `${result.missing.length} unavailable, ${result.unpinned.length} not pinned`, message);
    throw new DpdkciError(message);
  }
  step.end('done', `${Object.keys(result.sources).length} artefacts available`);
  return { lock, ...(bundleDir !== undefined ? { bundleDir: resolve(bundleDir) } : {}), ...(mirror ? { mirror } : {}) };
}

/** A bundle says which Kubernetes it was made for (bundle.json); one made for another version is refused by name. */
export function bundleForMinor(bundleDir: string, minor: string): void {
  let made: { kubernetes?: string; release?: string } = {};
  try {
    made = JSON.parse(readFileSync(join(bundleDir, 'bundle.json'), 'utf8')) as typeof made;
  } catch {
    return; // verifyBundle names what is wrong with a bundle without its bundle.json
  }
  if (made.kubernetes !== undefined && made.kubernetes !== minor) {
    throw new UsageError(
      `--bundle: ${bundleDir} was made for Kubernetes ${made.kubernetes} (${made.release ?? 'release unknown'}), not ${minor}; make one for ${minor} with \`dpdkci bundle DIR --kubernetes ${minor}\` on a connected machine, or give --kubernetes ${made.kubernetes} if this dpdkci still pins it`,
    );
  }
}

/** The lock and sources for a dry run: nothing is probed. */
export function plannedKubernetes(flags: KubernetesFlags, env: NodeJS.ProcessEnv, places: Places): NonNullable<UpContext['kubernetes']> {
  const { bundleDir, mirror } = resolveKubernetesSources(flags, env);
  return { lock: loadLock(lockFile(places)), ...(bundleDir ? { bundleDir: resolve(bundleDir) } : {}), ...(mirror ? { mirror } : {}) };
}

/**
 * --kubernetes auto: the lock's default minor when every artefact of it can be had (bundle, cache or network,
 * the same preflight as for an explicit version), else the dataplane alone, said in one line with the way to
 * Kubernetes. Options are then resolved again, so that Kubernetes' node sizes and checks apply.
 */
export async function resolveAutoKubernetes(lock: Lock, flags: UpFlags, ctx: Pick<CommandContext, 'env' | 'places' | 'progress'>): Promise<{ options: ClusterOptions; why?: string }> {
  const minor = lock.kubernetes.default;
  const sources = resolveKubernetesSources(flags, ctx.env);
  const unpinned = clusterArtefacts(lock, minor).unpinned;
  let why: string | undefined;
  if (unpinned.length) why = `the lock has ${unpinned.length} value(s) of Kubernetes ${minor} not recorded yet (dpdkci versions lists them)`;
  else if (sources.bundleDir === undefined || isBundle(sources.bundleDir)) {
    const result = await preflight(lock, minor, artefactSources(artefactCache(ctx.places), sources));
    if (result.missing.length) why = `${result.missing.length} artefact(s) of Kubernetes ${minor} cannot be had from ${sources.bundleDir ? `the bundle ${sources.bundleDir}` : 'the cache or the network'} (first: ${result.missing[0]})`;
  } else why = `${sources.bundleDir} is not a dpdkci bundle`;
  if (why === undefined) return { options: resolveClusterOptions({ ...flags, kubernetes: minor }, ctx.env) };
  return { options: resolveClusterOptions({ ...flags, kubernetes: 'none' }, ctx.env), why };
}

export function autoLeftOutLine(why: string): string {
  return (
    `Kubernetes left out (--kubernetes auto): ${why}; to get it, run dpdkci versions --resolve --write and up on a connected machine, ` +
    `or dpdkci bundle DIR there and up --bundle DIR here; --kubernetes none says this on purpose`
  );
}

