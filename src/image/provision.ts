import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { DpdkciError, InterruptedError } from '../core/errors.js';
import { PROJECT_ROOT } from '../core/paths.js';
import type { ProgressStep } from '../core/progress.js';
import { extractPvhKernel } from './pvh-kernel.js';
import { recipeHash, type ImageRecipe } from './recipe.js';

export interface ImageInfo {
  name: string;
  hash: string;
  dir: string;
  disk: string;
  /** The bzImage, as the image's packages installed it. */
  kernel: string;
  /**
   * The same kernel unpacked, which nodes boot through its PVH entry (src/image/pvh-kernel.ts); absent when
   * the kernel could not be unpacked (bootNote says why) or the image predates it. bootKernel() picks.
   */
  pvhKernel?: string;
  bootNote?: string;
  initrd: string;
  kernelRelease: string;
  suite: string;
  mirror: string;
  builtAt: string;
  buildSeconds: number;
}

export function nodeImageRecipe(overrides: Partial<ImageRecipe> = {}): ImageRecipe {
  return {
    name: 'node',
    recipeDir: join(PROJECT_ROOT, 'images', 'node'),
    imageScriptsDir: join(PROJECT_ROOT, 'scripts', 'image'),
    buildScript: join(PROJECT_ROOT, 'scripts', 'build-node-image.sh'),
    suite: 'bookworm',
    diskSize: '8G',
    ...overrides,
  };
}

export function imageDir(cacheRoot: string, recipe: ImageRecipe, hash: string): string {
  return join(cacheRoot, 'images', `${recipe.name}-${recipe.suite}-${hash}`);
}

/** The cached image for this recipe, or undefined when it has not been built. */
export function cachedImage(cacheRoot: string, recipe: ImageRecipe): ImageInfo | undefined {
  return cachedImageByHash(cacheRoot, recipe, recipeHash(recipe));
}

/** A cached image by its recipe hash (the one a cluster was created from). */
export function cachedImageByHash(cacheRoot: string, recipe: ImageRecipe, hash: string): ImageInfo | undefined {
  const dir = imageDir(cacheRoot, recipe, hash);
  const manifest = join(dir, 'image.json');
  if (!existsSync(manifest)) return undefined;
  const info = JSON.parse(readFileSync(manifest, 'utf8')) as ImageInfo;
  for (const file of [info.disk, info.kernel, info.initrd, ...(info.pvhKernel ? [info.pvhKernel] : [])]) {
    if (!existsSync(file)) return undefined;
  }
  return info;
}

/** The kernel file nodes boot with -kernel: the unpacked one when the image has it, else the bzImage. */
export function bootKernel(info: Pick<ImageInfo, 'kernel' | 'pvhKernel'>): string {
  return info.pvhKernel ?? info.kernel;
}

export interface BuildOptions {
  cacheRoot: string;
  mirror: string;
  progress?: ProgressStep;
  signal?: AbortSignal;
}

/** What the cache records of an image in dir: where its disk, kernel and initrd are, and how it was built. */
export function imageInfo(recipe: ImageRecipe, hash: string, dir: string, build: Pick<ImageInfo, 'kernelRelease' | 'mirror' | 'builtAt' | 'buildSeconds'>): ImageInfo {
  return {
    name: recipe.name,
    hash,
    dir,
    disk: join(dir, 'disk.qcow2'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    suite: recipe.suite,
    ...build,
  };
}

/** The image build's command line, building into dir (renamed into the cache when it succeeds). */
export function buildArgv(recipe: ImageRecipe, mirror: string, dir: string): string[] {
  return ['bash', recipe.buildScript, recipe.recipeDir, recipe.imageScriptsDir, recipe.suite, mirror, dir, recipe.diskSize];
}

/** Builds the image (debootstrap + packages + disk) into the cache; the directory appears atomically. */
export async function buildImage(recipe: ImageRecipe, options: BuildOptions): Promise<ImageInfo> {
  const hash = recipeHash(recipe);
  const dir = imageDir(options.cacheRoot, recipe, hash);
  const tmp = `${dir}.building-${process.pid}`;
  mkdirSync(join(options.cacheRoot, 'images'), { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  const began = performance.now();
  const [cmd, ...args] = buildArgv(recipe, options.mirror, tmp);
  const child = execa(
    cmd as string,
    args,
    { reject: false, cancelSignal: options.signal, forceKillAfterDelay: 10_000, all: true },
  );
  const lines: string[] = [];
  child.all?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      const m = /^@@ step (\S+)/.exec(line);
      if (m?.[1]) options.progress?.update(m[1]);
      else if (line.trim()) lines.push(line);
    }
  });
  const result = await child;
  if (result.isCanceled || options.signal?.aborted) {
    rmSync(tmp, { recursive: true, force: true });
    throw new InterruptedError('image build interrupted');
  }
  if (result.exitCode !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new DpdkciError(
      `building the node image failed (exit ${result.exitCode}, mirror ${options.mirror}):\n${lines.slice(-25).join('\n')}`,
    );
  }
  options.progress?.update('unpacking the kernel for PVH boot');
  const pvh = await extractPvhKernel(join(tmp, 'vmlinuz'), join(tmp, 'vmlinux'));
  const info: ImageInfo = {
    ...imageInfo(recipe, hash, dir, {
      kernelRelease: readFileSync(join(tmp, 'kernel.release'), 'utf8').trim(),
      mirror: options.mirror,
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((performance.now() - began) / 100) / 10,
    }),
    ...(pvh.ok ? { pvhKernel: join(dir, 'vmlinux'), bootNote: `PVH boot of the unpacked kernel (${pvh.format} payload)` } : { bootNote: `bzImage boot: ${pvh.reason}` }),
  };
  writeFileSync(join(tmp, 'image.json'), JSON.stringify(info, null, 2) + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return info;
}
