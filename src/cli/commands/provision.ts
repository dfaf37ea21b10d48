import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../../core/errors.js';
import { requireHostTools } from '../../core/host-tools.js';
import { artefactCache, cacheRoot } from '../../core/paths.js';
import { debianMirrorOrHost } from '../../image/debian-mirror.js';
import { pick } from '../../core/option-table.js';
import { resolveDebianMirrorOption, resolveKubernetesSources, resolveRegistryMirrors } from '../../core/run-options.js';
import { bootKernel, buildImage, cachedImage, nodeImageRecipe, type ImageInfo } from '../../image/provision.js';
import { ensureKubernetesImage } from '../../../providers/qemu/layer-build.js';
import { artefactSources } from '../../kubernetes/artefacts.js';
import { kubernetesVersion } from '../../versions/lock.js';
import { effectiveLock, lockForUse, WAYS_ON, lookupSources, type LockFlags } from './lock-use.js';
import { cachedProbeKvm, chooseAccelerator } from '../../../providers/qemu/kvm-probe.js';
import type { CommandContext } from '../context.js';

export interface ProvisionFlags extends LockFlags {
  rebuild?: boolean;
  debianMirror?: string;
  output?: string;
  kubernetes?: string;
  bundle?: string;
  mirror?: string;
  accel?: string;
}

/** `dpdkci provision`: the base node image, and with --kubernetes V its Kubernetes layer, into the cache. */
export async function runProvision(flags: ProvisionFlags, ctx: CommandContext): Promise<number> {
  const minor = pick('kubernetes', flags, ctx.env, 'none').value;
  const accel = pick('accel', flags, ctx.env).value;
  if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new UsageError(`--accel: "${accel}" is not auto, kvm or tcg`);
  const sources = { ...resolveKubernetesSources(flags, ctx.env), registryMirrors: resolveRegistryMirrors(flags, ctx.env) };
  let lock;
  if (minor !== 'none') {
    const effective = effectiveLock(ctx);
    kubernetesVersion(effective.lock, minor);
    lock = (await lockForUse(effective, [minor], lookupSources(flags, ctx.env, ctx.places), ctx, `provision --kubernetes ${minor}`, WAYS_ON.provision)).lock;
  }
  const debianMirror = resolveDebianMirrorOption(flags, ctx.env);

  const recipe = nodeImageRecipe();
  const root = cacheRoot(ctx.places);
  const step = ctx.progress.start('provision node image');
  let image: ImageInfo | undefined = flags.rebuild ? undefined : cachedImage(root, recipe);
  if (image) {
    step.end('skipped', `cache hit ${image.hash}`);
  } else {
    requireHostTools(['debootstrap', 'mkfs.ext4', 'qemu-img'], ctx.env.PATH ?? '');
    try {
      image = await buildImage(recipe, { cacheRoot: root, mirror: debianMirrorOrHost(debianMirror), progress: step, signal: ctx.signal });
    } catch (e) {
      step.end('failed');
      throw e;
    }
    step.end('done', `built ${image.hash}`);
  }
  if (lock) {
    const k8s = ctx.progress.start(`provision Kubernetes ${minor} layer`);
    try {
      const probe = accel === 'tcg' ? undefined : await cachedProbeKvm(bootKernel(image), root);
      const choice = chooseAccelerator(accel as 'auto' | 'kvm' | 'tcg', probe);
      if (choice.warning) ctx.progress.warn(choice.warning);
      const { image: layer, built } = await ensureKubernetesImage(
        image,
        lock,
        minor,
        { ...artefactSources(artefactCache(ctx.places), { ...sources, ...(sources.bundleDir ? { bundleDir: resolve(sources.bundleDir) } : {}) }), signal: ctx.signal },
        { cacheRoot: root, accel: choice.accel, places: ctx.places, progress: k8s, signal: ctx.signal },
      );
      k8s.end(built ? 'done' : 'skipped', built ? `built ${layer.hash} in ${layer.buildSeconds}s` : `cache hit ${layer.hash}`);
      image = layer;
    } catch (e) {
      k8s.end('failed', undefined, (e as Error).message);
      throw e;
    }
  }
  ctx.out(flags.output === 'json' ? JSON.stringify(image, null, 2) : `image ${image.hash}: ${image.dir}${image.bootNote ? `\nkernel: ${image.bootNote}` : ''}`);
  return ExitCode.ok;
}
