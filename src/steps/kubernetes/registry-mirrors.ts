import type { Node } from '../../exec/runner.js';
import type { PlannedAction, Step } from '../../core/pipeline.js';
import { containerdHostsFiles, type ContainerdHostsFile } from '../../kubernetes/containerd-hosts.js';
import { providerOf } from '../../provider/registry.js';
import { need, type UpContext } from '../context.js';
import { enabled, plannedNames } from './common.js';

/** The hosts.toml files of --registry-mirror, with each mirror's URL as the cluster's provider says nodes reach it. */
export function mirrorFiles(ctx: Pick<UpContext, 'kubernetes' | 'record'>): ContainerdHostsFile[] {
  const record = need(ctx.record, 'cluster record');
  return containerdHostsFiles(ctx.kubernetes?.registryMirrors ?? [], (url) => providerOf(record).registryMirrorUrl(url));
}

/** Whether a node holds every file as rendered. */
async function nodeHas(node: Node, files: readonly ContainerdHostsFile[]): Promise<boolean> {
  for (const f of files) {
    const r = await node.runner.run(['cat', f.path], { check: false, timeoutMs: 60_000 });
    if (r.exitCode !== 0 || r.stdout !== f.text) return false;
  }
  return true;
}

/**
 * Each node's containerd sends pulls for a mirrored registry to its mirror (hosts.toml under containerd's
 * config_path), before kubeadm pulls anything. containerd reads these files at each pull.
 */
export const containerdRegistryMirrors: Step<UpContext, Node[]> = {
  // isDone returns the nodes whose files differ; apply writes them there (every node without).
  name: 'containerd registry mirrors',
  enabled: (ctx) => enabled(ctx) && (ctx.kubernetes?.registryMirrors?.length ?? 0) > 0,
  async isDone(ctx) {
    const files = mirrorFiles(ctx);
    const nodes = need(ctx.nodes, 'nodes');
    const has = await Promise.all(nodes.map((n) => nodeHas(n, files)));
    const todo = nodes.filter((_, i) => !has[i]);
    return todo.length === 0 || { pending: todo };
  },
  async apply(ctx, _progress, todo) {
    const files = mirrorFiles(ctx);
    const nodes = todo ?? need(ctx.nodes, 'nodes');
    await Promise.all(nodes.map(async (n) => {
      for (const f of files) await n.runner.run(['install', '-D', '-m', '0644', '/dev/stdin', f.path], { stdin: f.text });
    }));
    return `${files.length} registry host(s) on ${nodes.map((n) => n.name).join(', ')}`;
  },
  plan(ctx): PlannedAction[] {
    const files = mirrorFiles(ctx);
    return plannedNames(ctx).flatMap((name) =>
      files.map((f) => ({ on: name, verb: 'write' as const, what: `${f.path} (mode 0644), when it differs: ${f.text.split('\n').filter((l) => /^(server|\[host)/.test(l)).join(' ')}` })),
    );
  },
};
