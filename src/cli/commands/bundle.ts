import { resolve } from 'node:path';
import { makeBundle } from '../../bundle/bundle.js';
import { ExitCode } from '../../core/errors.js';
import { artefactCache } from '../../core/paths.js';
import { kubernetesVersion } from '../../versions/lock.js';
import { registryEndpoint } from '../../core/registry-mirrors.js';
import { effectiveLock, lockForUse, WAYS_ON, lookupSources, type LockFlags } from './lock-use.js';
import { pick } from '../../core/option-table.js';
import type { CommandContext } from '../context.js';

/** `dpdkci bundle DIR`: on a connected machine, everything a Kubernetes cluster needs, for `up --bundle DIR`. */
export async function runBundle(dir: string, flags: { kubernetes?: string; mirror?: string } & LockFlags, ctx: CommandContext): Promise<number> {
  let effective = effectiveLock(ctx);
  const lock0 = effective.lock;
  // A bundle is of one version: DPDKCI_KUBERNETES=none or auto (as up reads it) means the lock's default;
  // the flag is taken as given (the lock names the versions it pins when it is not one of them).
  const asked = pick('kubernetes', flags, ctx.env, lock0.kubernetes.default);
  const minor = asked.via !== '--kubernetes' && (asked.value === 'none' || asked.value === 'auto') ? lock0.kubernetes.default : asked.value;
  kubernetesVersion(lock0, minor);
  // A bundle is made of values recorded: what the lock leaves null is looked up and recorded first.
  // Looked up where a bundle gets its bytes (network, mirrors), never from a bundle (DPDKCI_BUNDLE is up's).
  const { bundleDir: _, ...sources } = lookupSources(flags, ctx.env, ctx.places);
  effective = await lockForUse(effective, [minor], sources, ctx, `bundle ${dir}`, WAYS_ON.bundle);
  const lock = effective.lock;
  const { mirror, registryMirrors } = sources;
  const target = resolve(dir);
  const step = ctx.progress.start(`bundle Kubernetes ${minor} into ${target}`);
  try {
    const made = await makeBundle(lock, minor, target, { cacheDir: artefactCache(ctx.places), env: ctx.env, ...(mirror ? { mirror } : {}), endpoint: (host) => registryEndpoint(registryMirrors, host), onProgress: (what) => step.update(what) });
    step.end('done', `${made.files} file(s), ${made.builds} built, ${made.images} image(s)`);
  } catch (e) {
    step.end('failed', undefined, (e as Error).message);
    throw e;
  }
  ctx.out(`bundle for Kubernetes ${minor} in ${target}; use it with: dpdkci up --kubernetes ${minor} --bundle ${target}`);
  return ExitCode.ok;
}
