// Reaching a cluster's nodes: each over SSH where its provider says, as a Node whose runner is that connection.
import type { ClusterRecord, NodeRecord } from '../core/cluster.js';
import type { Node } from '../exec/runner.js';
import { connectSsh, createSshRunner } from '../exec/ssh-runner.js';
import { providerOf } from './registry.js';
import type { Places } from '../core/places.js';

/** One node over SSH, its host key pinned. */
export async function connectNode(record: ClusterRecord, n: NodeRecord, places: Places, timeoutMs = 15_000): Promise<Node> {
  const target = providerOf(record).sshTarget(record, n, places);
  const ssh = await connectSsh(target, timeoutMs);
  return { name: n.name, role: n.role, address: `${target.host}:${target.port}`, runner: createSshRunner(target, ssh) };
}

/** Opens one SSH connection per node for the steps that run commands on nodes. */
export async function connectNodes({ record, places }: { record: ClusterRecord; places: Places }): Promise<Node[]> {
  return allOrClose(record.nodes.map((n) => connectNode(record, n, places)));
}

/** Every node's connection, or none: when one fails, those that connected are closed (an open one keeps the CLI from exiting). */
export async function allOrClose(connecting: Promise<Node>[]): Promise<Node[]> {
  const settled = await Promise.allSettled(connecting);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<Node>).value);
  await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.runner.close() : undefined)));
  throw failed.reason;
}
