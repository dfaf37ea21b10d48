import type { ClusterRecord } from '../../src/core/cluster.js';
import type { KubernetesNetwork } from '../../src/provider/provider.js';

/**
 * The Kubernetes node network of QEMU nodes: a /24 that dpdkci itself puts on each node's kernel-owned
 * secondary NIC, and the API server forwarded to this machine's 127.0.0.1.
 */
export const QEMU_NODE_NETWORK = '192.168.66.0/24';

/** A node's address on it: 192.168.66.101 for node01. */
export function qemuNodeIp(index: number): string {
  return `192.168.66.${100 + index}`;
}

export function qemuKubernetesNetwork(record: ClusterRecord): KubernetesNetwork {
  const port = record.nodes[0]?.apiPort;
  return {
    nodeIps: Object.fromEntries(record.nodes.map((n) => [n.name, qemuNodeIp(n.index)])),
    cidr: QEMU_NODE_NETWORK,
    ...(port ? { api: { host: '127.0.0.1', port, via: `forwarded to ${record.nodes[0]?.name}:6443` } } : {}),
  };
}
