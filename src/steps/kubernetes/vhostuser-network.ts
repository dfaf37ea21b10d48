import type { Node } from '../../exec/runner.js';
import { CommandError, DpdkciError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import { BRIDGE } from '../../dataplane/plan.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { netConfPath, netConfText, vhostUserRange } from '../../kubernetes/vhostuser-network.js';
import { nodeScriptPath } from '../../node-scripts/scripts.js';
import { need, type UpContext } from '../context.js';
import { enabled, NAD_NAME } from './common.js';

const SCRIPT = nodeScriptPath('cni-netconf.sh');

/** Node's own file: the record's number of the node picks its block of addresses. */
function fileOf(ctx: UpContext, name: string): { path: string; text: string; index: number } {
  const n = need(ctx.record, 'cluster record').nodes.find((x) => x.name === name);
  if (!n) throw new DpdkciError(`internal: node ${name} is not in the cluster record`);
  return { path: netConfPath(NAD_NAME), text: netConfText(NAD_NAME, BRIDGE, n.index), index: n.index };
}

async function differs(ctx: UpContext, node: Node): Promise<boolean> {
  const f = fileOf(ctx, node.name);
  const r = await node.runner.run([SCRIPT, 'check', f.path], { stdin: f.text, check: false, timeoutMs: 60_000 });
  if (r.exitCode === 0) return false;
  if (r.exitCode === 3) return true;
  throw new DpdkciError(`${node.name}: vhost-user network file: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * Every node's CNI configuration of the vhost-user network, before the NAD that names it is applied: the
 * NAD has no spec, so thin multus takes the network from this file, and each node's gives host-local a
 * block of addresses no other node leases from.
 */
export const vhostUserNetwork: Step<UpContext, Node[]> = {
  // isDone returns the nodes whose file differs; apply writes only those (every node without).
  name: 'vhost-user network files',
  enabled,
  async isDone(ctx) {
    const nodes = need(ctx.nodes, 'nodes');
    const states = await Promise.all(nodes.map((n) => differs(ctx, n)));
    const todo = nodes.filter((_, i) => states[i]);
    return todo.length === 0 || { pending: todo };
  },
  async apply(ctx, _progress, todo) {
    const nodes = todo ?? need(ctx.nodes, 'nodes');
    await Promise.all(
      nodes.map(async (n) => {
        const f = fileOf(ctx, n.name);
        try {
          await n.runner.run([SCRIPT, 'apply', f.path], { stdin: f.text, timeoutMs: 60_000 });
        } catch (e) {
          if (e instanceof CommandError) throw new DpdkciError(`${n.name}: writing ${f.path} failed:\n${(e.stderr || e.stdout).trim()}`, { cause: e });
          throw e;
        }
      }),
    );
    return nodes.map((n) => `${n.name} ${Object.values(vhostUserRange(fileOf(ctx, n.name).index)).join('-')}`).join(', ');
  },
  plan(ctx) {
    return need(ctx.record, 'cluster record').nodes.flatMap((n) => {
      const f = fileOf(ctx, n.name);
      const range = vhostUserRange(f.index);
      return [
        { on: n.name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'check', f.path])}   (stdin: the file below)` },
        {
          on: n.name,
          verb: 'write' as const,
          what: `${f.path}: ${NAD_NAME} for thin multus, host-local ${range.rangeStart}-${range.rangeEnd} (this node's own); only when check exits 3`,
        },
      ];
    });
  },
};
