import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { FetchError, sourceUrl } from '../fetch/fetcher.js';
import { defaultEndpoint, MANIFEST_TYPES, parseRef, registryGet } from '../fetch/registry.js';
import { loadLock, type Component, type Lock } from './lock.js';

/**
 * `dpdkci versions --resolve`, for a connected machine: looks up every value the lock leaves `null` (a
 * file's sha256 by downloading it; an image's digest by asking its registry for the tag's manifest, index
 * first, and hashing what it answers), and with --write records them in the lock file, keeping its
 * comments. What could not be looked up is named with why; nothing already pinned is touched.
 */
export interface Resolution {
  /** Where in the lock file: ["addons", "calico", "files", 0, "sha256"]. */
  path: (string | number)[];
  kind: 'file' | 'image';
  name: string;
  value: string;
}

export interface ResolveOptions {
  mirror?: string;
  endpoint?: (host: string) => string;
  timeoutMs?: number;
  onProgress?: (what: string) => void;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The digest a registry gives a tag: the sha256 of the manifest (or index) bytes it serves for it. */
export async function tagDigest(ref: string, options: Pick<ResolveOptions, 'endpoint' | 'timeoutMs'> = {}): Promise<string> {
  const { host, name, tag } = parseRef(ref);
  const url = `${(options.endpoint ?? defaultEndpoint)(host)}/v2/${name}/manifests/${tag}`;
  let r: Response;
  try {
    r = await registryGet(url, MANIFEST_TYPES, {}, `repository:${name}:pull`, options.timeoutMs ?? 60_000);
  } catch (e) {
    if (e instanceof FetchError) throw e;
    const err = e as Error & { cause?: Error };
    throw new FetchError(`${url}: ${err.cause?.message ?? err.message}`);
  }
  const digest = `sha256:${sha256(Buffer.from(await r.arrayBuffer()))}`;
  const said = r.headers.get('docker-content-digest');
  if (said && said !== digest) throw new FetchError(`${ref}: the registry names its manifest ${said}, but its bytes hash to ${digest}`);
  return digest;
}

async function fileSha256(url: string, options: ResolveOptions): Promise<string> {
  const from = sourceUrl({ name: '', url, sha256: '' }, options.mirror);
  let r: Response;
  try {
    r = await fetch(from, { signal: AbortSignal.timeout(options.timeoutMs ?? 300_000), redirect: 'follow' });
  } catch (e) {
    const err = e as Error & { cause?: Error };
    throw new FetchError(`${from}: ${err.cause?.message ?? err.message}`);
  }
  if (!r.ok) throw new FetchError(`${from} answered ${r.status} ${r.statusText}`);
  return sha256(Buffer.from(await r.arrayBuffer()));
}

export async function resolveMissing(file: string, options: ResolveOptions = {}): Promise<{ resolved: Resolution[]; failed: { name: string; why: string }[] }> {
  const lock = loadLock(file);
  const components: [(string | number)[], Component][] = [
    ...Object.entries(lock.kubernetes.versions).map(([minor, v]): [(string | number)[], Component] => [['kubernetes', 'versions', minor], v]),
    ...Object.entries(lock.addons).map(([name, a]): [(string | number)[], Component] => [['addons', name], a]),
  ];
  const resolved: Resolution[] = [];
  const failed: { name: string; why: string }[] = [];
  const attempt = async (path: (string | number)[], kind: Resolution['kind'], name: string, lookup: () => Promise<string>) => {
    options.onProgress?.(name);
    try {
      resolved.push({ path, kind, name, value: await lookup() });
    } catch (e) {
      failed.push({ name, why: (e as Error).message });
    }
  };
  for (const [at, c] of components) {
    for (const [i, f] of c.files.entries()) {
      if (f.sha256 === null) await attempt([...at, 'files', i, 'sha256'], 'file', f.name, () => fileSha256(f.url, options));
    }
    for (const [i, m] of c.images.entries()) {
      if (m.digest === null) await attempt([...at, 'images', i, 'digest'], 'image', m.ref, () => tagDigest(m.ref, options));
    }
  }
  return { resolved, failed };
}

/** Records the values in the lock file (its comments and layout kept), then checks that it still loads. */
export function writeResolutions(file: string, resolved: Resolution[]): void {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  for (const r of resolved) {
    if (doc.getIn(r.path) !== null) throw new FetchError(`${file}: ${r.path.join('.')} is not null any more; not overwriting it`);
    doc.setIn(r.path, r.value);
  }
  const tmp = `${file}.resolving`;
  writeFileSync(tmp, doc.toString({ lineWidth: 0 }));
  loadLock(tmp);
  renameSync(tmp, file);
}

/**
 * versions --resolve --write: the values the user lock completes the shipped lock with, as places in the
 * lock file (same components and indexes, since the effective lock is the shipped one with nulls filled).
 */
export function completedValues(shipped: Lock, effective: Lock): Resolution[] {
  const out: Resolution[] = [];
  const pairs: [(string | number)[], Component, Component][] = [
    ...Object.entries(shipped.kubernetes.versions).map(([m, v]): [(string | number)[], Component, Component] => [['kubernetes', 'versions', m], v, effective.kubernetes.versions[m] as Component]),
    ...Object.entries(shipped.addons).map(([n, a]): [(string | number)[], Component, Component] => [['addons', n], a, effective.addons[n] as Component]),
  ];
  for (const [at, s, e] of pairs) {
    s.files.forEach((f, i) => {
      const v = e.files[i]?.sha256;
      if (f.sha256 === null && v) out.push({ path: [...at, 'files', i, 'sha256'], kind: 'file', name: f.name, value: v });
    });
    s.images.forEach((m, i) => {
      const v = e.images[i]?.digest;
      if (m.digest === null && v) out.push({ path: [...at, 'images', i, 'digest'], kind: 'image', name: m.ref, value: v });
    });
  }
  return out;
}
