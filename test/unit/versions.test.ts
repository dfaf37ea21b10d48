import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedPath } from '../../src/fetch/fetcher.js';
import { clusterArtefacts, kubernetesVersion, loadLock, lockFile, type Lock } from '../../src/versions/lock.js';
import { bundleImageFile, preflight, preflightMessage } from '../../src/versions/preflight.js';
import { writeTestLock } from '../fixtures/lock.js';
import { placesFrom } from '../../src/core/places.js';
import { unreachableLockFile } from '../fixtures/kubernetes-context.js';

const bin = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
const SHA = 'ab'.repeat(32);
const DIGEST = `sha256:${'cd'.repeat(32)}`;
/** What the stand-in registry serves for registry.example/pause:3.10, and its digest. */
const SERVED = '{"schemaVersion":2,"manifests":[]}';
const SERVED_DIGEST = `sha256:${createHash('sha256').update(SERVED).digest('hex')}`;

type Overrides = { fileUrl?: string; sha256?: string | null; ref?: string; digest?: string | null };
const lockWith = (base: string, o: Overrides = {}) =>
  writeTestLock({
    file: { url: o.fileUrl ?? `${base}/kubeadm`, sha256: o.sha256 === undefined ? SHA : o.sha256 },
    image: { ref: o.ref ?? 'registry.example/pause:3.10', digest: o.digest === undefined ? DIGEST : o.digest },
  });

describe('versions.lock.yaml', () => {
  it('the shipped lock loads, with the files every cluster needs (its values may be recorded or null: either holds)', () => {
    const lock = loadLock(lockFile(placesFrom(process.env)));
    expect(lock.kubernetes.default).toBe('1.36');
    expect(Object.keys(lock.kubernetes.versions).sort()).toEqual(['1.35', '1.36']);
    for (const [minor, release] of [['1.36', 'v1.36.4'], ['1.35', 'v1.35.8']] as const) {
      const version = kubernetesVersion(lock, minor);
      expect(version.files.map((f) => f.name)).toEqual(expect.arrayContaining([`kubeadm-${release}`, `kubelet-${release}`, `kubectl-${release}`]));
      // kubeadm decides these three; the lock must name them so that its tags can be checked against kubeadm's.
      for (const image of ['etcd', 'coredns', 'pause']) expect(version.images.some((m) => new RegExp(`^registry\\.k8s\\.io/(\\w+/)?${image}:`).test(m.ref)), image).toBe(true);
    }
    expect(lock.addons['container-runtime']?.files.map((f) => f.name)).toEqual(expect.arrayContaining(['containerd-static-2.3.4-linux-amd64.tar.gz', 'runc.amd64']));
  });
  it('an unknown version names the pinned ones', () => {
    expect(() => kubernetesVersion(loadLock(lockFile(placesFrom(process.env))), '1.99')).toThrow(/--kubernetes: 1.99 is not a version this dpdkci pins; pinned: 1.36, 1.35 \(or none\)/);
  });
  it.each([
    [{ fileUrl: 'http://insecure.example/kubeadm' }, /url "http:\/\/insecure.example\/kubeadm" must be an https URL/],
    [{ fileUrl: 'https://dl.example/release/latest/kubeadm' }, /names "latest", which moves/],
    [{ sha256: 'abc' }, /sha256 "abc" is not 64 hex digits/],
    [{ ref: 'registry.example/pause:latest' }, /is "latest", which moves/],
    [{ ref: 'pause' }, /ref "pause" must be REGISTRY\/NAME:TAG/],
    [{ digest: 'sha256:xyz' }, /digest "sha256:xyz" is not sha256:<64 hex digits>/],
  ])('refuses %j', (overrides, message) => {
    expect(() => loadLock(lockWith('https://dl.example', overrides))).toThrow(message);
  });
  it('lists what is not pinned yet', () => {
    const lock = loadLock(lockWith('https://dl.example', { sha256: null, digest: null }));
    expect(clusterArtefacts(lock, '1.31').unpinned).toEqual(['kubeadm-v1.31.4 (sha256)', 'registry.example/pause:3.10 (digest)']);
  });
});

describe('preflight', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/mirror/dl.example/kubeadm') res.writeHead(200).end();
      else if (req.url === '/v2/') res.writeHead(401).end();
      else if (req.url === '/v2/pause/manifests/3.10') res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(SERVED);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());
  const cache = () => mkdtempSync(join(tmpdir(), 'dpdkci-pf-'));

  it('with no network and no bundle: everything missing, quickly, and the message names the two ways out', async () => {
    const lock = loadLock(lockWith('https://127.0.0.1:1'));
    const began = Date.now();
    const r = await preflight(lock, '1.31', { cacheDir: cache(), timeoutMs: 2_000 });
    expect(r.missing).toHaveLength(2);
    expect(r.missing[0]).toMatch(/^kubeadm-v1.31.4: https:\/\/127.0.0.1:1\/kubeadm: /);
    const message = preflightMessage('1.31', r);
    expect(message).toMatch(/nothing was started/);
    expect(message).toMatch(/dpdkci bundle DIR` on a connected machine \(it resolves and records what is missing\) and pass --bundle DIR/);
    expect(message).toMatch(/--registry-mirror HOST=URL/);
    expect(message).toMatch(/--kubernetes none/);
  });

  it('a mirror that serves the file is a source; one that lacks it is named; a cached copy needs no network', async () => {
    const lock: Lock = loadLock(lockWith('https://dl.example'));
    const served = await preflight(lock, '1.31', { cacheDir: cache(), mirror: `${base}/mirror` });
    expect(served.sources['kubeadm-v1.31.4']).toBe('network');
    const other = loadLock(lockWith('https://dl.example', { fileUrl: 'https://dl.example/other' }));
    const lacking = await preflight(other, '1.31', { cacheDir: cache(), mirror: `${base}/mirror` });
    expect(lacking.missing[0]).toBe(`kubeadm-v1.31.4: ${base}/mirror/dl.example/other answered 404`);
    const dir = cache();
    mkdirSync(join(dir, 'sha256', SHA), { recursive: true });
    writeFileSync(cachedPath(dir, { name: 'kubeadm-v1.31.4', url: '', sha256: SHA }), 'x');
    expect((await preflight(other, '1.31', { cacheDir: dir })).sources['kubeadm-v1.31.4']).toBe('cache');
  });

  it('asks each tag through --registry-mirror and refuses one that moved, naming both digests', async () => {
    const registryMirrors = [{ host: 'registry.example', url: base }];
    const same = await preflight(loadLock(lockWith('https://dl.example', { digest: SERVED_DIGEST })), '1.31', { cacheDir: cache(), mirror: `${base}/mirror`, registryMirrors });
    expect(same.sources['registry.example/pause:3.10']).toBe('network');
    expect(same.moved).toEqual([]);
    const moved = await preflight(loadLock(lockWith('https://dl.example')), '1.31', { cacheDir: cache(), mirror: `${base}/mirror`, registryMirrors });
    expect(moved.moved).toEqual([`registry.example/pause:3.10: the lock records ${DIGEST}, but ${base} now serves ${SERVED_DIGEST} for the tag`]);
    expect(preflightMessage('1.31', moved)).toMatch(/1 tag\(s\) moved since their digest was recorded/);
  });

  it('with a bundle, takes only from it and names what it lacks', async () => {
    const lock = loadLock(lockWith('https://127.0.0.1:1'));
    const bundle = cache();
    mkdirSync(join(bundle, 'files'));
    writeFileSync(join(bundle, 'files', 'kubeadm-v1.31.4'), 'x');
    const r = await preflight(lock, '1.31', { cacheDir: cache(), bundleDir: bundle });
    expect(r.sources['kubeadm-v1.31.4']).toBe('bundle');
    expect(r.missing).toEqual([`registry.example/pause:3.10: not in the bundle ${bundle}`]);
    mkdirSync(join(bundle, 'images'));
    writeFileSync(bundleImageFile(bundle, 'registry.example/pause:3.10'), 'x');
    expect((await preflight(lock, '1.31', { cacheDir: cache(), bundleDir: bundle })).missing).toEqual([]);
  });

  it('up --kubernetes 1.36 with values that cannot be looked up fails, exit 1, naming them, with nothing started', async () => {
    const state = mkdtempSync(join(tmpdir(), 'dpdkci-pf-cli-'));
    const r = await execa('node', [bin, 'up', '--prefix', 'pf', '--kubernetes', '1.36'], {
      reject: false,
      env: { ...process.env, CI: 'true', DPDKCI_STATE_DIR: join(state, 'state'), DPDKCI_CACHE_DIR: join(state, 'cache'), DPDKCI_LOCK_FILE: unreachableLockFile() },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--kubernetes 1.36: 2 value\(s\) the lock leaves null could not be looked up; nothing was started/);
    expect(r.stderr).toMatch(/127\.0\.0\.1:1\/kube-apiserver:v1\.36\.4 \(digest\)/);
    expect(r.stderr).toMatch(/userspace-cni-network-plugin-3e14ba36\.tar\.gz \(sha256\)/);
    expect(r.stderr).toMatch(/--registry-mirror HOST=URL/);
    expect(existsSync(join(state, 'state', 'clusters', 'pf'))).toBe(false);
    expect(existsSync(join(state, 'state', 'versions.resolved.yaml'))).toBe(false);
  });

  it('bundle with values that cannot be looked up names only ways bundle has (M1: no --bundle, no --kubernetes none)', async () => {
    const state = mkdtempSync(join(tmpdir(), 'dpdkci-pf-bundle-'));
    const r = await execa('node', [bin, 'bundle', join(state, 'out'), '--kubernetes', '1.36'], {
      reject: false,
      env: { ...process.env, CI: 'true', DPDKCI_STATE_DIR: join(state, 'state'), DPDKCI_CACHE_DIR: join(state, 'cache'), DPDKCI_LOCK_FILE: unreachableLockFile() },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/bundle .*: 2 value\(s\) the lock leaves null could not be looked up/);
    expect(r.stderr).toMatch(/--registry-mirror HOST=URL/);
    expect(r.stderr).not.toMatch(/--bundle DIR|--kubernetes none/);
  });
});
