import { resolve } from 'node:path';
import { makeBundle } from '../../bundle/bundle.js';
import { ExitCode } from '../../core/errors.js';
import { artefactCache } from '../../core/paths.js';
import { kubernetesVersion, loadLock, lockFile } from '../../versions/lock.js';
import { resolveMirror } from '../../fetch/fetcher.js';
import type { CommandContext } from '../context.js';

/** `dpdkci bundle DIR`: on a connected machine, everything a Kubernetes cluster needs, for `up --bundle DIR`. */
export async function runBundle(dir: string, flags: { kubernetes?: string; mirror?: string }, ctx: CommandContext): Promise<number> {
  const lock = loadLock(lockFile(ctx.env));
  const minor = flags.kubernetes ?? (ctx.env.DPDKCI_KUBERNETES && ctx.env.DPDKCI_KUBERNETES !== 'none' ? ctx.env.DPDKCI_KUBERNETES : lock.kubernetes.default);
  kubernetesVersion(lock, minor);
  const mirror = resolveMirror(flags.mirror, ctx.env);
  const target = resolve(dir);
  const step = ctx.progress.start(`bundle Kubernetes ${minor} into ${target}`);
  try {
    const made = await makeBundle(lock, minor, target, { cacheDir: artefactCache(ctx.env), env: ctx.env, ...(mirror ? { mirror } : {}), onProgress: (what) => step.update(what) });
    step.end('done', `${made.files} file(s), ${made.builds} built, ${made.images} image(s)`);
  } catch (e) {
    step.end('failed', undefined, (e as Error).message);
    throw e;
  }
  ctx.out(`bundle for Kubernetes ${minor} in ${target}; use it with: dpdkci up --kubernetes ${minor} --bundle ${target}`);
  return ExitCode.ok;
}
