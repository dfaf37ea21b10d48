import { UsageError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import { buildImage, cachedImage, cachedImageByHash } from '../../image/provision.js';
import type { UpContext } from '../context.js';

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
    if (!ctx.mirror) {
      throw new UsageError(
        '--debian-mirror: no Debian mirror found in this host\'s apt configuration; pass --debian-mirror URL (or DPDKCI_DEBIAN_MIRROR)',
      );
    }
    ctx.image = await buildImage(ctx.recipe, { cacheRoot: ctx.cacheRoot, mirror: ctx.mirror, progress, signal: ctx.signal });
    return `built ${ctx.image.hash} in ${ctx.image.buildSeconds}s`;
  },
};
