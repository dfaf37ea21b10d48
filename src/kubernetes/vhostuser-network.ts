import { DpdkciError } from '../core/errors.js';

/**
 * The vhost-user network's addresses, one block per node. Every node's br-dpdk0 is on the one L2 (the
 * shared switch, or the lab's wire), and host-local IPAM only knows its own node's leases, so a single
 * range in the NAD would hand the same address out on every node. Instead the NAD has no spec and each
 * node has its own CNI configuration file, of the same network name, with its own part of the subnet.
 *
 * Thin multus reads such a file: a NAD whose spec is empty makes GetCNIConfig load, from the configuration
 * directory, the first .conf/.json/.conflist file whose JSON "name" is the NAD's name
 * (k8snetworkplumbingwg/multus-cni@00adf22482945de41ff702258593aaf867a48e2d:vendor/github.com/
 * k8snetworkplumbingwg/network-attachment-definition-client/pkg/utils/cniconfig.go, GetCNIConfig and
 * GetCNIConfigFromFile; called from pkg/k8sclient/k8sclient.go getKubernetesDelegate). The directory is
 * the multus NetConf's "confDir" (pkg/types/types.go), default /etc/cni/multus/net.d (pkg/types/conf.go
 * defaultConfDir). The thin DaemonSet does not set it: its entrypoint writes "cniConf", a key the binary
 * does not read (cmd/thin_entrypoint/main.go), so the default holds, on the host, where the binary runs.
 * DEL finds the same delegate: from multus' cache of the ADD, or through the same lookup (pkg/multus/
 * multus.go CmdDel). The userspace CNI takes the delegate's configuration as given on stdin and hands it
 * to the IPAM plugin (intel/userspace-cni-network-plugin@3e14ba36:userspace/cni/cni.go, cmdAdd/cmdDel).
 */
export const MULTUS_CONF_DIR = '/etc/cni/multus/net.d';

export const VHOSTUSER_SUBNET = '10.56.217.0/24';
export const VHOSTUSER_GATEWAY = '10.56.217.1';
/** Addresses per node; 16 blocks from .16 end at .239, so .2-.15 and .240-.254 are never leased. */
export const ADDRESSES_PER_NODE = 14;
const FIRST = 16;
/** As many nodes as the blocks go round: QEMU's --nodes limit, and the most hosts a Kubernetes inventory may list. */
export const VHOSTUSER_MAX_NODES = 16;

const address = (host: number) => `10.56.217.${host}`;

/** Node `index` (1-based, as the cluster record numbers its nodes): its own block of the subnet. */
export function vhostUserRange(index: number): { rangeStart: string; rangeEnd: string } {
  if (!Number.isInteger(index) || index < 1 || index > VHOSTUSER_MAX_NODES) {
    throw new DpdkciError(`internal: node index ${index} has no address block on the vhost-user network (1 to ${VHOSTUSER_MAX_NODES})`);
  }
  const start = FIRST + (index - 1) * ADDRESSES_PER_NODE;
  return { rangeStart: address(start), rangeEnd: address(start + ADDRESSES_PER_NODE - 1) };
}

/** The userspace CNI configuration of the vhost-user network on node `index`: OVS-DPDK on the bridge, OVS as client. */
export function userspaceNetworkConfig(name: string, bridge: string, index: number): Record<string, unknown> {
  return {
    cniVersion: '0.3.1',
    type: 'userspace',
    name,
    kubeconfig: '/etc/cni/net.d/multus.d/multus.kubeconfig',
    logFile: `/var/log/${name}-cni.log`,
    logLevel: 'info',
    host: { engine: 'ovs-dpdk', iftype: 'vhostuser', netType: 'bridge', vhost: { mode: 'client', group: 'hugetlbfs' }, bridge: { bridgeName: bridge } },
    container: { engine: 'ovs-dpdk', iftype: 'vhostuser', netType: 'interface', vhost: { mode: 'server' } },
    ipam: { type: 'host-local', subnet: VHOSTUSER_SUBNET, ...vhostUserRange(index), gateway: VHOSTUSER_GATEWAY, routes: [{ dst: '0.0.0.0/0' }] },
  };
}

/** Where node's file goes: any name with .conf is read; the network's own name says whose it is. */
export function netConfPath(name: string): string {
  return `${MULTUS_CONF_DIR}/${name}.conf`;
}

/** The file's text on node `index`. */
export function netConfText(name: string, bridge: string, index: number): string {
  return `${JSON.stringify(userspaceNetworkConfig(name, bridge, index), null, 2)}\n`;
}
