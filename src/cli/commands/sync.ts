import { ExitCode } from '../../core/errors.js';
import { runPipeline } from '../../core/pipeline.js';
import { connectNodes } from '../../provider/connect.js';
import { dataplaneSteps } from '../../steps/dataplane/index.js';
import { pushScriptsTo } from '../../node-scripts/scripts.js';
import { applyManifests, pushToNodes, pushToRegistry, renderSync, type SyncChange } from '../../sync/sync.js';
import type { CommandContext } from '../context.js';
import { requireCluster } from './node-access.js';
import { checkOutputFormat } from '../output.js';
import { resolveSyncRequest, type SyncFlags } from './sync-request.js';

/**
 * `dpdkci sync`: a developer's build into a running cluster, idempotently — OCI image archives into
 * containerd and CNI binaries into /opt/cni/bin on every node (skipped where the content is already there),
 * then the node convergence steps again, so that drifted OVS-DPDK settings are put back. Prints what changed.
 */
export async function runSync(flags: SyncFlags & { prefix?: string; output?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  const plan = await resolveSyncRequest(flags, record, ctx.env, ctx.places);
  const changes: SyncChange[] = [];
  const nodes = await connectNodes({ record, places: ctx.places });
  try {
    await pushScriptsTo(nodes);
    if (plan.images.length || plan.cniBins.length) {
      const where = plan.registry ? `image(s) to ${plan.registry}, ${plan.cniBins.length} CNI binary(ies) to ${nodes.length} node(s)` : `image(s), ${plan.cniBins.length} CNI binary(ies) to ${nodes.length} node(s)`;
      const step = ctx.progress.start(`push ${plan.images.length} ${where}`);
      const onChange = (c: SyncChange) => {
        changes.push(c);
        if (c.outcome !== 'unchanged') step.update(`${c.node}: ${c.name} ${c.outcome}`);
      };
      try {
        await pushToRegistry(plan, onChange, '--image');
        await pushToNodes(nodes, plan, onChange);
      } catch (e) {
        step.end('failed', undefined, (e as Error).message);
        throw e;
      }
      const pushed = changes.filter((c) => c.outcome !== 'unchanged').length;
      step.end(pushed ? 'done' : 'skipped', pushed ? `${pushed} change(s)` : 'all already there');
    }
    if (plan.manifests !== undefined) {
      const step = ctx.progress.start(`apply ${plan.manifests} with kubectl from ${nodes[0]?.name}`);
      const before = changes.length;
      try {
        await applyManifests(nodes[0] as (typeof nodes)[number], plan.manifests, (c) => changes.push(c), '--manifests');
      } catch (e) {
        step.end('failed', undefined, (e as Error).message);
        throw e;
      }
      const applied = changes.slice(before);
      const changedCount = applied.filter((c) => c.outcome !== 'unchanged').length;
      step.end(changedCount ? 'done' : 'skipped', `${applied.length} object(s), ${changedCount} changed`);
    }
    if (record.options.dpdk) {
      const changed: string[] = [];
      await runPipeline(dataplaneSteps, { options: record.options, nodes, changes: changed, record }, ctx.progress, ctx.signal);
      for (const line of changed) {
        const [node, ...rest] = line.split(': ');
        changes.push({ node: node as string, kind: 'dataplane', name: rest.join(': '), outcome: 'restored' });
      }
    }
  } finally {
    await Promise.all(nodes.map((n) => n.runner.close()));
  }
  ctx.out(flags.output === 'json' ? JSON.stringify({ prefix: record.prefix, changed: changes.some((c) => c.outcome !== 'unchanged'), changes }, null, 2) : renderSync(changes));
  return ExitCode.ok;
}
