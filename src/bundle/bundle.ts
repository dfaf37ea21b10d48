import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DpdkciError } from '../core/errors.js';
import { fetchArtifact, sha256File } from '../fetch/fetcher.js';
import { pullImage, type PullOptions } from '../fetch/registry.js';
import { buildGoBinary } from '../kubernetes/go-build.js';
import { clusterArtefacts, type Lock } from '../versions/lock.js';
import { bundleImageFile } from '../versions/preflight.js';

export const SUMS_FILE = 'SHA256SUMS';

export interface BundleOptions {
  cacheDir: string;
  mirror?: string;
  endpoint?: PullOptions['endpoint'];
  /** The environment of builds (GOPROXY and the like). */
  env: NodeJS.ProcessEnv;
  onProgress?: (what: string) => void;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

/**
 * An air-gapped bundle for one Kubernetes version, made on a connected machine: every pinned file in
 * DIR/files/ (verified against the lock), every image as an OCI archive in DIR/images/ (pulled by digest,
 * every blob verified), a SHA256SUMS over all of it and bundle.json saying what it is for. Refused while the
 * lock has entries without a checksum or digest: a bundle of unverified bytes would defeat its purpose.
 */
export async function makeBundle(lock: Lock, minor: string, dir: string, options: BundleOptions): Promise<{ files: number; builds: number; images: number }> {
  const wanted = clusterArtefacts(lock, minor);
  if (wanted.unpinned.length) {
    throw new DpdkciError(
      `cannot bundle Kubernetes ${minor}: ${wanted.unpinned.length} artefact(s) have no checksum or digest in the lock:\n${wanted.unpinned.map((u) => `  ${u}`).join("\n")}\ndpdkci bundle and dpdkci versions --resolve look them up and record them (give --mirror and --registry-mirror where upstream cannot be reached)`,
    );
  }
  mkdirSync(join(dir, 'files'), { recursive: true });
  mkdirSync(join(dir, 'images'), { recursive: true });
  for (const f of wanted.files) {
    options.onProgress?.(f.name);
    const path = await fetchArtifact(f, { cacheDir: options.cacheDir, ...(options.mirror ? { mirror: options.mirror } : {}) });
    copyFileSync(path, join(dir, 'files', f.name));
  }
  for (const b of wanted.builds) {
    options.onProgress?.(`building ${b.name}`);
    const input = (a: { name: string }) => join(dir, 'files', a.name);
    const built = await buildGoBinary(b, input(b.source), input(b.toolchain), { cacheDir: options.cacheDir, ...(options.env ? { env: options.env } : {}) });
    copyFileSync(built, join(dir, 'files', b.name));
    chmodSync(join(dir, 'files', b.name), 0o755);
  }
  for (const m of wanted.images) {
    options.onProgress?.(m.ref);
    await pullImage(m.ref, m.digest as string, bundleImageFile(dir, m.ref), options.endpoint ? { endpoint: options.endpoint } : {});
  }
  const sums: string[] = [];
  for (const file of listFiles(dir).filter((f) => !f.endsWith(SUMS_FILE) && !f.endsWith('bundle.json')).sort()) {
    sums.push(`${await sha256File(file)}  ${relative(dir, file)}`);
  }
  writeFileSync(join(dir, SUMS_FILE), `${sums.join('\n')}\n`);
  writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ kubernetes: minor, release: lock.kubernetes.versions[minor]?.release, created: new Date().toISOString(), files: wanted.files.length, builds: wanted.builds.map((b) => b.name), images: wanted.images.length }, null, 2) + '\n');
  return { files: wanted.files.length, builds: wanted.builds.length, images: wanted.images.length };
}

/** Checks every line of a bundle's SHA256SUMS; returns the entries that are missing or altered. */
export async function verifyBundle(dir: string): Promise<string[]> {
  const sumsFile = join(dir, SUMS_FILE);
  if (!existsSync(sumsFile)) return [`${SUMS_FILE}: missing (not a bundle made by dpdkci bundle)`];
  const bad: string[] = [];
  for (const line of readFileSync(sumsFile, 'utf8').split('\n').filter(Boolean)) {
    const [sum, path] = line.split(/\s+/, 2) as [string, string];
    const file = join(dir, path);
    if (!existsSync(file)) bad.push(`${path}: missing`);
    else if ((await sha256File(file)) !== sum) bad.push(`${path}: checksum mismatch`);
  }
  return bad;
}
