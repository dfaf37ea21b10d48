import type { Step } from '../../core/pipeline.js';
import { listNodes, startNode } from '../../../providers/qemu/provider.js';
import { need, type UpContext } from '../context.js';

/** Starts the QEMU of every node that is not running (first boot, or a node that was killed). */
export const bootNodes: Step<UpContext> = {
  name: 'boot nodes',
  async isDone(ctx) {
    return listNodes(need(ctx.record, 'cluster record')).every((n) => n.state === 'running');
  },
  async apply(ctx, progress) {
    const record = need(ctx.record, 'cluster record');
    const down = listNodes(record).filter((n) => n.state === 'down');
    progress.update(`starting ${down.map((n) => n.name).join(', ')} (${record.accel})`);
    await Promise.all(
      down.map(async (n) => {
        const node = record.nodes.find((r) => r.name === n.name);
        if (node) {
          await startNode(record, node, ctx.env);
          ctx.booted.add(node.name);
        }
      }),
    );
    return `${down.map((n) => n.name).join(', ')} on ${record.accel}`;
  },
};
