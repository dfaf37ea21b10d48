import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DpdkciError } from '../core/errors.js';
import { registryEndpoint, type RegistryMirror } from '../core/registry-mirrors.js';
import { cachedPath, FetchError, sourceUrl } from '../fetch/fetcher.js';
import { parseRef } from '../fetch/registry.js';
import { readOciArchive } from '../sync/oci.js';
import { checkKubeadmImages } from './kubeadm-images.js';
import { clusterArtefacts, kubernetesVersion, type Component } from './lock.js';
import { bundleImageFile } from './preflight.js';
import { tagDigest } from './resolve.js';
import { fileKey, imageKey, mergeUserLock, writeUserLock, type EffectiveLock, type UserLock } from './user-lock.js';

/** Where values not recorded yet are looked up, and whether looking up is allowed at all. */
export interface LookupSources {
  cacheDir: string;
  bundleDir?: string;
  mirror?: string;
  registryMirrors: RegistryMirror[];
  /** --locked: a value not recorded is an error, never looked up. */
  locked: boolean;
  /** Per image look-up, and until a file download's first byte. */
  timeoutMs?: number;
}

export interface Looked {
  key: string;
  name: string;
  value: string;
  from: string;
}

export interface FirstUse {
  effective: EffectiveLock;
  resolved: Looked[];
  failed: { name: string; why: string }[];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The components a cluster of these minors uses: each Kubernetes version and every add-on. */
function partsOf(effective: EffectiveLock, minors: string[]): Component[] {
  return [...minors.map((m) => kubernetesVersion(effective.lock, m)), ...Object.values(effective.lock.addons)];
}

/** What these minors need that has no value yet: the lock's own unpinned list ("NAME (sha256)", "REF (digest)"), once each. */
export function missingValues(effective: EffectiveLock, minors: string[]): string[] {
  return [...new Set(minors.flatMap((m) => clusterArtefacts(effective.lock, m).unpinned))];
}

/** A file's sha256 by downloading it (kept in the artefact cache under that sha256, so it is not fetched twice). */
async function fileValue(f: { name: string; url: string }, sources: LookupSources): Promise<{ value: string; from: string }> {
  if (sources.bundleDir) {
    const file = join(sources.bundleDir, 'files', f.name);
    if (!existsSync(file)) throw new FetchError(`not in the bundle ${sources.bundleDir}`);
    return { value: sha256(readFileSync(file)), from: `bundle ${sources.bundleDir}` };
  }
  const from = sourceUrl({ name: f.name, url: f.url, sha256: '' }, sources.mirror);
  const controller = new AbortController();
  const first = setTimeout(() => controller.abort(), sources.timeoutMs ?? 10_000);
  let bytes: Buffer;
  try {
    const r = await fetch(from, { signal: AbortSignal.any([controller.signal, AbortSignal.timeout(600_000)]), redirect: 'follow' });
    clearTimeout(first);
    if (!r.ok) throw new FetchError(`${from} answered ${r.status} ${r.statusText}`);
    bytes = Buffer.from(await r.arrayBuffer());
  } catch (e) {
    if (e instanceof FetchError) throw e;
    const err = e as Error & { cause?: Error };
    throw new FetchError(`${from}: ${controller.signal.aborted ? `no answer within ${(sources.timeoutMs ?? 10_000) / 1000}s` : (err.cause?.message ?? err.message)}`);
  } finally {
    clearTimeout(first);
  }
  const value = sha256(bytes);
  const cached = cachedPath(sources.cacheDir, { name: f.name, url: f.url, sha256: value });
  mkdirSync(dirname(cached), { recursive: true });
  writeFileSync(cached, bytes);
  return { value, from };
}

/** An image's digest: what its registry (or the mirror for its host) serves for the tag; in a bundle, what its archive holds. */
async function imageValue(ref: string, sources: LookupSources): Promise<{ value: string; from: string }> {
  if (sources.bundleDir) {
    const file = bundleImageFile(sources.bundleDir, ref);
    if (!existsSync(file)) throw new FetchError(`not in the bundle ${sources.bundleDir}`);
    return { value: (await readOciArchive(file, '--bundle')).digest, from: `bundle ${sources.bundleDir}` };
  }
  const endpoint = (host: string) => registryEndpoint(sources.registryMirrors, host);
  const value = await tagDigest(ref, { endpoint, timeoutMs: sources.timeoutMs ?? 10_000 });
  return { value, from: endpoint(parseRef(ref).host) };
}

/**
 * Looks up what these minors need and the lock leaves null, records each value in the user lock (printing
 * it as recorded), and — once per resolution of a release — checks the lock's etcd/CoreDNS/pause tags with
 * that release's kubeadm. With --locked, a missing value is an error naming them all.
 */
export async function resolveOnFirstUse(effective: EffectiveLock, minors: string[], sources: LookupSources, say: (line: string) => void): Promise<FirstUse> {
  const missing = missingValues(effective, minors);
  if (missing.length === 0) return { effective, resolved: [], failed: [] };
  if (sources.locked) {
    throw new DpdkciError(
      `--locked: ${missing.length} value(s) of ${effective.user.lockFile} are not recorded, and --locked (DPDKCI_LOCKED) forbids looking them up:\n${missing.map((m) => `  ${m}`).join('\n')}\n` +
        'record them in the lock to commit (dpdkci versions --resolve --write, then review git diff), or leave --locked out to resolve them on first use',
    );
  }
  const user: UserLock = structuredClone(effective.user);
  const resolved: Looked[] = [];
  const failed: { name: string; why: string }[] = [];
  const now = new Date().toISOString();
  const seen = new Set<string>();
  for (const c of partsOf(effective, minors)) {
    const jobs: Promise<void>[] = [];
    for (const f of c.files.filter((x) => !x.sha256 && !seen.has(fileKey(x.name)))) {
      seen.add(fileKey(f.name));
      jobs.push(
        fileValue(f, sources).then(
          (v) => void ((user.files[f.name] = { value: v.value, resolved: now, from: v.from }), resolved.push({ key: fileKey(f.name), name: f.name, ...v })),
          (e: Error) => void failed.push({ name: `${f.name} (sha256)`, why: e.message }),
        ),
      );
    }
    for (const m of c.images.filter((x) => !x.digest && !seen.has(imageKey(x.ref)))) {
      seen.add(imageKey(m.ref));
      jobs.push(
        imageValue(m.ref, sources).then(
          (v) => void ((user.images[m.ref] = { value: v.value, resolved: now, from: v.from }), resolved.push({ key: imageKey(m.ref), name: m.ref, ...v })),
          (e: Error) => void failed.push({ name: `${m.ref} (digest)`, why: e.message }),
        ),
      );
    }
    await Promise.all(jobs);
  }
  const next: EffectiveLock = { ...effective, ...mergeUserLock(effective.shipped, user), user };
  // Values and kubeadm's tag check are recorded together or not at all: a lock kubeadm refused (or could not
  // check) is looked up and checked again next time, never used because its values happen to be recorded.
  if (failed.length === 0) {
    try {
      await kubeadmCheck(next, minors, sources, say);
    } catch (e) {
      if (!(e instanceof FetchError)) throw e;
      failed.push({ name: "kubeadm's image tag check", why: e.message });
    }
  }
  if (failed.length) return { effective, resolved: [], failed };
  writeUserLock(effective.userFile, user);
  for (const r of resolved) say(`recorded ${r.name} ${r.key.startsWith('file:') ? `sha256:${r.value}` : r.value} (from ${r.from}) in ${effective.userFile}`);
  return { effective: next, resolved, failed };
}

/** W3: once per release, after a resolution, the lock's etcd/CoreDNS/pause tags against its kubeadm's; marked in `next.user` when they agree. */
async function kubeadmCheck(next: EffectiveLock, minors: string[], sources: LookupSources, say: (line: string) => void): Promise<void> {
  for (const minor of minors) {
    const version = kubernetesVersion(next.lock, minor);
    if (next.user.kubeadmChecked[version.release]) continue;
    await checkKubeadmImages(version, { cacheDir: sources.cacheDir, ...(sources.bundleDir ? { bundleDir: sources.bundleDir } : {}), ...(sources.mirror ? { mirror: sources.mirror } : {}) });
    next.user.kubeadmChecked[version.release] = new Date().toISOString();
    say(`checked: kubeadm ${version.release} uses the lock's etcd, CoreDNS and pause tags`);
  }
}
