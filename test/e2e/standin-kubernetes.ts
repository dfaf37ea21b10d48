import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { makeBundle } from '../../src/bundle/bundle.js';
import { readOciArchive } from '../../src/sync/oci.js';
import { pushImage } from '../../src/sync/registry-push.js';
import { loadLock } from '../../src/versions/lock.js';
import { writeLock } from '../fixtures/lock.js';
import { cniPluginMain, goToolchainArchive, pluginSourceArchive } from '../fixtures/go.js';
import { helloElf, helloImageArchive } from '../fixtures/oci.js';
import { cniPluginsArchive, containerdArchive, runcBinary } from '../fixtures/container-runtime.js';
import { startRegistry } from './helpers.js';

/**
 * A synthetic Kubernetes 1.31 for the e2e tests, since the real artefacts cannot be downloaded here: a lock
 * pinning stand-ins (static binaries that print their name, a crictl tarball, two container images, a
 * userspace CNI source and Go of their own), served by a local file server and Debian's docker-registry
 * while `dpdkci bundle` makes a bundle of them. containerd is a real containerd 2 (Debian's 2.1, as the
 * release archive lays it out; test/fixtures/container-runtime.ts), runc Debian's.
 */
export const STANDIN_PAUSE = 'registry.dpdkci.test/test/pause:3.10';
export const STANDIN_EXTRA = 'registry.dpdkci.test/test/hello:1';
export const STANDIN_MINOR = '1.31';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The overlay the project's lock gives the userspace CNI's build (OVS-only), as the lock writes it. */
const USERSPACE_OVERLAY = (parse(readFileSync(join(__dirname, '..', '..', 'versions.lock.yaml'), 'utf8')) as { addons: Record<string, { build?: { overlay?: Record<string, string> } }> }).addons['userspace-cni']?.build?.overlay;

/** Writes the lock to `lockFile` and the bundle to `bundle`, both under `work`; the servers are stopped again. */
export async function standInBundle(work: string, bundle: string, lockFile: string): Promise<void> {
  const registry = await startRegistry();
  const served = new Map<string, Buffer>();
  const files = createServer((req, res) => {
    const body = served.get(req.url ?? '');
    if (body) res.writeHead(200).end(body);
    else res.writeHead(404).end();
  });
  try {
    for (const name of ['kubeadm', 'kubelet', 'kubectl']) served.set(`/dl.dpdkci.test/${name}`, helloElf(`${name} v1.31.4 (dpdkci test stand-in)\n`));
    served.set('/dl.dpdkci.test/containerd.tar.gz', (await containerdArchive(work)).bytes);
    served.set('/dl.dpdkci.test/runc', await runcBinary());
    served.set('/dl.dpdkci.test/cni.tgz', await cniPluginsArchive(work, helloElf('a CNI plugin (dpdkci test stand-in)\n')));
    const crictlDir = join(work, 'crictl');
    mkdirSync(crictlDir);
    writeFileSync(join(crictlDir, 'crictl'), helloElf('crictl (dpdkci test stand-in)\n'));
    chmodSync(join(crictlDir, 'crictl'), 0o755);
    await execa('tar', ['-czf', join(work, 'crictl.tar.gz'), '-C', crictlDir, 'crictl']);
    served.set('/dl.dpdkci.test/crictl.tar.gz', readFileSync(join(work, 'crictl.tar.gz')));
    // The userspace CNI plugin: built by dpdkci from a stand-in source with a stand-in Go (test/fixtures/go.ts).
    served.set('/dl.dpdkci.test/go.tar', await goToolchainArchive(work));
    served.set('/dl.dpdkci.test/userspace-cni.tar.gz', await pluginSourceArchive(work, cniPluginMain('userspace (dpdkci test stand-in)')));
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    const mirror = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;

    const digests: Record<string, string> = {};
    for (const ref of [STANDIN_PAUSE, STANDIN_EXTRA]) {
      const archive = await helloImageArchive(ref, `${ref}\n`);
      await pushImage(await readOciArchive(archive.file), `127.0.0.1:${registry.port}`, 'stand-in image');
      digests[ref] = archive.digest;
    }
    const file = (name: string, install: string) => ({ name: `${name}-test`, url: `https://dl.dpdkci.test/${name}`, sha256: sha(served.get(`/dl.dpdkci.test/${name}`) as Buffer), install });
    writeLock(
      {
        files: [file('kubeadm', '/usr/local/bin/kubeadm'), file('kubelet', '/usr/local/bin/kubelet'), file('kubectl', '/usr/local/bin/kubectl'), file('crictl.tar.gz', '/usr/local/bin/crictl')],
        images: [STANDIN_PAUSE, STANDIN_EXTRA].map((ref) => ({ ref, digest: digests[ref] as string })),
        addons: {
          'container-runtime': {
            version: 'containerd-2-test',
            files: [file('containerd.tar.gz', '/usr/local/'), file('runc', '/usr/local/sbin/runc'), file('cni.tgz', '/opt/cni/bin/')],
            images: [],
          },
          'userspace-cni': {
            version: 'v1.3',
            files: [file('go.tar', ''), file('userspace-cni.tar.gz', '')].map(({ install: _, ...f }) => f),
            images: [],
            // The stand-in tree has the real one's VPP imports: the build needs the project lock's overlay.
            build: { source: 'userspace-cni.tar.gz-test', toolchain: 'go.tar-test', package: './userspace', binary: 'userspace', install: '/opt/cni/bin/userspace', overlay: USERSPACE_OVERLAY },
          },
        },
      },
      lockFile,
    );
    await makeBundle(loadLock(lockFile), STANDIN_MINOR, bundle, { cacheDir: join(work, 'cache'), mirror, endpoint: () => registry.base, env: process.env });
  } finally {
    files.close();
    await registry.stop();
  }
}
