import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../../src/core/cluster.js';
import { clusterPaths, nodePaths } from '../../src/core/paths.js';
import type { HostSideLogs } from '../../src/provider/provider.js';
import { nodeProcesses } from './names.js';
import { readArgv } from './processes.js';
import { qemuState } from './wait-ssh.js';
import type { Places } from '../../src/core/places.js';

/**
 * What the host holds of a QEMU node for `dpdkci logs`: the serial console, QEMU's own log and command line,
 * and what waitForSsh left when it reset a node stuck before its kernel or gave up on one.
 */
export async function qemuHostSideLogs(record: ClusterRecord, node: NodeRecord, nodeDir: string, places: Places): Promise<HostSideLogs> {
  const np = nodePaths(clusterPaths(record.prefix, places), node.name);
  const files: string[] = [];
  if (existsSync(np.console)) {
    cpSync(np.console, join(nodeDir, 'console.log'));
    files.push('console.log');
  }
  for (const f of ['qemu.log', 'qemu-state-before-reset.txt', 'qemu-state-at-timeout.txt']) {
    if (!existsSync(join(np.dir, f))) continue;
    cpSync(join(np.dir, f), join(nodeDir, f));
    files.push(f);
  }
  const pid = nodeProcesses(record.prefix).get(node.name);
  if (!pid) return { files, unreachable: 'its QEMU is not running' };
  writeFileSync(join(nodeDir, 'qemu-cmdline.txt'), `${(readArgv(pid) ?? []).join(' ')}\n`);
  files.push('qemu-cmdline.txt');
  return {
    files,
    // A node that runs but does not answer: what its virtual CPUs are doing, seen from QEMU.
    whenSilent: async () => {
      writeFileSync(join(nodeDir, 'qemu-state.txt'), await qemuState(np.qmp));
      return ['qemu-state.txt'];
    },
  };
}
