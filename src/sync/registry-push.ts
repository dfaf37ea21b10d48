import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { DpdkciError, UsageError } from '../core/errors.js';
import type { OciArchive } from './oci.js';

/**
 * Pushes an OCI image archive to a registry with the distribution API (what `docker push` does), for
 * kubevirt's habit of pushing its images to `localhost:<registry port>`: each blob is uploaded only when
 * the registry does not have it (HEAD), and the manifest only when the tag does not already point at it.
 * Plain HTTP, as a registry forwarded on 127.0.0.1 speaks.
 */
export interface PushResult {
  /** Where the image went: HOST:PORT/REPOSITORY:TAG */
  ref: string;
  /** The blobs uploaded (those the registry already had are not). */
  uploaded: number;
  /** False when the tag already pointed at this manifest and nothing was sent. */
  changed: boolean;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
}

/** "localhost/kubevirt/virt-handler:devel" to repository "kubevirt/virt-handler" and tag "devel". */
export function repositoryOf(name: string): { repository: string; tag: string } {
  const at = name.lastIndexOf(':');
  const slash = name.lastIndexOf('/');
  const [path, tag] = at > slash ? [name.slice(0, at), name.slice(at + 1)] : [name, 'latest'];
  const parts = path.split('/');
  // The first part names a registry when it looks like a host (a dot, a port, or localhost).
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0] as string)) parts.shift();
  return { repository: parts.join('/'), tag };
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function request(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new DpdkciError(`registry: ${what} failed: ${cause?.code ?? cause?.message ?? (e as Error).message} (${url})`);
  }
}

async function expectStatus(r: Response, ok: number[], what: string): Promise<void> {
  if (!ok.includes(r.status)) {
    throw new DpdkciError(`registry: ${what} answered ${r.status} ${r.statusText}: ${(await r.text()).slice(0, 300)}`);
  }
}

/** Uploads one blob unless the registry has it; returns whether it was sent. */
async function pushBlob(base: string, repository: string, digest: string, bytes: Buffer): Promise<boolean> {
  const head = await request(`${base}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' }, `HEAD blob ${digest}`);
  if (head.status === 200) return false;
  const start = await request(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' }, `starting the upload of ${digest}`);
  await expectStatus(start, [202], `starting the upload of ${digest}`);
  const location = start.headers.get('location');
  if (!location) throw new DpdkciError(`registry: starting the upload of ${digest} returned no Location`);
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  const put = await request(url.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytes) }, `uploading ${digest}`);
  await expectStatus(put, [201], `uploading ${digest}`);
  return true;
}

/**
 * Pushes the archive's image to registry (HOST:PORT) under its own repository and tag. via names where the
 * archive came from (e.g. --image) in messages about its contents.
 */
export async function pushImage(image: OciArchive, registry: string, via: string): Promise<PushResult> {
  const name = image.names[0] as string;
  const { repository, tag } = repositoryOf(name);
  const base = `http://${registry}`;
  const ref = `${registry}/${repository}:${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'dpdkci-push-'));
  try {
    const untar = await execa('tar', ['-xf', image.file, '-C', dir], { reject: false });
    if (untar.exitCode !== 0) throw new UsageError(`${via}: ${image.file} would not unpack: ${untar.stderr}`);
    const blob = (digest: string) => {
      const bytes = readFileSync(join(dir, 'blobs', ...digest.split(':')));
      if (sha256(bytes) !== digest) throw new UsageError(`${via}: ${image.file} holds a blob ${digest} whose content does not match its digest`);
      return bytes;
    };
    const manifestBytes = blob(image.digest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as { mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
    if (manifest.manifests) {
      throw new UsageError(`${via}: ${image.file} holds an image index; push needs a single-platform image (e.g. docker save of one platform)`);
    }
    const mediaType = manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    const head = await request(`${base}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: mediaType } }, `HEAD ${ref}`);
    if (head.status === 200 && head.headers.get('docker-content-digest') === image.digest) return { ref, uploaded: 0, changed: false };
    let uploaded = 0;
    for (const d of [...(manifest.layers ?? []), ...(manifest.config ? [manifest.config] : [])]) {
      if (await pushBlob(base, repository, d.digest, blob(d.digest))) uploaded++;
    }
    const put = await request(`${base}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: new Uint8Array(manifestBytes) }, `PUT ${ref}`);
    await expectStatus(put, [201], `PUT ${ref}`);
    return { ref, uploaded, changed: true };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
