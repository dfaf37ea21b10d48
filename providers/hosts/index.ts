import { connect } from 'node:net';
import { clusterPaths } from '../../src/core/paths.js';
import type { Provider } from '../../src/provider/provider.js';
import { hostKeyAlias, hostOf, hostSshTarget } from './access.js';
import { deleteHostsCluster } from './delete.js';
import { hostOffers } from './offers.js';
import { hostsKubernetesNetwork } from './kubernetes.js';
import { clustersOf } from '../../src/provider/clusters.js';

/**
 * The hosts provider: machines dpdkci did not boot, from an inventory (providers/hosts/inventory.ts), reached
 * over SSH with the inventory's key and pinned host keys. Nothing runs on this machine for them.
 */

/** Whether a TCP port answers within the time: a host is "running" when its SSH port does. */
export function portAnswers(host: string, port: number, timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const hostsProvider: Provider = {
  name: 'hosts',
  // A lab's machines pull from registries of the lab's own; dpdkci runs none for them.
  registry: () => undefined,
  summary: (record) => `provider hosts (machines from ${record.options.inventory})`,
  // The control plane's CPUs for the cluster-wide value; each host's own comes in its kubeadm patch.
  kubeletCpus: (record) => ({ cpus: record.nodes[0]?.host?.cpus ?? 2, perNode: true }),
  async listNodes(record) {
    return Promise.all(
      record.nodes.map(async (n) => {
        const h = hostOf(n);
        return { name: n.name, role: n.role, state: (await portAnswers(h.address, n.sshPort)) ? 'running' : 'down', pid: null, sshPort: n.sshPort, address: `${h.user}@${h.address}:${n.sshPort}` } as const;
      }),
    );
  },
  endpoint: (_record, node) => ({ user: hostOf(node).user, host: hostOf(node).address, port: node.sshPort }),
  sshTarget: (record, node) => hostSshTarget(record, node),
  sshClient(record, node, places) {
    const h = hostOf(node);
    const paths = clusterPaths(record.prefix, places);
    return {
      destination: `${h.user}@${h.address}`,
      port: node.sshPort,
      options: [
        '-i', h.keyFile,
        '-o', 'IdentitiesOnly=yes',
        '-o', `UserKnownHostsFile=${paths.knownHosts}`,
        '-o', 'GlobalKnownHostsFile=/dev/null',
        '-o', 'StrictHostKeyChecking=yes',
        '-o', `HostKeyAlias=${hostKeyAlias(record.prefix, node.name)}`,
        '-o', 'LogLevel=ERROR',
      ],
    };
  },
  // The inventory's NIC, once `check hosts` resolved it; the node network is the lab's, on the host's own NICs.
  nics: (_options, node) => ({ dpdk: node?.host?.pci ?? '', nodeNetwork: '' }),
  kubernetesNetwork: hostsKubernetesNetwork,
  // A host reaches a mirror by the name the user gave: its loopback is its own.
  registryMirrorUrl: (url) => url,
  // The lab's own network joins the NICs; dpdkci sees it only through the traffic check.
  secondaryNetwork: () => ({ kind: 'hosts-network', running: null }),
  hostSideLogs: async () => ({ files: [] }),
  offers: hostOffers,
  deleteCluster: deleteHostsCluster,
  listClusters: (places) => clustersOf('hosts', places).map((d) => d.prefix),
  // A hosts cluster holds no process here and its machines run on: it is never stale, only removed by
  // `down --prefix` (an undo on every machine). No snapshot either: there is no VM state to save.
  findStale: () => [],
};
