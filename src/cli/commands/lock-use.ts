import { DpdkciError } from '../../core/errors.js';
import { artefactCache } from '../../core/paths.js';
import type { Places } from '../../core/places.js';
import type { RawFlags } from '../../core/option-table.js';
import { resolveKubernetesSources, resolveLocked, resolveRegistryMirrors } from '../../core/run-options.js';
import { resolveOnFirstUse, type FirstUse, type LookupSources } from '../../versions/first-use.js';
import { loadEffectiveLock, type EffectiveLock } from '../../versions/user-lock.js';
import type { CommandContext } from '../context.js';

/** Flags of the commands that use the lock: where values come from, and --locked. */
export type LockFlags = RawFlags & { registryMirror?: string[] };

/** Where missing values are looked up, from the flags (resolved once, here at the CLI boundary). */
export function lookupSources(flags: LockFlags, env: NodeJS.ProcessEnv, places: Places): LookupSources {
  const { bundleDir, mirror } = resolveKubernetesSources(flags, env);
  return {
    cacheDir: artefactCache(places),
    ...(bundleDir !== undefined ? { bundleDir } : {}),
    ...(mirror ? { mirror } : {}),
    registryMirrors: resolveRegistryMirrors(flags, env),
    locked: resolveLocked(flags, env),
  };
}

/** The lock in use; a user lock of another shipped lock is set aside, said in one line. */
export function effectiveLock(ctx: Pick<CommandContext, 'places' | 'progress'>): EffectiveLock {
  const effective = loadEffectiveLock(ctx.places);
  if (effective.note) ctx.progress.warn(effective.note);
  return effective;
}

/** The values these minors lack, looked up and recorded; each recorded value is printed as it is recorded. */
export async function resolveForUse(effective: EffectiveLock, minors: string[], sources: LookupSources, ctx: Pick<CommandContext, 'progress'>): Promise<FirstUse> {
  return resolveOnFirstUse(effective, minors, sources, (line) => ctx.progress.info(line));
}

/** As resolveForUse, and a value that could not be looked up is an error naming each and the ways on. */
/** The ways on that each command has (M1: none suggests an option its command does not take). */
const MIRRORS = 'where these hosts cannot be reached, give --mirror URL (files) and --registry-mirror HOST=URL (images) for copies this machine reaches';
const BUNDLE = '--bundle DIR made by `dpdkci bundle DIR` on a connected machine';
export const WAYS_ON = {
  up: `${MIRRORS}, or ${BUNDLE}; or bring up the OVS-DPDK nodes alone: --kubernetes none`,
  provision: `${MIRRORS}, or ${BUNDLE}; or build the base image alone: provision without --kubernetes`,
  bundle: `${MIRRORS}; or make the bundle on a machine that reaches them`,
} as const;

export async function lockForUse(effective: EffectiveLock, minors: string[], sources: LookupSources, ctx: Pick<CommandContext, 'progress'>, what: string, ways: string): Promise<EffectiveLock> {
  const r = await resolveForUse(effective, minors, sources, ctx);
  if (r.failed.length) {
    throw new DpdkciError(`${what}: ${r.failed.length} value(s) the lock leaves null could not be looked up; nothing was started:\n${r.failed.map((f) => `  ${f.name}: ${f.why}`).join('\n')}\n${ways}`);
  }
  return r.effective;
}
