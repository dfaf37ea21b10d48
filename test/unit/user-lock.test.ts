import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { placesFrom } from '../../src/core/places.js';
import { UsageError } from '../../src/core/errors.js';
import { resolveOnFirstUse } from '../../src/versions/first-use.js';
import { loadLock } from '../../src/versions/lock.js';
import { completedValues, writeResolutions } from '../../src/versions/resolve.js';
import { kubeadmImageMismatches } from '../../src/versions/kubeadm-images.js';
import { loadEffectiveLock, lockSha256, parseUserLock, userLockFile, writeUserLock, type UserLock } from '../../src/versions/user-lock.js';
import { writeLock } from '../fixtures/lock.js';

const bin = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
const SHIPPED_SHA = 'ab'.repeat(32);
const SHIPPED_DIGEST = `sha256:${'cd'.repeat(32)}`;
const RESOLVED_DIGEST = `sha256:${'ef'.repeat(32)}`;
const RESOLVED_SHA = '12'.repeat(32);

/** A lock with one shipped value and two nulls (a file and an image), in a state directory of its own. */
function setup() {
  const root = mkdtempSync(join(tmpdir(), 'dpdkci-userlock-'));
  const lockFile = writeLock({
    files: [
      { name: 'kubeadm-v1.31.4', url: 'https://127.0.0.1:1/kubeadm', sha256: SHIPPED_SHA },
      { name: 'kubelet-v1.31.4', url: 'https://127.0.0.1:1/kubelet', sha256: null },
    ],
    images: [
      { ref: '127.0.0.1:1/pause:3.10', digest: SHIPPED_DIGEST },
      { ref: '127.0.0.1:1/etcd:3.5.0-0', digest: null },
    ],
  });
  const env = { DPDKCI_STATE_DIR: join(root, 'state'), DPDKCI_CACHE_DIR: join(root, 'cache'), DPDKCI_LOCK_FILE: lockFile };
  return { root, lockFile, env, places: placesFrom(env) };
}

function userLock(lockFile: string, over: Partial<UserLock> = {}): UserLock {
  return {
    schema: 1,
    lockSha256: lockSha256(lockFile),
    lockFile,
    files: { 'kubelet-v1.31.4': { value: RESOLVED_SHA, resolved: '2026-12-01T10:00:00.000Z', from: 'https://mirror.test/kubelet' } },
    images: {
      '127.0.0.1:1/etcd:3.5.0-0': { value: RESOLVED_DIGEST, resolved: '2026-12-02T10:00:00.000Z', from: 'http://127.0.0.1:5000' },
      // A value for what the shipped lock already pins: never used over it.
      '127.0.0.1:1/pause:3.10': { value: RESOLVED_DIGEST, resolved: '2026-12-02T10:00:00.000Z', from: 'http://127.0.0.1:5000' },
    },
    kubeadmChecked: {},
    ...over,
  };
}

describe('the user lock', () => {
  it('fills only the null entries, and says where each value came from', () => {
    const { lockFile, places } = setup();
    writeUserLock(userLockFile(places), userLock(lockFile));
    const e = loadEffectiveLock(places);
    const v = e.lock.kubernetes.versions['1.31'];
    expect(v?.files.map((f) => f.sha256)).toEqual([SHIPPED_SHA, RESOLVED_SHA]);
    expect(v?.images.map((m) => m.digest)).toEqual([SHIPPED_DIGEST, RESOLVED_DIGEST]);
    expect(e.provenance).toEqual({
      'file:kubeadm-v1.31.4': { state: 'shipped' },
      'file:kubelet-v1.31.4': { state: 'resolved', resolved: '2026-12-01T10:00:00.000Z', from: 'https://mirror.test/kubelet' },
      'image:127.0.0.1:1/pause:3.10': { state: 'shipped' },
      'image:127.0.0.1:1/etcd:3.5.0-0': { state: 'resolved', resolved: '2026-12-02T10:00:00.000Z', from: 'http://127.0.0.1:5000' },
    });
    // The shipped lock as read stays as it was.
    expect(e.shipped.kubernetes.versions['1.31']?.files[1]?.sha256).toBeNull();
    expect(e.note).toBeUndefined();
  });

  it('versions --resolve --write: the recorded values go to their places in the lock file, and it still loads', () => {
    const { lockFile, places } = setup();
    writeUserLock(userLockFile(places), userLock(lockFile));
    const e = loadEffectiveLock(places);
    const values = completedValues(e.shipped, e.lock);
    expect(values).toEqual([
      { path: ['kubernetes', 'versions', '1.31', 'files', 1, 'sha256'], kind: 'file', name: 'kubelet-v1.31.4', value: RESOLVED_SHA },
      { path: ['kubernetes', 'versions', '1.31', 'images', 1, 'digest'], kind: 'image', name: '127.0.0.1:1/etcd:3.5.0-0', value: RESOLVED_DIGEST },
    ]);
    writeResolutions(lockFile, values);
    const written = loadLock(lockFile).kubernetes.versions['1.31'];
    expect(written?.files[1]?.sha256).toBe(RESOLVED_SHA);
    expect(written?.images.map((m) => m.digest)).toEqual([SHIPPED_DIGEST, RESOLVED_DIGEST]);
  });

  it('versions --resolve --write writes the lock in use (not the one the user lock was first made for), and the user lock follows its new content', async () => {
    const { root, lockFile, env, places } = setup();
    // The same lock content elsewhere (another checkout): the user lock names that path; it is never written.
    const elsewhere = join(root, 'other-checkout', 'versions.lock.yaml');
    writeUserLock(userLockFile(places), userLock(lockFile, { lockFile: elsewhere }));
    const w = await execa('node', [bin, 'versions', '--resolve', '--write'], { env: { ...process.env, ...env }, reject: false });
    expect(w.exitCode, w.all ?? `${w.stdout}\n${w.stderr}`).toBe(0);
    expect(loadLock(lockFile).kubernetes.versions['1.31']?.files[1]?.sha256).toBe(RESOLVED_SHA);
    expect(existsSync(elsewhere)).toBe(false);
    // The next command reads the user lock as its own, instead of setting it aside.
    const shown = await execa('node', [bin, 'versions'], { env: { ...process.env, ...env }, reject: false });
    expect(shown.exitCode).toBe(0);
    expect(shown.stderr).not.toMatch(/set aside/);
    expect(loadEffectiveLock(places).note).toBeUndefined();
  });

  it('is written whole, mode 0600, and reads back the same', () => {
    const { lockFile, places } = setup();
    const file = userLockFile(places);
    writeUserLock(file, userLock(lockFile));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseUserLock(file, readFileSync(file, 'utf8'))).toEqual(userLock(lockFile));
  });

  it('a new shipped lock starts afresh: the old values are set aside, said in one line', () => {
    const { lockFile, places } = setup();
    writeUserLock(userLockFile(places), userLock(lockFile));
    writeFileSync(lockFile, `${readFileSync(lockFile, 'utf8')}# a new release of the lock\n`);
    const e = loadEffectiveLock(places);
    expect(e.provenance['file:kubelet-v1.31.4']).toEqual({ state: 'missing' });
    expect(e.lock.kubernetes.versions['1.31']?.images[1]?.digest).toBeNull();
    expect(e.note).toMatch(/was resolved for another .*versions\.lock\.yaml .*set aside, missing values are looked up afresh/);
    expect(e.note?.split('\n')).toHaveLength(1);
  });

  it.each([
    ['not: [yaml', /not YAML/],
    ['schema: 2\nlockSha256: x', /schema "2" is not one this dpdkci reads/],
    [`schema: 1\nlockSha256: ${'a'.repeat(64)}\nimages:\n  r/x:1: { value: sha256:abc, resolved: 2026-01-01, from: x }`, /images\."r\/x:1"\.value "sha256:abc" is not a sha256:<digest>/],
    [`schema: 1\nlockSha256: ${'a'.repeat(64)}\nfiles:\n  f: { value: ${'a'.repeat(64)}, resolved: yesterday, from: x }`, /files\."f"\.resolved "yesterday" is not a date/],
  ])('a malformed user lock is bad input naming the file and the fix (%#)', (text, message) => {
    expect(() => parseUserLock('/state/versions.resolved.yaml', text)).toThrow(UsageError);
    expect(() => parseUserLock('/state/versions.resolved.yaml', text)).toThrow(message);
    expect(() => parseUserLock('/state/versions.resolved.yaml', text)).toThrow(/remove it \(rm \/state\/versions\.resolved\.yaml\)/);
  });

  it('through the CLI: a malformed user lock exits 2; versions shows shipped, resolved DATE and missing', async () => {
    const { lockFile, places, env } = setup();
    writeUserLock(userLockFile(places), userLock(lockFile, { images: {} }));
    const r = await execa('node', [bin, 'versions'], { reject: false, env: { ...process.env, ...env } });
    expect(r.exitCode, r.stderr).toBe(0);
    const row = (name: string) => r.stdout.split('\n').find((l) => l.includes(name)) ?? '';
    expect(row('kubeadm-v1.31.4')).toMatch(/shipped$/);
    expect(row('kubelet-v1.31.4')).toMatch(/resolved 2026-12-01$/);
    expect(row('etcd:3.5.0-0')).toMatch(/NOT PINNED\s+missing$/);
    const json = JSON.parse((await execa('node', [bin, 'versions', '-o', 'json'], { env: { ...process.env, ...env } })).stdout) as { provenance: Record<string, { state: string }> };
    expect(json.provenance['image:127.0.0.1:1/etcd:3.5.0-0']).toEqual({ state: 'missing' });
    writeFileSync(userLockFile(places), 'schema: 7\n');
    const bad = await execa('node', [bin, 'versions'], { reject: false, env: { ...process.env, ...env } });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/versions\.resolved\.yaml: schema "7" is not one this dpdkci reads \(1\); .*remove it/);
  });

  it('--locked refuses to look anything up and names every missing value; bad --registry-mirror is exit 2', async () => {
    const { places, env } = setup();
    await expect(resolveOnFirstUse(loadEffectiveLock(places), ['1.31'], { cacheDir: join(places.cacheRoot, 'artefacts'), registryMirrors: [], locked: true }, () => {})).rejects.toThrow(
      /--locked: 2 value\(s\) of .* are not recorded, .*\n {2}kubelet-v1\.31\.4 \(sha256\)\n {2}127\.0\.0\.1:1\/etcd:3\.5\.0-0 \(digest\)\n/,
    );
    const locked = await execa('node', [bin, 'up', '--prefix', 'lk', '--kubernetes', '1.31', '--dry-run'], { reject: false, env: { ...process.env, ...env, DPDKCI_LOCKED: 'true' } });
    expect(locked.exitCode).toBe(1);
    expect(locked.stderr).toMatch(/--locked: 2 value\(s\)/);
    const mirror = await execa('node', [bin, 'up', '--prefix', 'lk', '--kubernetes', '1.31', '--dry-run', '--registry-mirror', 'quay.io'], { reject: false, env: { ...process.env, ...env } });
    expect(mirror.exitCode).toBe(2);
    expect(mirror.stderr).toMatch(/--registry-mirror: "quay.io" is not HOST=URL/);
    const viaEnv = await execa('node', [bin, 'versions', '--resolve'], { reject: false, env: { ...process.env, ...env, DPDKCI_REGISTRY_MIRRORS: 'a=ftp://x' } });
    expect(viaEnv.exitCode).toBe(2);
    expect(viaEnv.stderr).toMatch(/DPDKCI_REGISTRY_MIRRORS: "a=ftp:\/\/x" is not HOST=URL/);
  });
});

describe("kubeadm's image tags against the lock's", () => {
  const lock = ['registry.k8s.io/kube-apiserver:v1.36.4', 'registry.k8s.io/etcd:3.6.8-0', 'registry.k8s.io/coredns/coredns:v1.14.2', 'registry.k8s.io/pause:3.10.2'];
  it('agree when kubeadm prints the same etcd, CoreDNS and pause', () => {
    expect(kubeadmImageMismatches('v1.36.4', lock, [...lock, 'registry.k8s.io/kube-proxy:v1.36.4'])).toEqual([]);
  });
  it('name both tags when they differ, and a missing one', () => {
    const printed = ['registry.k8s.io/kube-apiserver:v1.36.4', 'registry.k8s.io/etcd:3.6.9-0', 'registry.k8s.io/pause:3.10.2'];
    expect(kubeadmImageMismatches('v1.36.4', lock, printed)).toEqual([
      'the lock pins registry.k8s.io/etcd:3.6.8-0, but kubeadm v1.36.4 uses registry.k8s.io/etcd:3.6.9-0',
      `the lock pins registry.k8s.io/coredns/coredns:v1.14.2, but kubeadm v1.36.4 names no registry.k8s.io/coredns/coredns image (it printed: ${printed.join(', ')})`,
    ]);
  });
});
