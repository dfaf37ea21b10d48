import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { FetchError } from './fetcher.js';

/**
 * Pulls one image by digest from a registry (the Distribution API: anonymous bearer tokens, manifest
 * lists and OCI indexes) and writes it as an OCI image archive that `ctr images import` takes: every blob
 * verified against its digest, the pinned digest kept as the image's top descriptor.
 */
export interface PullOptions {
  /** The base URL for a registry host; default https://HOST (registry-1.docker.io for docker.io). */
  endpoint?: (host: string) => string;
  platform?: { os: string; architecture: string };
  timeoutMs?: number;
}

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export function parseRef(ref: string): { host: string; name: string; tag: string } {
  const slash = ref.indexOf('/');
  const colon = ref.lastIndexOf(':');
  if (slash < 0 || colon < slash) throw new FetchError(`${ref}: not REGISTRY/NAME:TAG`);
  const host = ref.slice(0, slash);
  let name = ref.slice(slash + 1, colon);
  if (host === 'docker.io' && !name.includes('/')) name = `library/${name}`;
  return { host, name, tag: ref.slice(colon + 1) };
}

export function defaultEndpoint(host: string): string {
  return `https://${host === 'docker.io' ? 'registry-1.docker.io' : host}`;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** GET with the registry's anonymous token dance: on 401, ask the realm it names for a pull token. */
export async function registryGet(url: string, accept: string[], state: { token?: string }, scope: string, timeoutMs: number): Promise<Response> {
  const headers = (): Record<string, string> => ({ Accept: accept.join(', '), ...(state.token ? { Authorization: `Bearer ${state.token}` } : {}) });
  let r = await fetch(url, { headers: headers(), signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  if (r.status === 401 && !state.token) {
    const challenge = r.headers.get('www-authenticate') ?? '';
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!/^Bearer /i.test(challenge) || !params.realm) throw new FetchError(`${url}: 401 without a bearer challenge (${challenge || 'none'})`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', scope);
    const t = await fetch(tokenUrl, { signal: AbortSignal.timeout(timeoutMs) });
    if (!t.ok) throw new FetchError(`${tokenUrl}: token request answered ${t.status}`);
    const body = (await t.json()) as { token?: string; access_token?: string };
    state.token = body.token ?? body.access_token;
    if (!state.token) throw new FetchError(`${tokenUrl}: no token in the answer`);
    r = await fetch(url, { headers: headers(), signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  }
  if (!r.ok) throw new FetchError(`${url} answered ${r.status} ${r.statusText}`);
  return r;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string };
}

export async function pullImage(ref: string, digest: string, file: string, options: PullOptions = {}): Promise<void> {
  const { host, name } = parseRef(ref);
  const base = `${(options.endpoint ?? defaultEndpoint)(host)}/v2/${name}`;
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const timeoutMs = options.timeoutMs ?? 60_000;
  const state: { token?: string } = {};
  const scope = `repository:${name}:pull`;
  const work = mkdtempSync(join(tmpdir(), 'dpdkci-pull-'));
  const blobs = join(work, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const keep = (d: string, bytes: Buffer) => writeFileSync(join(blobs, d.slice('sha256:'.length)), bytes);
  const get = async (kind: 'manifests' | 'blobs', d: string, accept: string[]) => {
    const r = await registryGet(`${base}/${kind}/${d}`, accept, state, scope, timeoutMs);
    const bytes = Buffer.from(await r.arrayBuffer());
    const got = sha256(bytes);
    if (got !== d) throw new FetchError(`${ref}: ${kind.slice(0, -1)} ${d} arrived as ${got} (checksum mismatch)`);
    keep(d, bytes);
    return { bytes, mediaType: r.headers.get('content-type')?.split(';')[0] ?? '' };
  };
  try {
    const top = await get('manifests', digest, MANIFEST_TYPES);
    const topJson = JSON.parse(top.bytes.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    const topType = topJson.mediaType ?? top.mediaType;
    let manifest = topJson;
    if (topJson.manifests) {
      const pick = topJson.manifests.find((m) => m.platform?.os === platform.os && m.platform?.architecture === platform.architecture);
      if (!pick) throw new FetchError(`${ref}@${digest}: no ${platform.os}/${platform.architecture} image in its index`);
      manifest = JSON.parse((await get('manifests', pick.digest, MANIFEST_TYPES)).bytes.toString('utf8'));
    }
    if (!manifest.config || !manifest.layers) throw new FetchError(`${ref}@${digest}: the manifest has no config or layers`);
    for (const d of [manifest.config, ...manifest.layers]) await get('blobs', d.digest, ['*/*']);
    writeFileSync(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(work, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: topType,
            digest,
            size: top.bytes.length,
            annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.slice(ref.lastIndexOf(':') + 1) },
          },
        ],
      }),
    );
    mkdirSync(dirname(file), { recursive: true });
    await execa('tar', ['-cf', file, '-C', work, 'oci-layout', 'index.json', 'blobs']);
  } catch (e) {
    if (e instanceof FetchError) throw e;
    const err = e as Error & { cause?: Error };
    throw new FetchError(`${ref}: could not pull from ${base} (${err.cause?.message ?? err.message})`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
