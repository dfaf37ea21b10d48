import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { DpdkciError } from '../core/errors.js';

/** One outside artefact, as the lock file pins it. */
export interface Artifact {
  /** Unique and file-name safe: "kubeadm-v1.36.4", "calico-v3.31.7.yaml". */
  name: string;
  url: string;
  sha256: string;
}

export interface FetchOptions {
  /** Downloads land here, by checksum; a good copy is never fetched twice. */
  cacheDir: string;
  /** Base URL of a mirror: an artefact's URL https://host/path is fetched from MIRROR/host/path. */
  mirror?: string;
  /** An air-gapped bundle (dpdkci bundle DIR): artefacts are taken from DIR/files/NAME, never downloaded. */
  bundleDir?: string;
  /** No byte for this long ends the download (default 30 s). */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (name: string, bytes: number, total: number | undefined) => void;
}

export class FetchError extends DpdkciError {}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Where an artefact is fetched from: the mirror's copy of its URL, or the URL itself. */
export function sourceUrl(artifact: Artifact, mirror?: string): string {
  if (!mirror) return artifact.url;
  const u = new URL(artifact.url);
  return `${mirror.replace(/\/+$/, '')}/${u.host}${u.pathname}${u.search}`;
}

export function cachedPath(cacheDir: string, artifact: Artifact): string {
  return join(cacheDir, 'sha256', artifact.sha256, artifact.name);
}

/**
 * The artefact as a local file whose sha256 matches the lock: from the bundle when one is given, else from
 * the cache, else downloaded (from the mirror when one is given). An interrupted download is resumed with
 * an HTTP range request. A mismatch is an error naming the artefact, both checksums and where it came from.
 */
export async function fetchArtifact(artifact: Artifact, options: FetchOptions): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(artifact.sha256)) {
    throw new FetchError(`${artifact.name}: the lock file pins no valid sha256 ("${artifact.sha256}"); fix the lock file entry`);
  }
  if (options.bundleDir) {
    const file = join(options.bundleDir, 'files', artifact.name);
    if (!existsSync(file)) {
      throw new FetchError(`${artifact.name}: not in the bundle ${options.bundleDir} (no files/${artifact.name}); make the bundle again with dpdkci bundle on a connected machine`);
    }
    await verify(file, artifact, `bundle ${options.bundleDir}`);
    return file;
  }
  const target = cachedPath(options.cacheDir, artifact);
  if (existsSync(target) && (await sha256File(target)) === artifact.sha256) return target;
  mkdirSync(join(options.cacheDir, 'sha256', artifact.sha256), { recursive: true });
  const partial = `${target}.partial`;
  const url = sourceUrl(artifact, options.mirror);
  await download(url, partial, artifact, options);
  try {
    await verify(partial, artifact, url);
  } catch (e) {
    rmSync(partial, { force: true });
    throw e;
  }
  renameSync(partial, target);
  return target;
}

async function verify(file: string, artifact: Artifact, from: string): Promise<void> {
  const got = await sha256File(file);
  if (got !== artifact.sha256) {
    throw new FetchError(`${artifact.name}: checksum mismatch: the lock file pins sha256 ${artifact.sha256}, ${from} gave ${got}`);
  }
}

async function download(url: string, partial: string, artifact: Artifact, options: FetchOptions): Promise<void> {
  const idleMs = options.idleTimeoutMs ?? 30_000;
  const have = existsSync(partial) ? statSync(partial).size : 0;
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let idle: NodeJS.Timeout | undefined;
  let timedOut = false;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, idleMs);
  };
  try {
    arm();
    const response = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal: controller.signal, redirect: 'follow' });
    if (response.status === 404) throw new FetchError(`${artifact.name}: ${url} answered 404 Not Found; check the lock file entry or the mirror's contents`);
    if (response.status === 416 && have > 0) {
      // The partial file is already whole (or longer than the source): verification decides.
      await response.body?.cancel();
      return;
    }
    if (!response.ok) throw new FetchError(`${artifact.name}: ${url} answered ${response.status} ${response.statusText}`);
    const resumed = response.status === 206 && have > 0;
    const length = Number(response.headers.get('content-length') ?? NaN);
    const total = Number.isFinite(length) ? length + (resumed ? have : 0) : undefined;
    const out = createWriteStream(partial, { flags: resumed ? 'a' : 'w' });
    let bytes = resumed ? have : 0;
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        arm();
        bytes += chunk.length;
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        options.onProgress?.(artifact.name, bytes, total);
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
  } catch (e) {
    if (e instanceof FetchError) throw e;
    if (timedOut) {
      throw new FetchError(`${artifact.name}: no data from ${url} for ${idleMs / 1000}s; the partial download is kept and the next try resumes it`);
    }
    if (options.signal?.aborted) throw new FetchError(`${artifact.name}: download interrupted; the next try resumes it`);
    const cause = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    throw new FetchError(`${artifact.name}: could not download ${url} (${cause}); give --mirror URL or --bundle DIR where this host cannot reach it`);
  } finally {
    clearTimeout(idle);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
