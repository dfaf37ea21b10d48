import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOciArchive } from '../../src/sync/oci.js';
import { pushImage } from '../../src/sync/registry-push.js';
import { helloImageArchive } from '../fixtures/oci.js';
import { dpdkci, startRegistry } from './helpers.js';

/**
 * Pins resolved on first use, against stand-ins on loopback (no QEMU): Debian's docker-registry holding
 * stand-in images pushed under the upstream names (registry.k8s.io/…, quay.io/…, ghcr.io/…), reached through
 * --registry-mirror; and an HTTP server as --mirror for files, serving a stand-in kubeadm (a shell script
 * that prints an image list as `kubeadm config images list` does). The real registries are never asked.
 */
const REPO = join(__dirname, '..', '..');
const SHIPPED = join(REPO, 'versions.lock.yaml');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let registry: Awaited<ReturnType<typeof startRegistry>>;
let files: Server;
let mirror: string;
/** The stand-in kubeadm the file server gives for the lock's kubeadm URL; tests swap it. */
let kubeadm: Buffer;
const digests: Record<string, string> = {};
let refs: string[] = [];
let kubeadmPath = '';
let etcdRef = '';

/** A stand-in kubeadm: prints the lock's own control-plane images, with etcd's tag as given. */
function standInKubeadm(etcd: string): Buffer {
  const others = refs.filter((r) => r.startsWith('registry.k8s.io/') && !r.includes('/etcd:'));
  return Buffer.from(
    `#!/bin/sh\n# dpdkci test stand-in for kubeadm: config images list --kubernetes-version V\n` +
      `[ "$1 $2 $3 $4" = "config images list --kubernetes-version" ] || { echo "stand-in kubeadm: unexpected $*" >&2; exit 64; }\n` +
      `printf '%s\\n' ${[...others, etcd].map((r) => `'${r}'`).join(' ')}\n`,
  );
}

/** A copy of the shipped lock: 1.36's and the add-ons' image digests null, two files null, kubeadm = the stand-in. */
function testLock(kubeadmBytes: Buffer): string {
  const doc = parseDocument(readFileSync(SHIPPED, 'utf8'));
  const v = doc.getIn(['kubernetes', 'versions', '1.36']) as { toJSON(): { files: { name: string }[]; images: unknown[] } };
  const { files: fs, images } = v.toJSON();
  images.forEach((_, i) => doc.setIn(['kubernetes', 'versions', '1.36', 'images', i, 'digest'], null));
  fs.forEach((f, i) => {
    if (f.name.startsWith('kubeadm')) doc.setIn(['kubernetes', 'versions', '1.36', 'files', i, 'sha256'], sha(kubeadmBytes));
    if (f.name.startsWith('kubelet')) doc.setIn(['kubernetes', 'versions', '1.36', 'files', i, 'sha256'], null);
  });
  const addons = (doc.get('addons') as { toJSON(): Record<string, { images?: unknown[]; files: { name: string }[] }> }).toJSON();
  for (const [name, a] of Object.entries(addons)) {
    (a.images ?? []).forEach((_, i) => doc.setIn(['addons', name, 'images', i, 'digest'], null));
    a.files.forEach((f, i) => f.name.startsWith('userspace-cni-network-plugin') && doc.setIn(['addons', name, 'files', i, 'sha256'], null));
  }
  const file = join(mkdtempSync(join(tmpdir(), 'dpdkci-e2e-lock-')), 'versions.lock.yaml');
  writeFileSync(file, doc.toString({ lineWidth: 0 }));
  return file;
}

beforeAll(async () => {
  registry = await startRegistry();
  const doc = parseDocument(readFileSync(SHIPPED, 'utf8')).toJSON() as {
    kubernetes: { versions: Record<string, { files: { name: string; url: string }[]; images: { ref: string }[] }> };
    addons: Record<string, { images?: { ref: string }[] }>;
  };
  const v136 = doc.kubernetes.versions['1.36'];
  refs = [...(v136?.images ?? []), ...Object.values(doc.addons).flatMap((a) => a.images ?? [])].map((m) => m.ref);
  etcdRef = refs.find((r) => r.includes('/etcd:')) as string;
  kubeadmPath = `/${new URL(v136?.files.find((f) => f.name.startsWith('kubeadm'))?.url as string).host}${new URL(v136?.files.find((f) => f.name.startsWith('kubeadm'))?.url as string).pathname}`;
  for (const ref of refs) {
    const archive = await helloImageArchive(ref, `${ref} (dpdkci test stand-in)\n`);
    await pushImage(await readOciArchive(archive.file), `127.0.0.1:${registry.port}`, 'stand-in image');
    digests[ref] = archive.digest;
  }
  kubeadm = standInKubeadm(etcdRef);
  files = createServer((req, res) => {
    if (req.url === kubeadmPath) res.writeHead(200).end(kubeadm);
    else res.writeHead(200).end(`stand-in for ${req.url}\n`);
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  mirror = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  files?.close();
  await registry?.stop();
});

/** A state directory of its own per case; the image build, if anything reached it, fails at once. */
function env(lock: string) {
  const root = mkdtempSync(join(tmpdir(), 'dpdkci-e2e-resolve-'));
  return { root, env: { DPDKCI_STATE_DIR: join(root, 'state'), DPDKCI_CACHE_DIR: join(root, 'cache'), DPDKCI_LOCK_FILE: lock, DPDKCI_DEBIAN_MIRROR: 'http://127.0.0.1:1/debian' } };
}
const mirrors = () => ['--mirror', mirror, ...['registry.k8s.io', 'quay.io', 'ghcr.io'].flatMap((h) => ['--registry-mirror', `${h}=${registry.base}`])];
const gitStatus = async () => (await execa('git', ['status', '--porcelain'], { cwd: REPO })).stdout;

describe('versions resolved on first use (stand-in registry and mirror on loopback)', () => {
  it('records exactly what the stand-in registry serves, once; a moved tag is refused; --locked refuses; a kubeadm with another etcd tag is refused', async () => {
    const before = await gitStatus();
    const lock = testLock(kubeadm);
    const { env: e1 } = env(lock);
    const user = join(e1.DPDKCI_STATE_DIR, 'versions.resolved.yaml');

    // --locked: nothing looked up, every missing value named.
    const locked = await dpdkci(['up', '--prefix', 'e2e-lock-locked', '--kubernetes', '1.36', '--dry-run', '--locked', ...mirrors()], { env: e1, timeoutMs: 120_000 });
    expect(locked.exitCode, locked.all).toBe(1);
    expect(locked.stderr).toMatch(/--locked: \d+ value\(s\) of .* are not recorded/);
    for (const ref of refs) expect(locked.stderr).toContain(`${ref} (digest)`);
    expect(existsSync(user)).toBe(false);

    // First use: every null value looked up through the mirrors and recorded in the user lock.
    const first = await dpdkci(['up', '--prefix', 'e2e-lock-first', '--kubernetes', '1.36', '--dry-run', ...mirrors()], { env: e1, timeoutMs: 300_000 });
    expect(first.exitCode, first.all).toBe(0);
    const recorded = parseDocument(readFileSync(user, 'utf8')).toJSON() as { lockSha256: string; images: Record<string, { value: string; from: string }>; files: Record<string, { value: string }>; kubeadmChecked: Record<string, string> };
    expect(Object.fromEntries(Object.entries(recorded.images).map(([ref, r]) => [ref, r.value]))).toEqual(digests);
    for (const r of Object.values(recorded.images)) expect(r.from).toBe(registry.base);
    expect(Object.keys(recorded.files).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^kubelet-/), expect.stringMatching(/^userspace-cni-network-plugin-/)]));
    expect(recorded.lockSha256).toBe(sha(readFileSync(lock)));
    expect(Object.keys(recorded.kubeadmChecked)).toEqual(['v1.36.4']);
    for (const ref of refs) expect(first.stderr).toContain(`recorded ${ref} ${digests[ref]}`);
    expect(await gitStatus()).toBe(before);

    // Second use: nothing to look up, the user lock as it was.
    const text = readFileSync(user, 'utf8');
    const second = await dpdkci(['up', '--prefix', 'e2e-lock-second', '--kubernetes', '1.36', '--dry-run', ...mirrors()], { env: e1, timeoutMs: 120_000 });
    expect(second.exitCode, second.all).toBe(0);
    expect(second.stderr).not.toMatch(/recorded /);
    expect(readFileSync(user, 'utf8')).toBe(text);
    const shown = await dpdkci(['versions'], { env: e1, timeoutMs: 60_000 });
    expect(shown.stdout.split('\n').find((l) => l.includes(etcdRef))).toMatch(/resolved \d{4}-\d\d-\d\d$/);

    // A tag re-pushed with other content: up's preflight asks the tag and refuses, naming both digests.
    const pause = refs.find((r) => r.includes('/pause:')) as string;
    const moved = await helloImageArchive(pause, `${pause} (dpdkci test stand-in, pushed again)\n`);
    await pushImage(await readOciArchive(moved.file), `127.0.0.1:${registry.port}`, 'stand-in image');
    const refused = await dpdkci(['up', '--prefix', 'e2e-lock-moved', '--kubernetes', '1.36', ...mirrors()], { env: e1, timeoutMs: 120_000 });
    expect(refused.exitCode, refused.all).toBe(1);
    expect(refused.stderr).toContain(`${pause}: the lock records ${digests[pause]}, but ${registry.base} now serves ${moved.digest} for the tag`);
    expect(refused.stderr).toMatch(/nothing was started/);
    expect(existsSync(join(e1.DPDKCI_STATE_DIR, 'clusters', 'e2e-lock-moved'))).toBe(false);
    // Put back, for the case below.
    await pushImage(await readOciArchive((await helloImageArchive(pause, `${pause} (dpdkci test stand-in)\n`)).file), `127.0.0.1:${registry.port}`, 'stand-in image');

    // A kubeadm that uses another etcd tag than the lock's: refused, naming both; not recorded as checked.
    const otherEtcd = etcdRef.replace(/:([^:]+)$/, ':9.9.9-0');
    kubeadm = standInKubeadm(otherEtcd);
    const { env: e2 } = env(testLock(kubeadm));
    const wrong = await dpdkci(['up', '--prefix', 'e2e-lock-etcd', '--kubernetes', '1.36', '--dry-run', ...mirrors()], { env: e2, timeoutMs: 300_000 });
    expect(wrong.exitCode, wrong.all).toBe(1);
    expect(wrong.stderr).toContain(`the lock pins ${etcdRef}, but kubeadm v1.36.4 uses ${otherEtcd}`);
    // Nothing of that resolution is recorded, so the next run looks up and checks again, and is refused again.
    expect(existsSync(join(e2.DPDKCI_STATE_DIR, 'versions.resolved.yaml'))).toBe(false);
    const again = await dpdkci(['up', '--prefix', 'e2e-lock-etcd', '--kubernetes', '1.36', '--dry-run', ...mirrors()], { env: e2, timeoutMs: 300_000 });
    expect(again.exitCode, again.all).toBe(1);
    expect(again.stderr).toContain(`the lock pins ${etcdRef}, but kubeadm v1.36.4 uses ${otherEtcd}`);
    expect(await gitStatus()).toBe(before);
  }, 900_000);
});
