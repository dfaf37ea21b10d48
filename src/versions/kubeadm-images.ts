import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { DpdkciError } from '../core/errors.js';
import { fetchArtifact, type FetchOptions } from '../fetch/fetcher.js';
import type { KubernetesVersion } from './lock.js';

/** The images whose tags kubeadm decides (constants per release), not the lock. */
const KUBEADM_DECIDES = ['etcd', 'coredns', 'pause'];

const repository = (ref: string) => ref.slice(0, ref.lastIndexOf(':'));
const lastPart = (ref: string) => repository(ref).slice(repository(ref).lastIndexOf('/') + 1);

/**
 * What differs between the lock's etcd/CoreDNS/pause references and the ones kubeadm prints (one per
 * line), each naming both. Only tags are compared: digests are the lock's.
 */
export function kubeadmImageMismatches(release: string, lockRefs: string[], printed: string[]): string[] {
  const problems: string[] = [];
  for (const ref of lockRefs.filter((r) => KUBEADM_DECIDES.includes(lastPart(r)))) {
    const theirs = printed.find((p) => repository(p) === repository(ref));
    if (!theirs) problems.push(`the lock pins ${ref}, but kubeadm ${release} names no ${repository(ref)} image (it printed: ${printed.join(', ') || 'nothing'})`);
    else if (theirs !== ref) problems.push(`the lock pins ${ref}, but kubeadm ${release} uses ${theirs}`);
  }
  return problems;
}

/**
 * Runs the lock's own kubeadm (fetched and checked by its sha256 like every file) on this machine:
 * `kubeadm config images list --kubernetes-version vX.Y.Z`, which prints one image per line
 * (kubernetes/kubernetes@01b1174c114c12dca776be043b67fc340af128bb:cmd/kubeadm/app/cmd/config.go,
 * newCmdConfigImagesList, AddImagesCommonConfigFlags, imageTextPrinter). Refuses a lock whose tags differ.
 */
export async function checkKubeadmImages(version: KubernetesVersion, fetch: FetchOptions): Promise<void> {
  const file = version.files.find((f) => /^kubeadm\b/.test(f.name));
  if (!file?.sha256) throw new DpdkciError(`Kubernetes ${version.release}: the lock pins no kubeadm file with a sha256, which the image check runs`);
  const path = await fetchArtifact({ name: file.name, url: file.url, sha256: file.sha256 }, fetch);
  const dir = mkdtempSync(join(tmpdir(), 'dpdkci-kubeadm-'));
  try {
    // A copy, made executable: the cache keeps files as downloaded.
    const exe = join(dir, 'kubeadm');
    copyFileSync(path, exe);
    chmodSync(exe, 0o755);
    const r = await execa(exe, ['config', 'images', 'list', '--kubernetes-version', version.release], { reject: false, timeout: 60_000 });
    if (r.exitCode !== 0) throw new DpdkciError(`${file.name} config images list --kubernetes-version ${version.release} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
    const printed = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    const problems = kubeadmImageMismatches(version.release, version.images.map((m) => m.ref), printed);
    if (problems.length) {
      throw new DpdkciError(`the lock's images for Kubernetes ${version.release} are not the ones its kubeadm uses; nothing was recorded as checked:\n${problems.map((p) => `  ${p}`).join('\n')}\nfix the tags in the lock (and their digests), then resolve again`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
