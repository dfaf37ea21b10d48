import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBundle, verifyBundle } from '../../src/bundle/bundle.js';
import { pullImage } from '../../src/fetch/registry.js';
import { readOciArchive } from '../../src/sync/oci.js';
import { loadLock } from '../../src/versions/lock.js';
import { bundleImageFile, preflight } from '../../src/versions/preflight.js';
import { writeTestLock } from '../fixtures/lock.js';

/**
 * A registry on 127.0.0.1 that speaks the Distribution API the way public registries do: anonymous bearer
 * tokens from a realm, a manifest list pointing at per-platform manifests, blobs by digest. And a file
 * server standing in for a mirror of release downloads.
 */
const digestOf = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const layer = Buffer.from('layer bytes '.repeat(100));
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
  }),
);
const armManifest = Buffer.from('{"not":"used"}');
const index = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(armManifest), size: armManifest.length, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(manifest), size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  }),
);
const FILE = Buffer.from('#!/bin/sh\necho kubeadm\n');
const blobs = new Map<string, Buffer>([
  [digestOf(index), index],
  [digestOf(manifest), manifest],
  [digestOf(armManifest), armManifest],
  [digestOf(config), config],
  [digestOf(layer), layer],
]);
let server: Server;
let base: string;
let tamper = false;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/token') {
      expect(url.searchParams.get('scope')).toBe('repository:test/pause:pull');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'T0K3N' }));
      return;
    }
    if (url.pathname === '/mirror/dl.example/kubeadm') {
      res.writeHead(200).end(FILE);
      return;
    }
    const m = /^\/v2\/test\/pause\/(manifests|blobs)\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (m) {
      if (req.headers.authorization !== 'Bearer T0K3N') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="registry.test"` }).end();
        return;
      }
      const body = blobs.get(m[2] as string);
      if (!body) return void res.writeHead(404).end();
      const type = m[1] === 'manifests' ? (JSON.parse(body.toString()).mediaType ?? 'application/json') : 'application/octet-stream';
      res.writeHead(200, { 'content-type': type }).end(tamper && m[1] === 'blobs' ? Buffer.concat([body, Buffer.from('!')]) : body);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

const endpoint = () => base;
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

const lockFile = () =>
  writeTestLock({ file: { url: 'https://dl.example/kubeadm', sha256: digestOf(FILE).slice(7) }, image: { ref: 'registry.test/test/pause:3.10', digest: digestOf(index) } });

describe('pulling an image by digest', () => {
  it('follows the token challenge and the index to the amd64 image, and writes an archive sync and containerd read', async () => {
    const file = join(tmp('dpdkci-pull-'), 'pause.tar');
    await pullImage('registry.test/test/pause:3.10', digestOf(index), file, { endpoint });
    expect(await readOciArchive(file)).toEqual({ file, names: ['registry.test/test/pause:3.10'], digest: digestOf(index) });
    expect(seen).toContain(`GET /v2/test/pause/blobs/${digestOf(layer)}`);
    expect(seen).not.toContain(`GET /v2/test/pause/manifests/${digestOf(armManifest)}`);
  });
  it('a blob that does not match its digest is an error naming it', async () => {
    tamper = true;
    try {
      await expect(pullImage('registry.test/test/pause:3.10', digestOf(index), join(tmp('dpdkci-pull-'), 'x.tar'), { endpoint })).rejects.toThrow(
        /registry.test\/test\/pause:3.10: blob sha256:[0-9a-f]{64} arrived as sha256:[0-9a-f]{64} \(checksum mismatch\)/,
      );
    } finally {
      tamper = false;
    }
  });
});

describe('bundle, then up --bundle', () => {
  it('a bundle holds every file and image, checksummed, and preflight takes everything from it', async () => {
    const lock = loadLock(lockFile());
    const dir = tmp('dpdkci-bundle-');
    expect(await makeBundle(lock, '1.31', dir, { cacheDir: tmp('dpdkci-cache-'), mirror: `${base}/mirror`, endpoint, env: process.env })).toEqual({ files: 1, builds: 0, images: 1 });
    expect(readFileSync(join(dir, 'files', 'kubeadm-v1.31.4')).equals(FILE)).toBe(true);
    expect(existsSync(bundleImageFile(dir, 'registry.test/test/pause:3.10'))).toBe(true);
    expect(readFileSync(join(dir, 'SHA256SUMS'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}files\/kubeadm-v1.31.4$/m);
    expect(await verifyBundle(dir)).toEqual([]);
    const pf = await preflight(lock, '1.31', { cacheDir: tmp('dpdkci-cache-'), bundleDir: dir });
    expect(pf).toEqual({ missing: [], unpinned: [], moved: [], sources: { 'kubeadm-v1.31.4': 'bundle', 'registry.test/test/pause:3.10': 'bundle' } });
    // An altered bundle is caught.
    writeFileSync(join(dir, 'files', 'kubeadm-v1.31.4'), 'altered');
    expect(await verifyBundle(dir)).toEqual(['files/kubeadm-v1.31.4: checksum mismatch']);
  });
  it('refuses to bundle what the lock has not pinned', async () => {
    const lock = loadLock(writeTestLock({ file: { url: 'https://dl.example/kubeadm', sha256: null }, image: { ref: 'registry.test/test/pause:3.10', digest: null } }));
    await expect(makeBundle(lock, '1.31', tmp('dpdkci-bundle-'), { cacheDir: tmp('dpdkci-cache-'), env: process.env })).rejects.toThrow(
      /cannot bundle Kubernetes 1.31: 2 artefact\(s\) have no checksum or digest/,
    );
  });
});
