import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeSSH } from 'node-ssh';
import type { ClusterOptions } from '../../src/core/config.js';
import type { ClusterRecord, NodeRecord } from '../../src/core/cluster.js';
import { DpdkciError, InterruptedError } from '../../src/core/errors.js';
import { clusterPaths, nodePaths } from '../../src/core/paths.js';
import type { ProgressStep } from '../../src/core/progress.js';
import { createLocalRunner } from '../../src/exec/local-runner.js';
import { connectSsh, remoteCommand } from '../../src/exec/ssh-runner.js';
import { gatherArtefacts, type ArtefactSources, type LocalArtefacts } from '../../src/kubernetes/artefacts.js';
import type { Lock } from '../../src/versions/lock.js';
import { bootKernel, type ImageInfo } from '../../src/image/provision.js';
import {
  cachedKubernetesImage,
  checkInstallReport,
  installArgv,
  kubernetesImageDir,
  layerHash,
  layerInput,
  stageArtefacts,
  type KubernetesImageInfo,
  type LayerInput,
} from '../../src/image/kubernetes-layer.js';
import { allocatePorts } from './ports.js';
import { macAddress } from './qemu-args.js';
import type { Accelerator } from '../../src/core/accelerator.js';
import { deleteCluster, nodeHostKey, overlayArgv, nodeProcesses, prepareClusterKeys, sshTarget, startNode, stopNode, waitForSsh } from './provider.js';
import type { Places } from '../../src/core/places.js';

/**
 * Building the Kubernetes layer (src/image/kubernetes-layer.ts says what it holds) with QEMU: the base image
 * booted once as a build VM of its own, the verified artefacts copied in and installed, then powered off
 * cleanly so that its disk becomes the layer.
 */

export interface LayerBuildOptions {
  cacheRoot: string;
  accel: Accelerator;
  places: Places;
  progress?: ProgressStep;
  signal?: AbortSignal;
  bootTimeoutMs?: number;
}

/** A one-node throwaway cluster of its own, kept inside the build directory: it never meets the user's clusters. */
function buildVm(base: ImageInfo, prefix: string, sshPort: number, hostKey: string, accel: Accelerator): { record: ClusterRecord; node: NodeRecord } {
  const options: ClusterOptions = {
    prefix,
    nodes: 1,
    memoryMiB: 2048,
    cpus: 2,
    hugepages2m: 0,
    hugepages1g: 0,
    secondaryNics: 0,
    extraNics: 0,
    provider: 'qemu',
    inventory: '',
    kernelArgs: [],
    qemuArgs: [],
    accel,
    dpdk: false,
    vfioNoiommu: false,
    vhostSocketDir: '/var/lib/vhost_sockets',
    randomPorts: true,
    registry: false,
    kubernetes: 'none',
  };
  const node: NodeRecord = { name: 'node01', index: 1, role: 'control-plane', sshPort, mgmtMac: macAddress(0, 0, 0x10), secondaryMacs: [], hostKey };
  const record: ClusterRecord = {
    prefix,
    provider: 'qemu',
    options,
    accel,
    accelReason: 'image build',
    image: { hash: base.hash, disk: base.disk, kernel: bootKernel(base), initrd: base.initrd, kernelRelease: base.kernelRelease },
    createdAt: new Date().toISOString(),
    nodes: [node],
  };
  return { record, node };
}

/** Builds the layer into the cache; the directory appears atomically, and nothing of the build VM is left. */
export async function buildKubernetesImage(base: ImageInfo, input: LayerInput, artefacts: LocalArtefacts, options: LayerBuildOptions): Promise<KubernetesImageInfo> {
  const hash = layerHash(base, input);
  const dir = kubernetesImageDir(options.cacheRoot, base, input.minor, hash);
  const tmp = `${dir}.building-${process.pid}`;
  const began = performance.now();
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  // The build VM's state lives in a directory of its own (short: QEMU's socket paths are limited to 108
  // bytes), under a prefix no user cluster has. Its disk is created in the build directory and linked in.
  const stateDir = mkdtempSync(join(tmpdir(), 'dpdkci-imagebuild-'));
  const places: Places = { ...options.places, stateRoot: stateDir };
  const prefix = `imagebuild-${hash.slice(0, 8)}`;
  const paths = clusterPaths(prefix, places);
  const host = createLocalRunner();
  let ssh: NodeSSH | undefined;
  try {
    options.progress?.update('booting the build VM');
    await prepareClusterKeys(host, paths, prefix);
    const [port] = await allocatePorts(1, 33_000 + Math.floor(Math.random() * 2_000), new Set());
    const { record, node } = buildVm(base, prefix, port as number, await nodeHostKey(host, paths, 'node01', prefix), options.accel);
    await host.run(overlayArgv(base.disk, join(tmp, 'disk.qcow2')));
    symlinkSync(join(tmp, 'disk.qcow2'), nodePaths(paths, 'node01').disk);
    await startNode(host, record, node, places);
    await waitForSsh(record, node, {
      timeoutMs: options.bootTimeoutMs ?? 600_000,
      places,
      ...(options.signal ? { signal: options.signal } : {}),
      onReset: (m) => options.progress?.update(m),
    });
    ssh = await connectSsh(sshTarget(record, node, places));
    const run = async (argv: string[]) => {
      const r = await ssh!.execCommand(remoteCommand(argv));
      if (r.code !== 0) throw new DpdkciError(`build VM: ${argv.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
      return r.stdout;
    };
    await stageArtefacts(artefacts, {
      run,
      put: (local, remote) => ssh!.putFile(local, remote),
      write: async (text, remote) => {
        writeFileSync(join(tmp, 'staged.list'), text);
        await ssh!.putFile(join(tmp, 'staged.list'), remote);
      },
      ...(options.progress ? { progress: options.progress } : {}),
    });
    if (options.signal?.aborted) throw new InterruptedError('image build interrupted');
    const result = await ssh.execCommand(remoteCommand(installArgv(input.pause)), {
      onStdout: (chunk) => {
        for (const m of chunk.toString().matchAll(/^@@ step (\S+)/gm)) options.progress?.update(`install-kubernetes: ${m[1]}`);
      },
    });
    if (result.code !== 0) {
      throw new DpdkciError(`building the Kubernetes layer failed: install-kubernetes.sh exited ${result.code}:\n${(result.stderr || result.stdout).trim().split('\n').slice(-20).join('\n')}`);
    }
    const kubernetes = checkInstallReport(result.stdout, input);
    ssh.dispose();
    ssh = undefined;
    options.progress?.update('powering the build VM off');
    const pid = nodeProcesses(prefix).get('node01');
    if (!pid) throw new DpdkciError('the build VM exited before it was powered off');
    const np = nodePaths(paths, 'node01');
    if ((await stopNode(pid, np.qmp, true, 120_000)) !== 'powered-off') {
      throw new DpdkciError('the build VM did not power off within 120 s; its disk may not be consistent, so it was not kept');
    }
    const info: KubernetesImageInfo = {
      name: `${base.name}-k8s`,
      hash,
      dir,
      disk: join(dir, 'disk.qcow2'),
      kernel: base.kernel,
      ...(base.pvhKernel ? { pvhKernel: base.pvhKernel } : {}),
      ...(base.bootNote ? { bootNote: base.bootNote } : {}),
      initrd: base.initrd,
      kernelRelease: base.kernelRelease,
      suite: base.suite,
      mirror: base.mirror,
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((performance.now() - began) / 100) / 10,
      base: { hash: base.hash, builtAt: base.builtAt },
      kubernetes,
    };
    writeFileSync(join(tmp, 'image.json'), JSON.stringify(info, null, 2) + '\n');
    rmSync(join(tmp, 'staged.list'), { force: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return info;
  } catch (e) {
    if (options.signal?.aborted && !(e instanceof InterruptedError)) throw new InterruptedError('image build interrupted');
    throw e;
  } finally {
    ssh?.dispose();
    await deleteCluster(prefix, { graceful: false, places });
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The Kubernetes node image for this version: from the cache, else built (artefacts gathered from the
 * sources, verified, and installed by the build VM). `built` says which.
 */
export async function ensureKubernetesImage(
  base: ImageInfo,
  lock: Lock,
  minor: string,
  sources: ArtefactSources,
  options: LayerBuildOptions,
): Promise<{ image: KubernetesImageInfo; built: boolean }> {
  const input = layerInput(lock, minor);
  const cached = cachedKubernetesImage(options.cacheRoot, base, input);
  if (cached) return { image: cached, built: false };
  options.progress?.update('gathering the pinned artefacts');
  const artefacts = await gatherArtefacts(lock, minor, { ...sources, onProgress: (what) => options.progress?.update(`artefact ${what}`) });
  return { image: await buildKubernetesImage(base, input, artefacts, options), built: true };
}
