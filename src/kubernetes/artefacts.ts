import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SUMS_FILE, verifyBundle } from '../bundle/bundle.js';
import { DpdkciError } from '../core/errors.js';
import { fetchArtifact, sha256File } from '../fetch/fetcher.js';
import { pullImage, type PullOptions } from '../fetch/registry.js';
import { readOciArchive } from '../sync/oci.js';
import { buildGoBinary } from './go-build.js';
import { registryEndpoint, type RegistryMirror } from '../core/registry-mirrors.js';
import { clusterArtefacts, type Lock } from '../versions/lock.js';
import { bundleImageFile } from '../versions/preflight.js';

/** Where the Kubernetes artefacts come from: a bundle (and only it), else the cache, a mirror or upstream. */
export interface ArtefactSources {
  cacheDir: string;
  bundleDir?: string;
  mirror?: string;
  /** Tests: the registry endpoint for a host (default https://HOST). */
  endpoint?: PullOptions['endpoint'];
  signal?: AbortSignal;
  onProgress?: (what: string) => void;
}

/** The fetch options for those sources: the artefact cache, the bundle or mirror when there is one, and image pulls through --registry-mirror. */
export function artefactSources(cacheDir: string, sources: { bundleDir?: string; mirror?: string; registryMirrors?: RegistryMirror[] }): ArtefactSources {
  const mirrors = sources.registryMirrors ?? [];
  return {
    cacheDir,
    ...(sources.bundleDir ? { bundleDir: sources.bundleDir } : {}),
    ...(sources.mirror ? { mirror: sources.mirror } : {}),
    ...(mirrors.length ? { endpoint: (host: string) => registryEndpoint(mirrors, host) } : {}),
  };
}

/** Every artefact of a cluster as a local file, each verified against the lock. */
export interface LocalArtefacts {
  files: { name: string; sha256: string; path: string; install?: string }[];
  images: { ref: string; digest: string; path: string }[];
}

/** Refuses a lock with entries that have no checksum or digest: nothing unverified goes into an image. */
export function pinnedArtefacts(lock: Lock, minor: string) {
  const wanted = clusterArtefacts(lock, minor);
  if (wanted.unpinned.length) {
    throw new DpdkciError(
      `Kubernetes ${minor}: ${wanted.unpinned.length} artefact(s) have no checksum or digest in the lock file:\n${wanted.unpinned.map((u) => `  ${u}`).join('\n')}\ndpdkci versions --resolve looks them up and records them (dpdkci versions lists them), then try again`,
    );
  }
  return { files: wanted.files, builds: wanted.builds, images: wanted.images.map((m) => ({ ref: m.ref, digest: m.digest as string })) };
}

/** An image archive in the cache, by the digest the lock pins. */
export function cachedImageArchive(cacheDir: string, digest: string): string {
  return join(cacheDir, 'images', `${digest.replace(':', '-')}.tar`);
}

/**
 * Every file and image of a cluster of this Kubernetes version, as local files: files through the fetcher
 * (bundle, cache, mirror or upstream, sha256 checked), images from the bundle or pulled by digest into the
 * cache. An image archive whose digest is not the one the lock pins is an error naming it.
 */
export async function gatherArtefacts(lock: Lock, minor: string, sources: ArtefactSources): Promise<LocalArtefacts> {
  const wanted = pinnedArtefacts(lock, minor);
  if (sources.bundleDir) {
    const bad = await verifyBundle(sources.bundleDir);
    if (bad.length) throw new DpdkciError(`--bundle: ${sources.bundleDir} does not match its ${SUMS_FILE}:\n${bad.map((b) => `  ${b}`).join('\n')}\nmake the bundle again with dpdkci bundle`);
  }
  const out: LocalArtefacts = { files: [], images: [] };
  for (const f of wanted.files) {
    sources.onProgress?.(f.name);
    const path = await fetchArtifact(f, {
      cacheDir: sources.cacheDir,
      ...(sources.bundleDir ? { bundleDir: sources.bundleDir } : {}),
      ...(sources.mirror ? { mirror: sources.mirror } : {}),
      ...(sources.signal ? { signal: sources.signal } : {}),
    });
    out.files.push({ name: f.name, sha256: f.sha256, path, ...(f.install ? { install: f.install } : {}) });
  }
  for (const b of wanted.builds) {
    let path: string;
    if (sources.bundleDir) {
      // Built on the connected machine that made the bundle (the build may need Go modules from the network).
      path = join(sources.bundleDir, 'files', b.name);
      if (!existsSync(path)) throw new DpdkciError(`${b.name}: not in the bundle ${sources.bundleDir}; make the bundle again with dpdkci bundle`);
    } else {
      const input = (name: string) => out.files.find((f) => f.name === name)?.path as string;
      sources.onProgress?.(`building ${b.name}`);
      path = await buildGoBinary(b, input(b.source.name), input(b.toolchain.name), {
        cacheDir: sources.cacheDir,
        ...(sources.signal ? { signal: sources.signal } : {}),
        ...(sources.onProgress ? { onProgress: (what: string) => sources.onProgress?.(`${b.name}: ${what}`) } : {}),
      });
    }
    out.files.push({ name: b.name, sha256: await sha256File(path), path, install: b.install });
  }
  for (const m of wanted.images) {
    sources.onProgress?.(m.ref);
    let path: string;
    if (sources.bundleDir) {
      path = bundleImageFile(sources.bundleDir, m.ref);
      if (!existsSync(path)) throw new DpdkciError(`${m.ref}: not in the bundle ${sources.bundleDir}; make the bundle again with dpdkci bundle`);
    } else {
      path = cachedImageArchive(sources.cacheDir, m.digest);
      if (!existsSync(path)) await pullImage(m.ref, m.digest, path, sources.endpoint ? { endpoint: sources.endpoint } : {});
    }
    const archive = await readOciArchive(path, m.ref);
    if (archive.digest !== m.digest) {
      throw new DpdkciError(`${m.ref}: ${path} holds ${archive.digest}, but the lock file pins ${m.digest} (checksum mismatch)`);
    }
    out.images.push({ ...m, path });
  }
  return out;
}
