import { existsSync, rmSync } from 'node:fs';
import { readClusterRecord, type ClusterRecord, type NodeRecord } from '../../src/core/cluster.js';
import type { Node } from '../../src/exec/runner.js';
import { clusterPaths } from '../../src/core/paths.js';
import type { Places } from '../../src/core/places.js';
import { connectNode } from '../../src/provider/connect.js';
import type { DeleteOptions, DeleteReport, HostUndo } from '../../src/provider/provider.js';
import { runScript } from './remote.js';

/** The argv of `host-state.sh undo` (run from standard input: its own copy on the host is removed by it). */
export function undoArgs(prefix: string, purgePackages: boolean): string[] {
  return ['undo', prefix, purgePackages ? '1' : '0'];
}

/** "restored X" and "kept X" lines of host-state.sh undo. */
export function parseUndo(stdout: string): Pick<HostUndo, 'restored' | 'kept'> {
  const restored: string[] = [];
  const kept: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('restored ')) restored.push(line.slice(9));
    else if (line.startsWith('kept ')) kept.push(line.slice(5));
  }
  return { restored, kept };
}

/** How `down` reaches a host: over SSH with the inventory's key and pinned host key; a test passes its own. */
export type ConnectHost = (record: ClusterRecord, node: NodeRecord, places: Places) => Promise<Node>;

export const connectHostBySsh: ConnectHost = (record, node, places) => connectNode(record, node, places, 15_000);

async function undoOn(connect: ConnectHost, record: ClusterRecord, node: NodeRecord, places: Places, purge: boolean): Promise<HostUndo> {
  let on: Node;
  try {
    on = await connect(record, node, places);
  } catch (e) {
    const where = node.host ? `${node.host.address}:${node.sshPort}` : node.name;
    return { name: node.name, restored: [], kept: [], error: `not reached at ${where}: ${(e as Error).message}` };
  }
  try {
    // Kubernetes first (kubeadm reset, containerd stopped), while the dataplane it ran on is still there.
    const k = await runScript(on, 'host-kubernetes.sh', ['undo', record.prefix], 600_000);
    const k8s = parseUndo(k.stdout);
    if (k.exitCode !== 0) return { name: node.name, ...k8s, error: `host-kubernetes.sh undo exited ${k.exitCode}: ${k.stderr.trim()}` };
    const r = await runScript(on, 'host-state.sh', undoArgs(record.prefix, purge), 600_000);
    const rest = parseUndo(r.stdout);
    const undo = { name: node.name, restored: [...k8s.restored, ...rest.restored], kept: [...k8s.kept, ...rest.kept] };
    return r.exitCode === 0 ? undo : { ...undo, error: `host-state.sh undo exited ${r.exitCode}: ${r.stderr.trim()}` };
  } finally {
    await on.runner.close();
  }
}

/**
 * `down` of a hosts cluster: on every host, undo exactly what dpdkci recorded there, leaving the machine
 * running. The cluster's record here is removed only when every host is done, so that `down` can be repeated,
 * unless the caller forgets the hosts that were not reached.
 */
export function createDeleteHostsCluster(connect: ConnectHost = connectHostBySsh) {
  return async (prefix: string, options: DeleteOptions): Promise<DeleteReport> => {
    const paths = clusterPaths(prefix, options.places);
    const record = readClusterRecord(paths.specFile);
    const hosts = record ? await Promise.all(record.nodes.map((n) => undoOn(connect, record, n, options.places, Boolean(options.purgePackages)))) : [];
    // With forget (down --force) the record goes even when a host was not reached; its own record stays there.
    const removedDir = existsSync(paths.dir) && (Boolean(options.forget) || hosts.every((h) => !h.error));
    if (removedDir) rmSync(paths.dir, { recursive: true, force: true });
    return { nodes: [], switchPids: [], registryPids: [], hosts, removedDir };
  };
}

export const deleteHostsCluster = createDeleteHostsCluster();
