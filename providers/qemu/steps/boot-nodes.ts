import type { Step } from '../../../src/core/pipeline.js';
import { launchSpec, listNodes, overlayArgv, seedFiles, startNode } from '../provider.js';
import { qemuArgs } from '../qemu-args.js';
import { nodePaths } from '../../../src/core/paths.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import { need, type UpContext } from '../../../src/steps/context.js';

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
          await startNode(ctx.host, record, node, ctx.places);
          ctx.booted.add(node.name);
        }
      }),
    );
    return `${down.map((n) => n.name).join(', ')} on ${record.accel}`;
  },
  plan(ctx) {
    const record = need(ctx.record, 'cluster record');
    return record.nodes.flatMap((node) => {
      const np = nodePaths(ctx.paths, node.name);
      return [
        { on: 'host', verb: 'run' as const, what: remoteCommand(overlayArgv(record.image.disk, np.disk)) },
        ...seedFiles(record, node, ctx.paths.publicKey).map((f) => ({ on: 'host', verb: 'write' as const, what: `${np.seedDir}/${f.name}: ${f.what} (the node reads it through fw_cfg)` })),
        { on: 'host', verb: 'run' as const, what: remoteCommand(qemuArgs(launchSpec(record, node, ctx.places))) },
      ];
    });
  },
};
