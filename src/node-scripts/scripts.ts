// The shell of scripts/node on a node: where it lands, its hash, and copying what differs.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from '../exec/runner.js';
import { PROJECT_ROOT } from '../core/paths.js';

/** Scripts copied at once over one node's connection. */
const SCRIPT_CHANNELS = 6;

/** Where the shell of scripts/node lands on every node. */
export const NODE_SCRIPT_DIR = '/usr/local/lib/dpdkci';

export function nodeScriptPath(name: string): string {
  return `${NODE_SCRIPT_DIR}/${name}`;
}

export function localScripts(): { name: string; content: Buffer; sha256: string }[] {
  const dir = join(PROJECT_ROOT, 'scripts', 'node');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sh'))
    .sort()
    .map((name) => {
      const content = readFileSync(join(dir, name));
      return { name, content, sha256: createHash('sha256').update(content).digest('hex') };
    });
}

/** One hash over every node script: a saved node runs the scripts it was saved with. */
export function nodeScriptsHash(): string {
  const h = createHash('sha256');
  for (const s of localScripts()) h.update(`${s.name} ${s.sha256}\n`);
  return h.digest('hex');
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

export type Stale = Awaited<ReturnType<typeof staleScripts>>;

/**
 * Copies the stale scripts to each node; returns how many files were copied. `known` is what a caller has
 * just found stale on a node (the step's isDone), so that the node is not asked again.
 */
export async function pushScriptsTo(nodes: readonly Node[], known?: ReadonlyMap<Node, Stale>): Promise<number> {
  let copied = 0;
  await Promise.all(
    nodes.map(async (node) => {
      // Several at once, each on its own channel of the node's one connection (a command costs most of a
      // second on a node still finishing its boot under TCG), but fewer than sshd's MaxSessions (10 by
      // default, sshd_config(5)): an 11th script at once was refused here ("Channel open failure").
      const stale = [...(known?.get(node) ?? (await staleScripts(node)))];
      const lane = async () => {
        for (let s = stale.shift(); s; s = stale.shift()) await node.runner.run(['install', '-D', '-m', '0755', '/dev/stdin', nodeScriptPath(s.name)], { stdin: s.content });
      };
      const count = stale.length;
      await Promise.all(Array.from({ length: Math.min(SCRIPT_CHANNELS, count) }, lane));
      copied += count;
    }),
  );
  return copied;
}
