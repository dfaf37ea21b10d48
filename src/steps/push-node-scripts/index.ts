import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from '../../core/cluster.js';
import type { Step } from '../../core/pipeline.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { need, type UpContext } from '../context.js';

/** Where the shell of scripts/node lands on every node. */
export const NODE_SCRIPT_DIR = '/usr/local/lib/dpdkci';

export function nodeScriptPath(name: string): string {
  return `${NODE_SCRIPT_DIR}/${name}`;
}

function localScripts(): { name: string; content: Buffer; sha256: string }[] {
  const dir = join(PROJECT_ROOT, 'scripts', 'node');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sh'))
    .sort()
    .map((name) => {
      const content = readFileSync(join(dir, name));
      return { name, content, sha256: createHash('sha256').update(content).digest('hex') };
    });
}

/** Scripts whose copy on the node differs (by content hash) from scripts/node. */
export async function staleScripts(node: Node) {
  const scripts = localScripts();
  const r = await node.runner.run(['sha256sum', ...scripts.map((s) => nodeScriptPath(s.name))], { check: false });
  const remote = new Map(r.stdout.split('\n').filter(Boolean).map((l) => {
    const [hash, path] = l.split(/\s+/);
    return [path, hash] as const;
  }));
  return scripts.filter((s) => remote.get(nodeScriptPath(s.name)) !== s.sha256);
}

/** What the step's isDone found stale on each node, so that apply does not ask the node again. */
const foundStale = new WeakMap<Node, Awaited<ReturnType<typeof staleScripts>>>();

/** Copies the stale scripts to each node; returns how many files were copied. */
export async function pushScriptsTo(nodes: readonly Node[]): Promise<number> {
  let copied = 0;
  await Promise.all(
    nodes.map(async (node) => {
      // All at once, each on its own channel of the node's one connection: a command costs most of a second
      // on a node that is still finishing its boot under TCG.
      const stale = foundStale.get(node) ?? (await staleScripts(node));
      foundStale.delete(node);
      await Promise.all(stale.map((s) => node.runner.run(['install', '-D', '-m', '0755', '/dev/stdin', nodeScriptPath(s.name)], { stdin: s.content })));
      copied += stale.length;
    }),
  );
  return copied;
}

/** Copies scripts/node/*.sh to every node, skipping the ones whose content hash already matches. */
export const pushNodeScripts: Step<UpContext> = {
  name: 'push node scripts',
  enabled: (ctx) => ctx.options.dpdk || ctx.options.kubernetes !== 'none',
  async isDone(ctx) {
    const nodes = need(ctx.nodes, 'nodes');
    const stale = await Promise.all(nodes.map(staleScripts));
    nodes.forEach((n, i) => foundStale.set(n, stale[i] ?? []));
    return stale.every((s) => s.length === 0);
  },
  async apply(ctx) {
    return `${await pushScriptsTo(need(ctx.nodes, 'nodes'))} file(s)`;
  },
  plan(ctx) {
    const scripts = localScripts();
    return need(ctx.record, 'cluster record').nodes.flatMap((n) => [
      { on: n.name, verb: 'run' as const, what: `sha256sum ${scripts.map((s) => nodeScriptPath(s.name)).join(' ')}` },
      ...scripts.map((s) => ({ on: n.name, verb: 'write' as const, what: `${nodeScriptPath(s.name)} (mode 0755) from scripts/node/${s.name}, unless its sha256 already matches` })),
    ]);
  },
};
