import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ClusterRecord, NodeRecord } from '../core/cluster.js';
import type { Node } from '../exec/runner.js';
import { providerOf } from '../provider/registry.js';
import { connectNode } from '../provider/connect.js';
import { nodeScriptPath, pushScriptsTo } from '../node-scripts/scripts.js';
import type { Places } from '../core/places.js';

/** What was gathered for one node, and what could not be. */
export interface NodeLogs {
  node: string;
  dir: string;
  files: string[];
  /** Why the node's own logs are missing (not running, no SSH answer, the script failed). */
  missing?: string;
}

/**
 * Gathers a cluster's logs into dir/<node>/: the provider's host side (QEMU: console, command line), from
 * the node (over SSH, when it answers) its journal, dmesg, the OVS logs, `ovs-vsctl show`, DPDK's lines and,
 * with Kubernetes, kubelet's logs and `kubectl get -A`. A node that does not answer still gets its console.
 */
export async function collectLogs(record: ClusterRecord, dir: string, places: Places): Promise<NodeLogs[]> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The record without anything secret in it (host keys are public; the cluster key is not in it).
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(record, null, 2) + '\n');
  const provider = providerOf(record);
  return Promise.all(
    record.nodes.map(async (node): Promise<NodeLogs> => {
      const nodeDir = join(dir, node.name);
      mkdirSync(nodeDir, { recursive: true });
      const host = await provider.hostSideLogs(record, node, nodeDir, places);
      const files = [...host.files];
      const missing = host.unreachable ?? (await fromNode(record, node, nodeDir, files, places));
      if (missing) writeFileSync(join(nodeDir, 'MISSING.txt'), `node logs not collected: ${missing}\n`);
      if (!host.unreachable && missing && host.whenSilent) files.push(...(await host.whenSilent()));
      return { node: node.name, dir: nodeDir, files: files.sort(), ...(missing ? { missing } : {}) };
    }),
  );
}

/** Runs collect-logs.sh on the node and unpacks its archive; returns why not, when it could not. */
async function fromNode(record: ClusterRecord, nodeRecord: NodeRecord, nodeDir: string, files: string[], places: Places): Promise<string | undefined> {
  let node: Node;
  try {
    node = await connectNode(record, nodeRecord, places, 10_000);
  } catch (e) {
    const at = providerOf(record).endpoint(record, nodeRecord);
    return `no SSH answer from ${at.host}:${at.port} (${(e as Error).message})`;
  }
  try {
    await pushScriptsTo([node]);
    const r = await node.runner.run([nodeScriptPath('collect-logs.sh')], { check: false, timeoutMs: 180_000 });
    if (r.exitCode !== 0) return `collect-logs.sh exited ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''}`;
    const archive = join(nodeDir, '.node-logs.tar.gz');
    writeFileSync(archive, Buffer.from(r.stdout.trim(), 'base64'));
    const list = await execa('tar', ['-xzvf', archive, '-C', nodeDir], { reject: false });
    if (list.exitCode !== 0) return `the node's archive would not unpack: ${list.stderr}`;
    files.push(...String(list.stdout).split('\n').map((f) => f.replace(/^\.\//, '')).filter((f) => f && !f.endsWith('/')));
    rmSync(archive, { force: true });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await node.runner.close();
  }
}

export function renderLogs(dir: string, logs: readonly NodeLogs[]): string {
  const lines = [`logs in ${dir}`];
  for (const l of logs) {
    lines.push(`  ${l.node}: ${l.files.length} file(s)${l.missing ? `; node logs missing: ${l.missing}` : ''}`);
  }
  return lines.join('\n');
}
