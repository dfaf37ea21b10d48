import type { Provider } from '../../src/provider/provider.js';
import { deleteCluster, listNodes, sshClientOptions, sshTarget, switchRunning } from './provider.js';
import { qemuHostSideLogs } from './logs.js';
import { findStaleClusters, listQemuClusters } from './stale.js';
import { autoSaveName, saveSnapshot } from './snapshot-save.js';
import { snapshotBytes } from '../../src/snapshot/store.js';
import { secondaryNicPci } from './qemu-args.js';
import { qemuKubernetesNetwork } from './node-network.js';
import { qemuRegistry } from './registry.js';
import { urlAsGuestSees } from './guest-address.js';

/** The QEMU provider behind the Provider seam: nodes are QEMU processes, reached on 127.0.0.1. */
export const qemuProvider: Provider = {
  name: 'qemu',
  listNodes: async (record) => listNodes(record),
  endpoint: (_record, node) => ({ user: 'root', host: '127.0.0.1', port: node.sshPort }),
  sshTarget,
  sshClient: (record, node, places) => ({ destination: 'root@127.0.0.1', port: node.sshPort, options: sshClientOptions(record, node, places) }),
  // dpdkci's own NICs come first on the secondary network: DPDK's, then the Kubernetes node network's.
  nics: (options) => ({ dpdk: secondaryNicPci(0), nodeNetwork: secondaryNicPci(options.dpdk ? 1 : 0) }),
  kubernetesNetwork: qemuKubernetesNetwork,
  secondaryNetwork: (record, places) => ({ kind: 'vde-switch', running: switchRunning(record, places) }),
  registry: qemuRegistry,
  registryMirrorUrl: urlAsGuestSees,
  summary: (record) => `provider qemu, accelerator ${record.accel}, image ${record.image.hash} (kernel ${record.image.kernelRelease})`,
  kubeletCpus: (_record, options) => ({ cpus: options.cpus, perNode: false }),
  hostSideLogs: qemuHostSideLogs,
  deleteCluster,
  listClusters: listQemuClusters,
  findStale: (places) => findStaleClusters(places),
  snapshot: {
    autoName: autoSaveName,
    async save(record, name, ctx) {
      const manifest = await saveSnapshot(record, name, ctx);
      return { bytes: snapshotBytes(manifest), seconds: manifest.saveSeconds };
    },
  },
};
