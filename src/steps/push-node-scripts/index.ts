import type { Node } from '../../exec/runner.js';
import type { Step } from '../../core/pipeline.js';
import { localScripts, nodeScriptPath, pushScriptsTo, staleScripts, type Stale } from '../../node-scripts/scripts.js';
import { need, type UpContext } from '../context.js';

/** Copies scripts/node/*.sh to every node, skipping the ones whose content hash already matches. */
export const pushNodeScripts: Step<UpContext, Map<Node, Stale>> = {
  // isDone returns what it found stale on each node, for apply (which asks the nodes itself without it).
  name: 'push node scripts',
  enabled: (ctx: UpContext) => ctx.options.dpdk || ctx.options.kubernetes !== 'none',
  async isDone(ctx: UpContext) {
    const nodes = need(ctx.nodes, 'nodes');
    const stale = await Promise.all(nodes.map(staleScripts));
    return stale.every((s) => s.length === 0) || { pending: new Map(nodes.map((n, i) => [n, stale[i] ?? []])) };
  },
  async apply(ctx: UpContext, _progress, known?: Map<Node, Stale>) {
    return `${await pushScriptsTo(need(ctx.nodes, 'nodes'), known)} file(s)`;
  },
  plan(ctx: UpContext) {
    const scripts = localScripts();
    return need(ctx.record, 'cluster record').nodes.flatMap((n) => [
      { on: n.name, verb: 'run' as const, what: `sha256sum ${scripts.map((s) => nodeScriptPath(s.name)).join(' ')}` },
      ...scripts.map((s) => ({ on: n.name, verb: 'write' as const, what: `${nodeScriptPath(s.name)} (mode 0755) from scripts/node/${s.name}, unless its sha256 already matches` })),
    ]);
  },
};
