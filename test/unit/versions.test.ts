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

const bin = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
const SHA = 'ab'.repeat(32);
const DIGEST = `sha256:${'cd'.repeat(32)}`;

type Overrides = { fileUrl?: string; sha256?: string | null; ref?: string; digest?: string | null };
const lockWith = (base: string, o: Overrides = {}) =>
  writeTestLock({
    file: { url: o.fileUrl ?? `${base}/kubeadm`, sha256: o.sha256 === undefined ? SHA : o.sha256 },
    image: { ref: o.ref ?? 'registry.example/pause:3.10', digest: o.digest === undefined ? DIGEST : o.digest },
  });

describe('versions.lock.yaml', () => {
  it('the shipped lock loads: every URL https and pinned to a release, no latest', () => {
    const lock = loadLock(lockFile(placesFrom(process.env)));
    expect(lock.kubernetes.default).toBe('1.36');
    expect(Object.keys(lock.kubernetes.versions).sort()).toEqual(['1.35', '1.36']);
    for (const [minor, release] of [['1.36', 'v1.36.4'], ['1.35', 'v1.35.8']] as const) {
      const all = clusterArtefacts(lock, minor);
      for (const f of all.files) {
        expect(f.url).toMatch(/^https:\/\//);
        expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
      for (const m of all.images) expect(m.ref).not.toMatch(/:latest$/);
      expect(all.files.map((f) => f.name)).toEqual(expect.arrayContaining([`kubeadm-${release}`, `kubelet-${release}`, `kubectl-${release}`, 'containerd-static-2.3.4-linux-amd64.tar.gz', 'runc.amd64']));
      // Exactly the values no stored public file holds are left for versions --resolve (the README lists them).
      const kubeadm = minor === '1.36' ? ['etcd:3.6.8-0', 'coredns/coredns:v1.14.2', 'pause:3.10.2'] : ['etcd:3.6.6-0'];
      expect(all.unpinned.sort()).toEqual(
        [
          ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map((c) => `registry.k8s.io/${c}:${release} (digest)`),
          ...kubeadm.map((i) => `registry.k8s.io/${i} (digest)`),
          'ghcr.io/k8snetworkplumbingwg/multus-cni:v4.2.2 (digest)',
          'quay.io/calico/cni:v3.31.7 (digest)',
          'quay.io/calico/kube-controllers:v3.31.7 (digest)',
          'quay.io/calico/node:v3.31.7 (digest)',
          'userspace-cni-network-plugin-3e14ba36.tar.gz (sha256)',
        ].sort(),
      );
    }
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
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(r.missing).toHaveLength(2);
    expect(r.missing[0]).toMatch(/^kubeadm-v1.31.4: https:\/\/127.0.0.1:1\/kubeadm: /);
    const message = preflightMessage('1.31', r);
    expect(message).toMatch(/nothing was started/);
    expect(message).toMatch(/dpdkci bundle DIR` on a connected machine and pass --bundle DIR/);
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

  it('up --kubernetes 1.36 here fails in under 5 s, exit 1, with nothing started', async () => {
    const state = mkdtempSync(join(tmpdir(), 'dpdkci-pf-cli-'));
    const began = Date.now();
    const r = await execa('node', [bin, 'up', '--prefix', 'pf', '--kubernetes', '1.36'], {
      reject: false,
      env: { ...process.env, CI: 'true', DPDKCI_STATE_DIR: join(state, 'state'), DPDKCI_CACHE_DIR: join(state, 'cache') },
    });
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--kubernetes 1.36: .*nothing was started/);
    expect(r.stderr).toMatch(/--bundle DIR/);
    expect(existsSync(join(state, 'state', 'clusters', 'pf'))).toBe(false);
  });
});
