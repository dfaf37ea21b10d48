import type { Node } from '../../core/cluster.js';
import type { Step } from '../../core/pipeline.js';
import { connectSsh, createSshRunner } from '../../exec/ssh-runner.js';
import { sshTarget } from '../../../providers/qemu/provider.js';
import { need, type UpContext } from '../context.js';

/** Opens one SSH connection per node (host key pinned) for the steps that run commands on nodes. */
export async function connectNodes(ctx: Pick<UpContext, 'record' | 'env'>): Promise<Node[]> {
  const record = need(ctx.record, 'cluster record');
  return Promise.all(
    record.nodes.map(async (n) => {
      const target = sshTarget(record, n, ctx.env);
      const ssh = await connectSsh(target, 15_000);
      return { name: n.name, role: n.role, address: `127.0.0.1:${n.sshPort}`, runner: createSshRunner(target, ssh) };
    }),
  );
}

export const connectNodesStep: Step<UpContext> = {
  name: 'connect to nodes',
  observes: true,
  enabled: (ctx) => ctx.options.dpdk,
  async isDone(ctx) {
    return ctx.nodes !== undefined;
  },
  async apply(ctx) {
    const nodes = await connectNodes(ctx);
    ctx.nodes = nodes;
    // On Ctrl-C, drop the connections: commands in flight end (as failures) instead of holding `up`.
    ctx.signal.addEventListener('abort', () => void Promise.all(nodes.map((n) => n.runner.close())), { once: true });
  },
};
