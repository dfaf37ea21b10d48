import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { ClusterOptions, ProviderName } from './config.js';
import type { DataplanePlan } from './dataplane-limits.js';
import type { Owner } from './owner.js';

/** What `up` decided for one node; kept in cluster.json and checked against the process table. */
export interface NodeRecord {
  name: string;
  index: number;
  role: 'control-plane' | 'worker';
  sshPort: number;
  /** The control-plane node of a cluster with Kubernetes: the host port forwarded to its API server. */
  apiPort?: number;
  mgmtMac: string;
  secondaryMacs: string[];
  /** "ssh-ed25519 AAAA..." — pinned before the node first boots. */
  hostKey: string;
  /** A machine dpdkci did not boot (provider hosts): how it is reached, its DPDK NIC, what it offers. */
  host?: HostNode;
}

export interface HostNode {
  address: string;
  user: string;
  /** The inventory's private key (absolute path); dpdkci makes no key of its own for a host. */
  keyFile: string;
  /** Every pinned host key ("TYPE BASE64"): the inventory's hostKey, or its known_hosts file's keys. */
  hostKeys: string[];
  /** The DPDK NIC as the inventory names it. */
  nic: { pci: string } | { iface: string };
  /** The host's IPv4 address on the lab's network, for Kubernetes (the inventory's nodeIp, or its address). */
  nodeIp?: string;
  /** Learned by the `check hosts` step: the NIC's PCI address and the host's CPU count. */
  pci?: string;
  cpus?: number;
}

export interface ClusterRecord {
  prefix: string;
  provider: ProviderName;
  options: ClusterOptions;
  /** QEMU's accelerator; none on machines dpdkci did not boot. */
  accel: 'kvm' | 'tcg' | 'none';
  accelReason: string;
  image: { hash: string; disk: string; kernel: string; initrd: string; kernelRelease: string };
  createdAt: string;
  nodes: NodeRecord[];
  /** With --dpdk: what every node's OVS-DPDK was given (PCI address, masks, socket dir, bridge). */
  dataplane?: DataplanePlan;
  /** The last `dpdkci check` (or the one `up --dpdk` ran). */
  lastCheck?: { at: string; ok: boolean };
  /** The cluster registry's port on 127.0.0.1 (absent with --no-registry, and in clusters from before it existed). */
  registryPort?: number;
  /** The process the cluster belongs to (its last `up`'s session); `down --all-stale` reaps it once gone. */
  owner?: Owner;
  /** A cluster made by `up --from-snapshot`: which snapshot, and whether the restore finished. */
  restoredFrom?: RestoredFrom;
}

export interface RestoredFrom {
  snapshot: string;
  savedAt: string;
  restoredAt: string;
  /** False until every node answers with its new keys; `up --from-snapshot` again then starts over. */
  complete: boolean;
}

/** The Kubernetes version a cluster was brought up with; a record from before the option existed has none. */
export function clusterKubernetes(record: ClusterRecord): string {
  return record.options.kubernetes ?? 'none';
}

export function readClusterRecord(file: string): ClusterRecord | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterRecord;
}

export function writeClusterRecord(file: string, record: ClusterRecord): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}
