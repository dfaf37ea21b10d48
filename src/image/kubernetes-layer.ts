import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DpdkciError } from '../core/errors.js';
import { PROJECT_ROOT } from '../core/paths.js';
import type { ProgressStep } from '../core/progress.js';
import { pinnedArtefacts, type LocalArtefacts } from '../kubernetes/artefacts.js';
import { kubernetesVersion, pauseImage, type Lock } from '../versions/lock.js';
import type { ImageInfo } from './provision.js';
import { walk } from './recipe.js';

/**
 * The Kubernetes layer of the node image: a qcow2 over the base image's disk holding kubeadm, kubelet,
 * kubectl and crictl, containerd configured for the kubelet, and every pinned container image imported, so
 * that `up` needs no network. It is built by booting the base image once (the build VM,
 * providers/qemu/layer-build.ts), copying
 * the verified artefacts in and running scripts/image-layer/install-kubernetes.sh, then powering off cleanly.
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

/** The layer's inputs for a Kubernetes version of the lock (every entry must be pinned). */
export function layerInput(lock: Lock, minor: string): LayerInput {
  const version = kubernetesVersion(lock, minor);
  const wanted = pinnedArtefacts(lock, minor);
  // A built binary enters the layer's hash by its build key: the checksums of what it is built from.
  const built = wanted.builds.map((b) => ({ name: b.name, sha256: `build-${b.key}`, install: b.install }));
  return { minor, release: version.release, pause: pauseImage(version).ref, files: [...wanted.files, ...built], images: wanted.images };
}
