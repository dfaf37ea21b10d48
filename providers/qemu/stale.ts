import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ownerAlive } from '../../src/core/owner.js';
import { clustersOf } from '../../src/provider/clusters.js';
import { clusterPaths, stateRoot } from '../../src/core/paths.js';
import { findProcesses, liveHolder } from './processes.js';
import { nodeProcesses } from './names.js';
import type { StaleCluster } from '../../src/provider/provider.js';
import type { Places } from '../../src/core/places.js';

export type { StaleCluster } from '../../src/provider/provider.js';

/**
 * QEMU's clusters: records of provider qemu, and directories an up left before it wrote a record (nothing
 * outside this machine was changed by then, so QEMU's delete, which removes the directory, is the right one).
 */
export function listQemuClusters(places: Places): string[] {
  return clustersOf('qemu', places, true).map((d) => d.prefix);
}

/**
 * QEMU clusters of this host that nobody will take down: the process that owned them (the session or
 * DPDKCI_OWNER_PID of their last `up`) is gone, or none of their nodes runs, or a directory was left without
 * a record. Processes left behind by a removed state directory (QEMU, vde_switch) count as stale too. A
 * cluster that an `up` is working on right now never is.
 */
export function findStaleClusters(places: Places): StaleCluster[] {
  const root = join(stateRoot(places), 'clusters');
  const stale = new Map<string, string>();
  // Another provider's cluster holds no QEMU process: it is that provider's to judge, never QEMU's.
  for (const { prefix, record } of clustersOf('qemu', places, true)) {
    const paths = clusterPaths(prefix, places);
    if (liveHolder(paths.lockFile)) continue;
    if (!record) {
      stale.set(prefix, 'its state directory has no cluster record (an up that died before it wrote one)');
      continue;
    }
    if (record.owner && !ownerAlive(record.owner)) {
      stale.set(prefix, `its owner (pid ${record.owner.pid}, ${record.owner.how === 'session' ? 'the session that ran up' : 'DPDKCI_OWNER_PID'}) has exited`);
      continue;
    }
    if (nodeProcesses(prefix).size === 0) stale.set(prefix, 'none of its nodes is running');
  }
  // Processes whose cluster directory is gone: recognised by the state paths in their own argv.
  const ours = `${root}${sep}`;
  for (const p of findProcesses((argv) => /qemu-system|vde_switch$|docker-registry$/.test(argv[0] ?? '') && argv.some((a) => a.startsWith(ours)))) {
    const path = p.argv.find((a) => a.startsWith(ours)) as string;
    const prefix = path.slice(ours.length).split(sep)[0] as string;
    if (!existsSync(join(root, prefix)) && !stale.has(prefix)) stale.set(prefix, `process ${p.pid} (${p.argv[0]}) is left from a removed cluster`);
  }
  return [...stale].map(([prefix, reason]) => ({ prefix, reason })).sort((a, b) => a.prefix.localeCompare(b.prefix));
}
