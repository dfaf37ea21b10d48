import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import type { ClusterOptions } from '../../core/config.js';
import { clusterKubernetes, type ClusterRecord } from '../../core/cluster.js';
import { DpdkciError, UsageError } from '../../core/errors.js';
import type { ClusterPaths } from '../../core/paths.js';
import { liveHolder } from '../../../providers/qemu/processes.js';

const COMPARED: (keyof ClusterOptions)[] = ['kubernetes', 'memoryMiB', 'cpus', 'hugepages2m', 'hugepages1g', 'secondaryNics', 'kernelArgs', 'qemuArgs', 'vhostSocketDir'];

/** An existing cluster can grow by nodes; any other difference needs a `down` first. */
export function checkCompatible(record: ClusterRecord, options: ClusterOptions): void {
  const recorded = { ...record.options, kubernetes: clusterKubernetes(record) };
  for (const key of COMPARED) {
    const was = JSON.stringify(recorded[key]);
    const now = JSON.stringify(options[key]);
    if (key === 'kubernetes' && was === '"none"' && now !== '"none"') throw new UsageError(kubernetesNowLine(record.prefix, String(options.kubernetes)));
    if (was !== now) {
      throw new UsageError(
        `cluster "${record.prefix}" is already up with ${key} ${was}, not ${now}; run \`dpdkci down --prefix ${record.prefix}\` first, or pick another --prefix`,
      );
    }
  }
  if (options.nodes < record.nodes.length) {
    throw new UsageError(
      `--nodes: cluster "${record.prefix}" has ${record.nodes.length} nodes and cannot shrink to ${options.nodes}; run \`dpdkci down --prefix ${record.prefix}\` first`,
    );
  }
}

/** M2: a cluster up without Kubernetes, and Kubernetes that can be had now: what to do, plainly. */
export function kubernetesNowLine(prefix: string, minor: string): string {
  return (
    `cluster "${prefix}" is up without Kubernetes, and Kubernetes ${minor} can be had now; a running cluster does not gain it: ` +
    `run \`dpdkci down --prefix ${prefix}\`, then the same up again to get Kubernetes ${minor} (or keep this cluster: --kubernetes none)`
  );
}

/** One `up` at a time per cluster. A lock left by a process that died is taken over. */
export function takeLock(paths: ClusterPaths): () => void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(paths.lockFile, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(paths.lockFile, { force: true });
    } catch {
      const holder = liveHolder(paths.lockFile);
      if (holder) {
        throw new UsageError(`another dpdkci (pid ${holder}) is working on this cluster; wait for it or stop it`);
      }
      rmSync(paths.lockFile, { force: true });
    }
  }
  throw new DpdkciError(`could not take the lock ${paths.lockFile}`);
}

