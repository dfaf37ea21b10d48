import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBundle } from '../../src/bundle/bundle.js';
import { gatherArtefacts } from '../../src/kubernetes/artefacts.js';
import { builtPath } from '../../src/kubernetes/go-build.js';
import { clusterArtefacts, loadLock } from '../../src/versions/lock.js';
import { preflight } from '../../src/versions/preflight.js';
import { cniPluginMain, goToolchainArchive, pluginSourceArchive } from '../fixtures/go.js';
import { writeLock } from '../fixtures/lock.js';

/**
 * The userspace CNI plugin is built on the host from a pinned source archive with a pinned Go toolchain.
 * Neither can be downloaded here, so this test pins the stand-ins of test/fixtures/go.ts, served by a local
 * HTTP server. The build itself is real: the unpacked toolchain compiles the unpacked source.
 */
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const work = mkdtempSync(join(tmpdir(), 'dpdkci-go-build-'));
const served = new Map<string, Buffer>();
let server: Server;
let mirror: string;

function lockWith(source: string, toolchain: string, file = join(mkdtempSync(join(work, 'lock-')), 'versions.lock.yaml')): string {
  const entry = (name: string) => ({ name, url: `https://dl.dpdkci.test/${name}`, sha256: sha(served.get(`/dl.dpdkci.test/${name}`) as Buffer) });
  writeLock(
    {
      files: [],
      images: [],
      addons: {
        'userspace-cni': {
          version: 'v1.3',
          files: [entry(source), entry(toolchain)],
          images: [],
          build: { source, toolchain, package: './userspace', binary: 'userspace', install: '/opt/cni/bin/userspace' },
        },
      },
    },
    file,
  );
  return file;
}

beforeAll(async () => {
  served.set('/dl.dpdkci.test/go1.19.linux-amd64.tar', await goToolchainArchive(work));
  served.set('/dl.dpdkci.test/plugin-v1.3.tar.gz', await pluginSourceArchive(work, cniPluginMain('dpdkci-test-plugin')));
  served.set('/dl.dpdkci.test/broken-v1.3.tar.gz', await pluginSourceArchive(work, cniPluginMain('x').replace('os.Exit(1)', 'os.Exit(undefinedName)')));
  served.set('/dl.dpdkci.test/notgo.tar.gz', await pluginSourceArchive(work, cniPluginMain('y')));
  server = createServer((req, res) => {
    const body = served.get(req.url ?? '');
    if (body) res.writeHead(200, { 'content-length': body.length }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(() => {
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the userspace CNI plugin, built from its pinned source with the pinned Go', () => {
  const cacheDir = join(work, 'cache');
  let built: string;

  it('builds it, and the binary answers as a CNI plugin', async () => {
    const lock = loadLock(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar'));
    const progress: string[] = [];
    const got = await gatherArtefacts(lock, '1.31', { cacheDir, mirror, onProgress: (w) => progress.push(w) });
    const entry = got.files.find((f) => f.install === '/opt/cni/bin/userspace');
    expect(entry?.name).toBe('userspace-cni-v1.3-userspace');
    built = entry?.path as string;
    expect(built).toBe(builtPath(cacheDir, clusterArtefacts(lock, '1.31').builds[0] as never));
    expect(entry?.sha256).toBe(sha(readFileSync(built)));
    expect(statSync(built).mode & 0o111).not.toBe(0);
    const r = await execa(built, [], { env: { CNI_COMMAND: 'VERSION' } });
    expect(JSON.parse(r.stdout)).toMatchObject({ cniVersion: '1.0.0', plugin: 'dpdkci-test-plugin' });
    expect(progress).toContain('userspace-cni-v1.3-userspace: go build ./userspace');
    // Nothing of the build is left beside the result.
    expect(readdirSync(join(cacheDir, 'builds')).filter((d) => d.startsWith('.'))).toEqual([]);
  }, 180_000);

  it('a second gather takes the cached build; a build elsewhere makes the same bytes', async () => {
    const lock = loadLock(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar'));
    const before = statSync(built).mtimeMs;
    const progress: string[] = [];
    await gatherArtefacts(lock, '1.31', { cacheDir, mirror, onProgress: (w) => progress.push(w) });
    expect(statSync(built).mtimeMs).toBe(before);
    expect(progress.filter((p) => p.includes('go build'))).toEqual([]);
    const elsewhere = await gatherArtefacts(lock, '1.31', { cacheDir: join(work, 'cache2'), mirror });
    const again = elsewhere.files.find((f) => f.install === '/opt/cni/bin/userspace');
    expect(again?.sha256).toBe(sha(readFileSync(built)));
  }, 180_000);

  it('a source that does not compile fails naming the build, with what go said, and keeps nothing', async () => {
    const lock = loadLock(lockWith('broken-v1.3.tar.gz', 'go1.19.linux-amd64.tar'));
    const err = await gatherArtefacts(lock, '1.31', { cacheDir, mirror }).catch((e: Error) => e);
    expect(String(err)).toMatch(/building userspace-cni-v1\.3-userspace failed: go build \.\/userspace in broken-v1\.3\.tar\.gz exited \d+:/);
    expect(String(err)).toMatch(/undefined: undefinedName/);
    const key = clusterArtefacts(lock, '1.31').builds[0];
    expect(existsSync(builtPath(cacheDir, key as never))).toBe(false);
    expect(readdirSync(join(cacheDir, 'builds')).filter((d) => d.startsWith('.'))).toEqual([]);
  }, 180_000);

  it('a toolchain archive without go/bin/go is named as such', async () => {
    const lock = loadLock(lockWith('plugin-v1.3.tar.gz', 'notgo.tar.gz'));
    await expect(gatherArtefacts(lock, '1.31', { cacheDir, mirror })).rejects.toThrow(/notgo\.tar\.gz holds no go\/bin\/go/);
  });

  it('a bundle carries the built binary; up --bundle takes it from there without building', async () => {
    const lockFile = lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar');
    const lock = loadLock(lockFile);
    const bundle = join(work, 'bundle');
    const made = await makeBundle(lock, '1.31', bundle, { cacheDir, mirror });
    expect(made.builds).toBe(1);
    const inBundle = join(bundle, 'files', 'userspace-cni-v1.3-userspace');
    expect(statSync(inBundle).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(bundle, 'SHA256SUMS'), 'utf8')).toContain(`${sha(readFileSync(inBundle))}  files/userspace-cni-v1.3-userspace`);
    const fresh = join(work, 'cache4');
    const got = await gatherArtefacts(lock, '1.31', { cacheDir: fresh, bundleDir: bundle });
    expect(got.files.find((f) => f.install === '/opt/cni/bin/userspace')?.path).toBe(inBundle);
    expect(existsSync(join(fresh, 'builds'))).toBe(false);
    expect((await preflight(lock, '1.31', { cacheDir: fresh, bundleDir: bundle })).missing).toEqual([]);
    // A bundle without it is caught before anything boots.
    rmSync(inBundle);
    expect((await preflight(lock, '1.31', { cacheDir: fresh, bundleDir: bundle })).missing).toEqual([`userspace-cni-v1.3-userspace: not in the bundle ${bundle}`]);
  }, 180_000);

  it('the lock refuses a build whose inputs are not among the add-on\'s files', () => {
    const file = lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar');
    writeFileSync(file, readFileSync(file, 'utf8').replace('toolchain: go1.19.linux-amd64.tar', 'toolchain: go1.99.tar.gz'));
    expect(() => loadLock(file)).toThrow(/addons\.userspace-cni\.build\.toolchain: "go1\.99\.tar\.gz" must name one of this add-on's files/);
  });
});
