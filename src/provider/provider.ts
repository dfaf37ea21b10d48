import type { ClusterRecord, NodeRecord } from '../core/cluster.js';

/**
 * What the commands need of whatever runs a cluster's nodes, after kind's providers/provider.go: list and
 * reach the nodes, delete a cluster, find stale ones. The QEMU provider (providers/qemu/index.ts) is the one
 * there is; commands get it from src/cli/providers.ts, never by importing it.
 */
export interface NodeStatus {
  name: string;
  role: NodeRecord['role'];
  state: 'running' | 'down';
  pid: number | null;
  sshPort: number;
}

/** How the system ssh and scp reach a node: `ssh OPTIONS -p PORT DESTINATION` (scp: -P). */
export interface SshClient {
  destination: string;
  port: number;
  options: string[];
}

export interface DeleteReport {
  nodes: { name: string; pid: number; how: 'powered-off' | 'killed' }[];
  switchPids: number[];
  registryPids: number[];
  removedDir: boolean;
}

export interface StaleCluster {
  prefix: string;
  reason: string;
}

export interface Provider {
  readonly name: ClusterRecord['provider'];
  /** Each recorded node and whether it runs, from the provider's own view (the process table for QEMU). */
  listNodes(record: ClusterRecord): NodeStatus[];
  sshClient(record: ClusterRecord, node: NodeRecord, env: NodeJS.ProcessEnv): SshClient;
  /** Whether the network between the nodes (QEMU: the cluster's VDE switch) is up. */
  secondaryNetworkRunning(record: ClusterRecord, env: NodeJS.ProcessEnv): boolean;
  /** Everything `down` does; safe to repeat, and on a cluster whose record is gone. */
  deleteCluster(prefix: string, options: { graceful: boolean; env: NodeJS.ProcessEnv }): Promise<DeleteReport>;
  findStale(env: NodeJS.ProcessEnv): StaleCluster[];
}
