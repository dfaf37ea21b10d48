import { debianMirrorOrHost } from '../../../src/image/debian-mirror.js';
import type { Step } from '../../../src/core/pipeline.js';
import { buildArgv, buildImage, cachedImage, cachedImageByHash, imageDir } from '../../../src/image/provision.js';
import { recipeHash } from '../../../src/image/recipe.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import type { UpContext } from '../../../src/steps/context.js';

/** Builds the node image unless the cache holds one for the same recipe. */
export const provisionImage: Step<UpContext> = {
  name: 'provision node image',
  async isDone(ctx) {
    if (ctx.rebuild) return false;
    // A cluster that exists keeps booting from the image it was created from, while that is cached.
    const recorded = ctx.record ? cachedImageByHash(ctx.cacheRoot, ctx.recipe, ctx.record.image.hash) : undefined;
    ctx.image = recorded ?? cachedImage(ctx.cacheRoot, ctx.recipe);
    return ctx.image !== undefined;
  },
  async apply(ctx, progress) {
    const mirror = debianMirrorOrHost(ctx.debianMirror);
    ctx.image = await buildImage(ctx.recipe, { cacheRoot: ctx.cacheRoot, mirror, progress, signal: ctx.signal });
    return `built ${ctx.image.hash} in ${ctx.image.buildSeconds}s`;
  },
  plan(ctx) {
    const hash = recipeHash(ctx.recipe);
    const dir = imageDir(ctx.cacheRoot, ctx.recipe, hash);
    if (!ctx.rebuild && cachedImage(ctx.cacheRoot, ctx.recipe)) return [{ on: 'host', verb: 'use', what: `the cached node image ${dir}` }];
    const mirror = debianMirrorOrHost(ctx.debianMirror);
    return [
      { on: 'host', verb: 'run', what: remoteCommand(buildArgv(ctx.recipe, mirror, `${dir}.building-PID`)) },
      { on: 'host', verb: 'write', what: `${dir}/ (disk.qcow2, vmlinuz, initrd.img, image.json, and vmlinux: the kernel unpacked for PVH boot), renamed into place once the build succeeds` },
    ];
  },
};
