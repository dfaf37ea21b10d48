import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SUMS_FILE, verifyBundle } from '../../bundle/bundle.js';
import { resolveClusterOptions, type ClusterOptions } from '../../core/config.js';
import { DpdkciError, UsageError } from '../../core/errors.js';
import { artefactCache } from '../../core/paths.js';
import { artefactSources } from '../../kubernetes/artefacts.js';
import { resolveKubernetesSources, resolveRegistryMirrors } from '../../core/run-options.js';
import type { UpContext } from '../../steps/context.js';
import { kubernetesVersion, type Lock } from '../../versions/lock.js';
import { loadEffectiveLock, type EffectiveLock } from '../../versions/user-lock.js';
import { lookupSources, resolveForUse, type LockFlags } from './lock-use.js';
import { preflight, preflightMessage } from '../../versions/preflight.js';
import { userLockFile } from '../../versions/user-lock.js';
import type { CommandContext } from '../context.js';
import type { Places } from '../../core/places.js';
import type { UpFlags } from './up-plan.js';

/** Where up's Kubernetes comes from, before anything boots: the preflight, --kubernetes auto, the bundle's version. */
type KubernetesFlags = Pick<UpFlags, 'bundle' | 'mirror'> & LockFlags;

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
  const registryMirrors = resolveRegistryMirrors(flags, ctx.env);
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
  const result = await preflight(lock, minor, { ...artefactSources(artefactCache(ctx.places), sources), registryMirrors });
  if (result.missing.length || result.unpinned.length || result.moved.length) {
    const message = preflightMessage(minor, result, bundleDir, userLockFile(ctx.places));
    step.end('failed', `${result.missing.length} unavailable, ${result.unpinned.length} not pinned, ${result.moved.length} moved`, message);
    throw new DpdkciError(message);
  }
  step.end('done', `${Object.keys(result.sources).length} artefacts available`);
  return { lock, ...(bundleDir !== undefined ? { bundleDir: resolve(bundleDir) } : {}), ...(mirror ? { mirror } : {}), registryMirrors };
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

/** The lock (as completed by the user lock) and sources for a dry run's plan: nothing is probed. */
export function plannedKubernetes(flags: KubernetesFlags, env: NodeJS.ProcessEnv, places: Places): NonNullable<UpContext['kubernetes']> {
  const { bundleDir, mirror } = resolveKubernetesSources(flags, env);
  const registryMirrors = resolveRegistryMirrors(flags, env);
  return { lock: loadEffectiveLock(places).lock, ...(bundleDir ? { bundleDir: resolve(bundleDir) } : {}), ...(mirror ? { mirror } : {}), registryMirrors };
}

/**
 * --kubernetes auto: Kubernetes whenever it can be had. The lock's default minor: what the lock leaves null
 * is looked up and recorded first (network, mirrors or bundle, seconds per look-up), then the same preflight
 * as for an explicit version. Only when something cannot be reached: the dataplane alone, with `why`.
 * Options are then resolved again, so that Kubernetes' node sizes and checks apply.
 */
export async function resolveAutoKubernetes(
  effective: EffectiveLock,
  flags: UpFlags & LockFlags,
  ctx: Pick<CommandContext, 'env' | 'places' | 'progress'>,
): Promise<{ options: ClusterOptions; effective: EffectiveLock; why?: string }> {
  const minor = effective.lock.kubernetes.default;
  const sources = resolveKubernetesSources(flags, ctx.env);
  let why: string | undefined;
  if (sources.bundleDir !== undefined && !isBundle(sources.bundleDir)) why = `${sources.bundleDir} is not a dpdkci bundle`;
  else {
    const first = await resolveForUse(effective, [minor], lookupSources(flags, ctx.env, ctx.places), ctx);
    effective = first.effective;
    const [failed] = first.failed;
    if (failed) why = `${first.failed.length} value(s) of Kubernetes ${minor} could not be looked up (first: ${failed.name}: ${failed.why})`;
    else {
      const result = await preflight(effective.lock, minor, { ...artefactSources(artefactCache(ctx.places), sources), registryMirrors: resolveRegistryMirrors(flags, ctx.env) });
      // A tag that moved is not "cannot be had": it is refused, as for an explicit version.
      if (result.moved.length) throw new DpdkciError(preflightMessage(minor, result, sources.bundleDir, userLockFile(ctx.places)));
      if (result.missing.length) why = `${result.missing.length} artefact(s) of Kubernetes ${minor} cannot be had from ${sources.bundleDir ? `the bundle ${sources.bundleDir}` : 'the cache or the network'} (first: ${result.missing[0]})`;
    }
  }
  if (why === undefined) return { options: resolveClusterOptions({ ...flags, kubernetes: minor }, ctx.env), effective };
  return { options: resolveClusterOptions({ ...flags, kubernetes: 'none' }, ctx.env), effective, why };
}

/** The one line of an auto that left Kubernetes out: why, and ways to it that work. */
export function autoLeftOutLine(why: string): string {
  return (
    `Kubernetes left out (--kubernetes auto): ${why}; to get it, give --mirror URL and --registry-mirror HOST=URL for copies this machine reaches, ` +
    `or run dpdkci bundle DIR on a connected machine and up --bundle DIR here; --kubernetes none says this on purpose`
  );
}
