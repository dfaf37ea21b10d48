import type { ClusterRecord } from '../../src/core/cluster.js';
import type { KubernetesNetwork } from '../../src/provider/provider.js';
import { budget, EVICTION_HARD_MEMORY_MIB, reservedCpus, SYSTEM_RESERVED_MEMORY_MIB, type Budget } from '../../src/core/kubernetes-budget.js';
import { hostOf } from './access.js';
import type { HostFacts, HostWants } from './facts.js';

/** The API server's port on the control-plane host (kubeadm's bindPort, as dpdkci's init.yaml.hbs sets it). */
export const HOST_API_PORT = 6443;

/**
 * Kubernetes on hosts runs on the lab's own network: each host's nodeIp (the inventory's, or its address),
 * and the API server on the control plane's, reached from this machine directly.
 */
export function hostsKubernetesNetwork(record: ClusterRecord): KubernetesNetwork {
  // `up --kubernetes` refuses an inventory whose hosts lack one (requireNodeIps), so a gap here is a dataplane-only cluster.
  const nodeIps = Object.fromEntries(record.nodes.flatMap((n) => (hostOf(n).nodeIp ? [[n.name, hostOf(n).nodeIp as string]] : [])));
  const cp = record.nodes.find((n) => n.role === 'control-plane');
  const apiHost = cp && record.options.kubernetes !== 'none' ? nodeIps[cp.name] : undefined;
  return { nodeIps, ...(cp && apiHost ? { api: { host: apiHost, port: HOST_API_PORT, via: `${cp.name}'s node IP` } } : {}) };
}

/**
 * The ports the cluster's hosts (and this machine, for the API server) reach each other on: kubeadm's
 * (kubernetes/kubernetes@00b6a4c7:cmd/kubeadm/app/preflight/checks.go FirewalldCheck: the API server's
 * bindPort and the kubelet's), and calico's: BGP (its bird backend; tcp:179 among Felix's failsafe ports) and
 * VXLAN (FelixConfiguration vxlanPort, default 4789), both projectcalico/calico@94bd1d5b (v3.31.7):manifests/calico.yaml;
 * dpdkci's patch keeps bird and sets VXLAN CrossSubnet (manifests/calico/overrides.yaml.hbs).
 */
export const HOST_CLUSTER_PORTS = ['6443/tcp (API server)', '10250/tcp (kubelet)', '179/tcp (calico BGP)', '4789/udp (calico VXLAN)'] as const;

/** What check hosts warns of with --kubernetes: a firewall of the host's own, and the ports it must let through. */
export function hostFirewallWarning(name: string, facts: Pick<HostFacts, 'firewalls'>): string | null {
  if (!facts.firewalls.length) return null;
  return `host "${name}" has a firewall of its own (${facts.firewalls.join(', ')}); dpdkci does not change it: let ${HOST_CLUSTER_PORTS.join(', ')} through between the hosts (6443 from this machine too), or nodes stay NotReady with no other hint`;
}

/**
 * Why Kubernetes cannot go on this host, each naming it and the fix: a container runtime or Kubernetes of
 * its own (dpdkci's would replace it, and its down would remove it), or too few CPUs or too little memory
 * for the pods it would run (the same arithmetic as QEMU nodes', on what the host has).
 */
export function hostKubernetesRefusals(facts: HostFacts, want: HostWants & { kubernetes: NonNullable<HostWants['kubernetes']> }, ours: boolean): string[] {
  const host = `host "${want.name}"`;
  const out: string[] = [];
  if (facts.kubernetesFound.length && !ours) {
    out.push(
      `${host} has a container runtime or Kubernetes of its own (${facts.kubernetesFound.join(', ')}); dpdkci would replace it with its pinned containerd 2 and kubelet, and remove them again at down: use a host without one, or --kubernetes none`,
    );
  }
  const cp = want.kubernetes.role === 'control-plane';
  const shape = { nodes: cp ? 1 : 2, cpus: facts.cpus, memoryMiB: Math.floor(facts.memTotalKiB / 1024), hugepages2m: want.hugepages2m, hugepages1g: want.hugepages1g, dpdk: true };
  const b = budget(shape);
  const pods = b.perNode[cp ? 0 : 1] as Budget['perNode'][number];
  if (pods.cpuMilli > b.allocatable.cpuMilli) {
    out.push(
      `${host} has ${facts.cpus} CPUs; the kubelet keeps CPU ${reservedCpus(shape).join(' and ')} from pods (the system and OVS's PMD), leaving ${b.allocatable.cpuMilli}m, but its pods request ${pods.cpuMilli}m (${pods.pods.join(', ')}): use a host with ${Math.ceil(pods.cpuMilli / 1000) + 2} CPUs or more, or --kubernetes none`,
    );
  }
  if (pods.memoryMiB > b.allocatable.memoryMiB) {
    out.push(
      `${host} has ${shape.memoryMiB} MiB; hugepages, ${SYSTEM_RESERVED_MEMORY_MIB} MiB kept for the system and ${EVICTION_HARD_MEMORY_MIB} MiB of eviction threshold leave ${b.allocatable.memoryMiB} MiB, but its pods request ${pods.memoryMiB} MiB (${pods.pods.join(', ')}): use a host with more memory, fewer hugepages, or --kubernetes none`,
    );
  }
  return out;
}
