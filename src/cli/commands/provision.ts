import { ExitCode } from '../../core/errors.js';
import { requireHostTools } from '../../core/host-tools.js';
import { cacheRoot } from '../../core/paths.js';
import { resolveDebianMirror } from '../../image/debian-mirror.js';
import { buildImage, cachedImage, nodeImageRecipe } from '../../image/provision.js';
import type { CommandContext } from '../context.js';

export async function runProvision(flags: { rebuild?: boolean; debianMirror?: string; output?: string }, ctx: CommandContext): Promise<number> {
  const recipe = nodeImageRecipe();
  const root = cacheRoot(ctx.env);
  const step = ctx.progress.start('provision node image');
  let image = flags.rebuild ? undefined : cachedImage(root, recipe);
  if (image) {
    step.end('skipped', `cache hit ${image.hash}`);
  } else {
    requireHostTools(['debootstrap', 'mkfs.ext4', 'qemu-img']);
    try {
      const mirror = resolveDebianMirror(flags.debianMirror, ctx.env);
      image = await buildImage(recipe, { cacheRoot: root, mirror, progress: step, signal: ctx.signal });
    } catch (e) {
      step.end('failed');
      throw e;
    }
    step.end('done', `built ${image.hash}`);
  }
  ctx.out(flags.output === 'json' ? JSON.stringify(image, null, 2) : `image ${image.hash}: ${image.dir}`);
  return ExitCode.ok;
}
