import type { Provider } from '../../src/provider/provider.js';
import { deleteCluster, listNodes, sshClientOptions, switchRunning } from './provider.js';
import { findStaleClusters } from './stale.js';

/** The QEMU provider behind the Provider seam: nodes are QEMU processes, reached on 127.0.0.1. */
export const qemuProvider: Provider = {
  name: 'qemu',
  listNodes,
  sshClient: (record, node, env) => ({ destination: 'root@127.0.0.1', port: node.sshPort, options: sshClientOptions(record, node, env) }),
  secondaryNetworkRunning: (record, env) => switchRunning(record, env),
  deleteCluster,
  findStale: (env) => findStaleClusters(env),
};
