import type { ClusterRecord, Node, NodeRecord } from '../../core/cluster.js';
import type { Step } from '../../core/pipeline.js';
import { connectSsh, createSshRunner } from '../../exec/ssh-runner.js';
import { providerOf } from '../../provider/registry.js';
import { need, type UpContext } from '../context.js';

/** One node over SSH, its host key pinned. */
export async function connectNode(record: ClusterRecord, n: NodeRecord, env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<Node> {
  const target = providerOf(record).sshTarget(record, n, env);
  const ssh = await connectSsh(target, timeoutMs);
  return { name: n.name, role: n.role, address: `${target.host}:${target.port}`, runner: createSshRunner(target, ssh) };
}

/** Opens one SSH connection per node for the steps that run commands on nodes. */
export async function connectNodes(ctx: Pick<UpContext, 'record' | 'env'>): Promise<Node[]> {
  const record = need(ctx.record, 'cluster record');
  return allOrClose(record.nodes.map((n) => connectNode(record, n, ctx.env)));
}

/** Every node's connection, or none: when one fails, those that connected are closed (an open one keeps the CLI from exiting). */
export async function allOrClose(connecting: Promise<Node>[]): Promise<Node[]> {
  const settled = await Promise.allSettled(connecting);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<Node>).value);
  await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.runner.close() : undefined)));
  throw failed.reason;
}

export const connectNodesStep: Step<UpContext> = {
  name: 'connect to nodes',
  observes: true,
  enabled: (ctx) => ctx.options.dpdk || ctx.options.kubernetes !== 'none',
  async isDone(ctx) {
    return ctx.nodes !== undefined;
  },
  async apply(ctx) {
    const nodes = await connectNodes(ctx);
    ctx.nodes = nodes;
    // On Ctrl-C, drop the connections: commands in flight end (as failures) instead of holding `up`.
    ctx.signal.addEventListener('abort', () => void Promise.all(nodes.map((n) => n.runner.close())), { once: true });
  },
  plan(ctx) {
    const record = need(ctx.record, 'cluster record');
    return record.nodes.map((n) => {
      const t = providerOf(record).endpoint(record, n);
      return { on: n.name, verb: 'use' as const, what: `one SSH connection (${t.user}@${t.host}:${t.port}) for the steps below` };
    });
  },
};
