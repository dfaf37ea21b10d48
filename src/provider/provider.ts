import type { ClusterRecord, NodeRecord } from '../core/cluster.js';
import type { SshTarget } from '../exec/ssh-runner.js';
import type { Places } from '../core/places.js';
import type { Progress } from '../core/progress.js';

/**
 * What the commands and steps need of whatever runs a cluster's nodes, after kind's providers/provider.go:
 * list and reach the nodes, their host-side logs, delete a cluster, find stale ones. The QEMU provider
 * (providers/qemu) boots nodes; the hosts provider (providers/hosts) uses machines that exist. Code gets a
 * provider from src/provider/registry.ts, never by importing one.
 */
export interface NodeStatus {
  name: string;
  role: NodeRecord['role'];
  /** QEMU: its process runs; hosts: its SSH port answers. */
  state: 'running' | 'down';
  pid: number | null;
  sshPort: number;
  /** Where SSH reaches it, for people: 127.0.0.1:2201, root@192.0.2.10:22. */
  address: string;
}

/** How the system ssh and scp reach a node: `ssh OPTIONS -p PORT DESTINATION` (scp: -P). */
export interface SshClient {
  destination: string;
  port: number;
  options: string[];
}

/** What `down` did on one machine dpdkci did not boot: each thing put back, and what it left. */
export interface HostUndo {
  name: string;
  restored: string[];
  kept: string[];
  error?: string;
}

export interface DeleteReport {
  nodes: { name: string; pid: number; how: 'powered-off' | 'killed' }[];
  switchPids: number[];
  registryPids: number[];
  hosts?: HostUndo[];
  removedDir: boolean;
}

export interface StaleCluster {
  prefix: string;
  reason: string;
}

/** What a snapshot save reports, for `snapshot save` and `up --snapshot auto`. */
export interface SavedSnapshot {
  bytes: number;
  seconds: number;
}

/** A provider that can save its running nodes (memory, devices, disks) to restore them later. */
export interface SnapshotOps {
  /** The name a save without one gives, and the one `up --snapshot auto` restores. */
  autoName(record: ClusterRecord): Promise<string>;
  save(record: ClusterRecord, name: string, ctx: { places: Places; progress: Progress; signal: AbortSignal }): Promise<SavedSnapshot>;
}

/** The host side of `dpdkci logs` for one node: files written into its directory, and whether to ask the node. */
export interface HostSideLogs {
  files: string[];
  /** Why the node itself is not asked (QEMU: its process is not running). */
  unreachable?: string;
  /** Written when the node runs but does not answer (QEMU: its vCPUs' state over QMP). */
  whenSilent?: () => Promise<string[]>;
}

export interface NodeOffer {
  nic: string;
  driver: string;
  numaNode: number;
  hugepagesFree: string;
  cpus: number;
  os: string;
  /** The swap the host has on ("none", or size and areas): the kubelet runs beside it, pods never swap. */
  swap: string;
}

/** Where Kubernetes finds the nodes, and where this machine finds its API server. */
export interface KubernetesNetwork {
  /** Each node's IP on the node network (the kubelet's node-ip, the API server's advertise address). */
  nodeIps: Record<string, string>;
  /** The node network's CIDR when the provider made that network; absent on a lab's own network. */
  cidr?: string;
  /** The API server as this machine reaches it; absent for a cluster made without Kubernetes. */
  api?: { host: string; port: number; via: string };
}

/** The cluster's own registry as this machine reaches it, and the name the nodes pull it by. */
export interface ClusterRegistry {
  /** HOST:PORT, and the port alone (`ports registry` prints it, as gocli does). */
  address: string;
  port: number;
  pullAs: string;
  running: boolean;
}

export interface DeleteOptions {
  graceful: boolean;
  places: Places;
  /** hosts: remove the packages dpdkci installed too. */
  purgePackages?: boolean;
  /** hosts: remove the cluster's record even when a host could not be reached to undo its changes. */
  forget?: boolean;
}

export interface Provider {
  readonly name: ClusterRecord['provider'];
  /** Each recorded node and whether it runs, from the provider's own view (the process table for QEMU). */
  listNodes(record: ClusterRecord, places: Places): Promise<NodeStatus[]>;
  /** Where SSH reaches a node, read from the record alone (for plans and messages). */
  endpoint(record: ClusterRecord, node: NodeRecord): { user: string; host: string; port: number };
  /** How dpdkci's own SSH client reaches a node, its host key pinned. */
  sshTarget(record: ClusterRecord, node: NodeRecord, places: Places): SshTarget;
  sshClient(record: ClusterRecord, node: NodeRecord, places: Places): SshClient;
  /**
   * Which NIC of a node is DPDK's and which carries the Kubernetes node network, as PCI addresses. '' when
   * only the node can say (a host's NIC named by interface is resolved by `check hosts`, into NodeRecord.host.pci).
   */
  nics(options: { dpdk: boolean }, node?: NodeRecord): { dpdk: string; nodeNetwork: string };
  kubernetesNetwork(record: ClusterRecord): KubernetesNetwork;
  /** The network between the nodes' DPDK NICs: QEMU's VDE switch, or the lab's own (not seen from here). */
  secondaryNetwork(record: ClusterRecord, places: Places): { kind: string; running: boolean | null };
  /** One line for `status`: the provider and what made the nodes ("provider qemu, accelerator tcg, image ..."). */
  summary(record: ClusterRecord): string;
  /**
   * The CPUs the kubelet keeps from pods are decided from `cpus`; perNode: the nodes differ, so each gets
   * its own through a kubeadm patch (hosts), rather than one value for the cluster (QEMU nodes are alike).
   */
  kubeletCpus(record: ClusterRecord, options: { cpus: number }): { cpus: number; perNode: boolean };
  /**
   * A registry mirror's URL (--registry-mirror) as the nodes' containerd reaches it: QEMU nodes call this
   * machine's loopback 10.0.2.2; hosts reach what the URL names.
   */
  registryMirrorUrl(url: string): string;
  /** The registry `up` runs for the cluster (QEMU: forwarded to this machine), or undefined when it has none. */
  registry(record: ClusterRecord, places: Places): ClusterRegistry | undefined;
  /** What each node offers beyond what the record says (hosts: NIC, driver, NUMA node, free hugepages), for `status`. */
  offers?(record: ClusterRecord, places: Places): Promise<Record<string, NodeOffer | { error: string }>>;
  hostSideLogs(record: ClusterRecord, node: NodeRecord, dir: string, places: Places): Promise<HostSideLogs>;
  /** Everything `down` does; safe to repeat, and on a cluster whose record is gone. */
  deleteCluster(prefix: string, options: DeleteOptions): Promise<DeleteReport>;
  /**
   * The clusters of this machine's state directory that are this provider's, by prefix (kind's ListClusters,
   * kubernetes-sigs/kind@fed268827e21ca48a74c38215c316dd343364ef5:pkg/cluster/internal/providers/provider.go).
   */
  listClusters(places: Places): string[];
  /** Of its own clusters (listClusters), those nobody will take down, and why: `down --all-stale` asks every provider. */
  findStale(places: Places): StaleCluster[];
  /** Absent: the provider cannot save its nodes, and `snapshot save` / `up --snapshot` are refused by its name. */
  snapshot?: SnapshotOps;
}
