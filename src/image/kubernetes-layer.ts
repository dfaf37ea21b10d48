import { createLocalRunner } from '../exec/local-runner.js';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { NodeSSH } from 'node-ssh';
import type { ClusterOptions } from '../core/config.js';
import type { ClusterRecord, NodeRecord } from '../core/cluster.js';
import { DpdkciError, InterruptedError } from '../core/errors.js';
import { clusterPaths, nodePaths, PROJECT_ROOT } from '../core/paths.js';
import type { ProgressStep } from '../core/progress.js';
import { connectSsh, remoteCommand } from '../exec/ssh-runner.js';
import { gatherArtefacts, pinnedArtefacts, type ArtefactSources, type LocalArtefacts } from '../kubernetes/artefacts.js';
import { kubernetesVersion, pauseImage, type Lock } from '../versions/lock.js';
import { allocatePorts } from '../../providers/qemu/ports.js';
import { macAddress, type Accelerator } from '../../providers/qemu/qemu-args.js';
import { deleteCluster, nodeHostKey, overlayArgv, nodeProcesses, prepareClusterKeys, sshTarget, startNode, stopNode, waitForSsh } from '../../providers/qemu/provider.js';
import { bootKernel, type ImageInfo } from './provision.js';
import { walk } from './recipe.js';

/**
 * The Kubernetes layer of the node image: a qcow2 over the base image's disk holding kubeadm, kubelet,
 * kubectl and crictl, containerd configured for the kubelet, and every pinned container image imported, so
 * that `up` needs no network. It is built by booting the base image once (the build VM), copying the
 * verified artefacts in and running scripts/node/install-kubernetes.sh, then powering off cleanly.
 */
export const KUBERNETES_RECIPE_DIR = join(PROJECT_ROOT, 'images', 'kubernetes');
export const INSTALL_SCRIPT = join(PROJECT_ROOT, 'scripts', 'image-layer', 'install-kubernetes.sh');
export const STAGING = '/var/tmp/dpdkci-kubernetes';

export interface KubernetesImageInfo extends ImageInfo {
  base: { hash: string; builtAt: string };
  kubernetes: { minor: string; release: string; installed: string[]; images: string[]; sandbox: string };
}

/** What goes into the layer, as the lock pins it: known before anything is fetched. */
export interface LayerInput {
  minor: string;
  release: string;
  pause: string;
  files: { name: string; sha256: string; install?: string }[];
  images: { ref: string; digest: string }[];
}

/** The layer's cache key: the base image (and its build), every pinned input, the recipe files and the script. */
export function layerHash(base: ImageInfo, input: LayerInput): string {
  return installHash(input, `base=${base.hash}@${base.builtAt}\n`);
}

/** The hash of what an install puts in place (the layer's, or a host's with `for` "host"), 16 hex digits. */
export function installHash(input: LayerInput, onto: string): string {
  const h = createHash('sha256');
  h.update(`${onto}kubernetes=${input.minor} ${input.release}\npause=${input.pause}\n`);
  for (const f of input.files.filter((f) => f.install).sort((a, b) => a.name.localeCompare(b.name))) h.update(`file=${f.name} ${f.sha256} ${f.install}\n`);
  for (const m of [...input.images].sort((a, b) => a.ref.localeCompare(b.ref))) h.update(`image=${m.ref} ${m.digest}\n`);
  for (const file of [...walk(KUBERNETES_RECIPE_DIR), INSTALL_SCRIPT]) {
    h.update(`${relative(PROJECT_ROOT, file)}\0${(statSync(file).mode & 0o777).toString(8)}\0`);
    h.update(readFileSync(file));
  }
  return h.digest('hex').slice(0, 16);
}

export function kubernetesImageDir(cacheRoot: string, base: ImageInfo, minor: string, hash: string): string {
  return join(cacheRoot, 'images', `${base.name}-${base.suite}-k8s${minor}-${hash}`);
}

/** The cached layer, when it exists and still sits on the very base image build it was made over. */
export function cachedKubernetesImage(cacheRoot: string, base: ImageInfo, input: LayerInput): KubernetesImageInfo | undefined {
  return cachedKubernetesImageByHash(cacheRoot, base, input.minor, layerHash(base, input));
}

export function cachedKubernetesImageByHash(cacheRoot: string, base: ImageInfo, minor: string, hash: string): KubernetesImageInfo | undefined {
  const manifest = join(kubernetesImageDir(cacheRoot, base, minor, hash), 'image.json');
  if (!existsSync(manifest)) return undefined;
  const info = JSON.parse(readFileSync(manifest, 'utf8')) as KubernetesImageInfo;
  if (info.base.hash !== base.hash || info.base.builtAt !== base.builtAt) return undefined;
  return [info.disk, info.kernel, info.initrd, ...(info.pvhKernel ? [info.pvhKernel] : [])].every((f) => existsSync(f)) ? info : undefined;
}

/** How files reach the staging directory of a build VM or a host. */
export interface Stager {
  run(argv: string[]): Promise<unknown>;
  /** Copies a local file to the remote path. */
  put(local: string, remote: string): Promise<void>;
  /** Writes text to the remote path. */
  write(text: string, remote: string): Promise<void>;
  progress?: ProgressStep;
}

/**
 * Fills STAGING as install-kubernetes.sh reads it: the files, the image archives with the reference and
 * index digest the lock pins for each (which the node checks and names), the recipe's rootfs and the script.
 */
export async function stageArtefacts(artefacts: LocalArtefacts, to: Stager): Promise<void> {
  await to.run(['mkdir', '-p', `${STAGING}/files`, `${STAGING}/images`, `${STAGING}/rootfs`]);
  for (const f of artefacts.files.filter((f) => f.install)) {
    to.progress?.update(`copying ${f.name}`);
    await to.put(f.path, `${STAGING}/files/${f.name}`);
  }
  for (const [i, m] of artefacts.images.entries()) {
    to.progress?.update(`copying ${m.ref}`);
    await to.put(m.path, `${STAGING}/images/${String(i).padStart(3, '0')}.tar`);
  }
  for (const file of walk(join(KUBERNETES_RECIPE_DIR, 'files'))) {
    const remote = `${STAGING}/rootfs/${relative(join(KUBERNETES_RECIPE_DIR, 'files'), file)}`;
    await to.run(['mkdir', '-p', remote.slice(0, remote.lastIndexOf('/'))]);
    await to.put(file, remote);
  }
  await to.put(INSTALL_SCRIPT, `${STAGING}/install-kubernetes.sh`);
  await to.write(installList(artefacts.files), `${STAGING}/install.list`);
  await to.write(artefacts.images.map((m, i) => `${String(i).padStart(3, '0')}.tar ${m.ref} ${m.digest}\n`).join(''), `${STAGING}/images.list`);
}

/** Where install-kubernetes.sh puts the recipe's rootfs (/etc/...): what a host's record keeps a copy of. */
export function rootfsTargets(): string[] {
  return walk(join(KUBERNETES_RECIPE_DIR, 'files')).map((f) => `/${relative(join(KUBERNETES_RECIPE_DIR, 'files'), f)}`);
}

/** The `install.list` of the staging directory: each installable file and where it goes. */
export function installList(files: LocalArtefacts['files']): string {
  return files.filter((f) => f.install).map((f) => `${f.name} ${f.install}\n`).join('');
}

export interface LayerBuildOptions {
  cacheRoot: string;
  accel: Accelerator;
  env: NodeJS.ProcessEnv;
  progress?: ProgressStep;
  signal?: AbortSignal;
  bootTimeoutMs?: number;
}

/** The install's command on the staging directory: in the build VM, or on a host. */
export function installArgv(pause: string, target: 'image' | 'host' = 'image'): string[] {
  return ['bash', `${STAGING}/install-kubernetes.sh`, STAGING, pause, ...(target === 'host' ? ['host'] : [])];
}

/** What install-kubernetes.sh reported ("@@ installed DEST", "@@ image REF", ...), checked against what was asked. */
export function checkInstallReport(stdout: string, input: LayerInput): KubernetesImageInfo['kubernetes'] {
  const lines = stdout.split('\n');
  const field = (key: string) => lines.filter((l) => l.startsWith(`@@ ${key} `)).map((l) => l.slice(key.length + 4).trim());
  const installed = field('installed');
  const images = field('image');
  const sandbox = field('sandbox')[0] ?? '';
  const problems: string[] = [];
  for (const f of input.files.filter((f) => f.install)) if (!installed.includes(f.install as string)) problems.push(`${f.install} (from ${f.name}) is not installed`);
  for (const m of input.images) if (!images.includes(m.ref)) problems.push(`${m.ref} is not in containerd`);
  if (!field('cgroup').includes('systemd')) problems.push('containerd does not use systemd cgroups');
  if (sandbox !== input.pause) problems.push(`containerd's sandbox image is "${sandbox}", not ${input.pause}`);
  if (problems.length) throw new DpdkciError(`the Kubernetes layer is not what was asked for:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return { minor: input.minor, release: input.release, installed, images, sandbox };
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
  const env = { ...options.env, DPDKCI_STATE_DIR: stateDir };
  const prefix = `imagebuild-${hash.slice(0, 8)}`;
  const paths = clusterPaths(prefix, env);
  const host = createLocalRunner();
  let ssh: NodeSSH | undefined;
  try {
    options.progress?.update('booting the build VM');
    await prepareClusterKeys(host, paths, prefix);
    const [port] = await allocatePorts(1, 33_000 + Math.floor(Math.random() * 2_000), new Set());
    const { record, node } = buildVm(base, prefix, port as number, await nodeHostKey(host, paths, 'node01', prefix), options.accel);
    await host.run(overlayArgv(base.disk, join(tmp, 'disk.qcow2')));
    symlinkSync(join(tmp, 'disk.qcow2'), nodePaths(paths, 'node01').disk);
    await startNode(host, record, node, env);
    await waitForSsh(record, node, {
      timeoutMs: options.bootTimeoutMs ?? 600_000,
      env,
      ...(options.signal ? { signal: options.signal } : {}),
      onReset: (m) => options.progress?.update(m),
    });
    ssh = await connectSsh(sshTarget(record, node, env));
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
    await deleteCluster(prefix, { graceful: false, env });
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The layer's inputs for a Kubernetes version of the lock (every entry must be pinned). */
export function layerInput(lock: Lock, minor: string): LayerInput {
  const version = kubernetesVersion(lock, minor);
  const wanted = pinnedArtefacts(lock, minor);
  // A built binary enters the layer's hash by its build key: the checksums of what it is built from.
  const built = wanted.builds.map((b) => ({ name: b.name, sha256: `build-${b.key}`, install: b.install }));
  return { minor, release: version.release, pause: pauseImage(version).ref, files: [...wanted.files, ...built], images: wanted.images };
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
