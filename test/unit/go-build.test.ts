import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBundle } from '../../src/bundle/bundle.js';
import { PROJECT_ROOT } from '../../src/core/paths.js';
import { gatherArtefacts } from '../../src/kubernetes/artefacts.js';
import { builtPath } from '../../src/kubernetes/go-build.js';
import { clusterArtefacts, loadLock } from '../../src/versions/lock.js';
import { preflight } from '../../src/versions/preflight.js';
import { cniPluginMain, goToolchainArchive, pluginSourceArchive } from '../fixtures/go.js';
import { writeLock } from '../fixtures/lock.js';

/**
 * The userspace CNI plugin is built on the host from a pinned source archive with a pinned Go toolchain.
 * Neither can be downloaded here, so this test pins the stand-ins of test/fixtures/go.ts, served by a local
 * HTTP server. The build itself is real: the unpacked toolchain compiles the unpacked source, which (like the
 * real v24.02 tree) builds only with the project's cnivpp stub overlaid on its VPP engine.
 */
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const work = mkdtempSync(join(tmpdir(), 'dpdkci-go-build-'));
const served = new Map<string, Buffer>();
let server: Server;
let mirror: string;

/** The project's stub for the VPP engine, and the overlay the project's lock gives the plugin's build. */
const STUB = 'images/kubernetes/userspace-cni/cnivpp-stub.go';
const OVERLAY = { 'cnivpp/cnivpp.go': STUB, 'cnivpp/localdb.go': '', 'cnivpp/cnivpp_test.go': '' };

/** A lock pinning these two served files, in a new directory that stands in for the checkout: it holds a copy of the project's stub. */
function lockWith(source: string, toolchain: string, overlay: Record<string, string> | null = OVERLAY): string {
  const dir = mkdtempSync(join(work, 'lock-'));
  cpSync(join(PROJECT_ROOT, STUB), join(dir, STUB));
  const entry = (name: string) => ({ name, url: `https://dl.dpdkci.test/${name}`, sha256: sha(served.get(`/dl.dpdkci.test/${name}`) as Buffer) });
  const build = { source, toolchain, package: './userspace', binary: 'userspace', install: '/opt/cni/bin/userspace', ...(overlay ? { overlay } : {}) };
  return writeLock({ files: [], images: [], addons: { 'userspace-cni': { version: 'v1.3', files: [entry(source), entry(toolchain)], images: [], build } } }, join(dir, 'versions.lock.yaml'));
}

/** The lock, with its directory standing in for the checkout: overlay files are found there. */
const load = (file: string) => loadLock(file, dirname(file));

/** The built plugin run as the runtime runs it: CNI_COMMAND in the environment, the network on stdin. */
const cni = (plugin: string, command: string, net: object) =>
  execa(plugin, [], { env: { CNI_COMMAND: command, CNI_CONTAINERID: 'c0ffee', CNI_IFNAME: 'net1' }, extendEnv: false, input: JSON.stringify(net), reject: false });

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
    const lock = load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar'));
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

  it('the built plugin serves engine ovs-dpdk and refuses vpp with the stub\'s error', async () => {
    expect((await cni(built, 'ADD', { host: { engine: 'ovs-dpdk' } })).stdout).toBe('{"cniVersion":"1.0.0"}');
    for (const [command, net] of [['ADD', { host: { engine: 'vpp' } }], ['ADD', { host: { engine: 'ovs-dpdk' }, container: { engine: 'vpp' } }], ['DEL', { host: { engine: 'vpp' } }]] as const) {
      const r = await cni(built, command, net);
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout).msg).toBe('the VPP engine is not built into this plugin (dpdkci builds it OVS-only): use engine "ovs-dpdk"');
    }
  });

  it('without the overlay the source fails as upstream\'s does: cnivpp/bin_api is generated, in no tagged tree', async () => {
    const lock = load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', null));
    const err = await gatherArtefacts(lock, '1.31', { cacheDir, mirror }).catch((e: Error) => e);
    expect(String(err)).toMatch(/building userspace-cni-v1\.3-userspace failed: go build \.\/userspace/);
    expect(String(err)).toMatch(/cannot find package "\." in:\s+\S+\/cnivpp\/bin_api\/(interface_types|memif)/);
  }, 180_000);

  it('a second gather takes the cached build; a build elsewhere makes the same bytes', async () => {
    const lock = load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar'));
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
    const lock = load(lockWith('broken-v1.3.tar.gz', 'go1.19.linux-amd64.tar'));
    const err = await gatherArtefacts(lock, '1.31', { cacheDir, mirror }).catch((e: Error) => e);
    expect(String(err)).toMatch(/building userspace-cni-v1\.3-userspace failed: go build \.\/userspace in broken-v1\.3\.tar\.gz exited \d+:/);
    expect(String(err)).toMatch(/undefined: undefinedName/);
    const key = clusterArtefacts(lock, '1.31').builds[0];
    expect(existsSync(builtPath(cacheDir, key as never))).toBe(false);
    expect(readdirSync(join(cacheDir, 'builds')).filter((d) => d.startsWith('.'))).toEqual([]);
  }, 180_000);

  it('a toolchain archive without go/bin/go is named as such', async () => {
    const lock = load(lockWith('plugin-v1.3.tar.gz', 'notgo.tar.gz'));
    await expect(gatherArtefacts(lock, '1.31', { cacheDir, mirror })).rejects.toThrow(/notgo\.tar\.gz holds no go\/bin\/go/);
  });

  it('a bundle carries the built binary; up --bundle takes it from there without building', async () => {
    const lockFile = lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar');
    const lock = load(lockFile);
    const bundle = join(work, 'bundle');
    const made = await makeBundle(lock, '1.31', bundle, { cacheDir, mirror, env: process.env });
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
    expect(() => load(file)).toThrow(/addons\.userspace-cni\.build\.toolchain: "go1\.99\.tar\.gz" must name one of this add-on's files/);
  });

  it('the build key holds the overlay: another stub or another mapping is another build', () => {
    const keyOf = (file: string) => clusterArtefacts(load(file), '1.31').builds[0]?.key;
    const file = lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar');
    const key = keyOf(file);
    const stub = join(file, '..', STUB);
    // By default replacements come from the checkout, wherever the lock is (a lab's copy, a test's).
    const fromCheckout = clusterArtefacts(loadLock(file), '1.31').builds[0];
    expect(fromCheckout?.overlay[0]?.replacement?.file).toBe(join(PROJECT_ROOT, STUB));
    expect(fromCheckout?.key).toBe(key);
    expect(clusterArtefacts(load(file), '1.31').builds[0]?.overlay).toEqual([
      { path: 'cnivpp/cnivpp.go', replacement: { file: stub, sha256: sha(readFileSync(stub)) } },
      { path: 'cnivpp/cnivpp_test.go', replacement: null },
      { path: 'cnivpp/localdb.go', replacement: null },
    ]);
    writeFileSync(stub, `${readFileSync(stub, 'utf8')}\n// changed\n`);
    const keys = [key, keyOf(file), keyOf(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { ...OVERLAY, 'cnivpp/cnivpp_test.go': STUB })), keyOf(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', null))];
    expect(new Set(keys).size).toBe(4);
    // The lock's order does not matter.
    expect(keyOf(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { 'cnivpp/localdb.go': '', 'cnivpp/cnivpp_test.go': '', 'cnivpp/cnivpp.go': STUB }))).toBe(key);
  });

  it('the lock refuses an overlay that leaves the source tree or names a file we do not have', () => {
    const at = 'addons\\.userspace-cni\\.build\\.overlay';
    expect(() => load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { '../go.mod': '' }))).toThrow(new RegExp(`${at}\\."\\.\\./go\\.mod": must be a path inside the source tree`));
    expect(() => load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { '/etc/passwd': '' }))).toThrow(/must be a path inside the source tree/);
    expect(() => load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { 'cnivpp/cnivpp.go': '/etc/hostname' }))).toThrow(/"\/etc\/hostname" must be a file relative to .* \(no "\.\."\) or ""/);
    expect(() => load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { 'cnivpp/cnivpp.go': '../stub.go' }))).toThrow(/must be a file relative to/);
    expect(() => load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { 'cnivpp/cnivpp.go': 'images/none.go' }))).toThrow(/overlay\."cnivpp\/cnivpp\.go": \S+\/images\/none\.go does not exist \(a replacement is relative to the dpdkci checkout\)/);
  });

  it('a stub changed after the lock was read, or an overlaid path the source lacks, stops the build', async () => {
    const file = lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar');
    const stub = join(file, '..', STUB);
    // A stub of its own, so the cache above holds no build of this key.
    writeFileSync(stub, `${readFileSync(stub, 'utf8')}// read\n`);
    const lock = load(file);
    writeFileSync(stub, 'package cnivpp\n');
    await expect(gatherArtefacts(lock, '1.31', { cacheDir, mirror })).rejects.toThrow(/cnivpp-stub\.go changed since the lock was read/);
    const renamed = load(lockWith('plugin-v1.3.tar.gz', 'go1.19.linux-amd64.tar', { ...OVERLAY, 'cnivpp/vpp.go': '' }));
    await expect(gatherArtefacts(renamed, '1.31', { cacheDir, mirror })).rejects.toThrow(/the overlay replaces cnivpp\/vpp\.go, which plugin-v1\.3\.tar\.gz does not have/);
  }, 60_000);
});
