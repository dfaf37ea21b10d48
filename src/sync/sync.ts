import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import type { Node } from '../exec/runner.js';
import { UsageError } from '../core/errors.js';
import { nodeScriptPath } from '../node-scripts/scripts.js';
import type { OciArchive } from './oci.js';
import { pushImage } from './registry-push.js';

const SYNC = nodeScriptPath('sync.sh');

/**
 * What a developer's build puts into the cluster, resolved and checked at the CLI before any node is
 * touched (src/cli/commands/sync-request.ts): the archives read, the binaries hashed, the registry parsed.
 */
export interface SyncRequest {
  images: OciArchive[];
  cniBins: { name: string; file: string; sha256: string; bytes: Buffer }[];
  manifests?: string;
  /** HOST:PORT: images go to this registry instead of into each node's containerd. */
  registry?: string;
}

export interface SyncChange {
  node: string;
  kind: 'image' | 'cni' | 'dataplane' | 'manifests';
  name: string;
  outcome: 'imported' | 'installed' | 'unchanged' | 'restored' | 'applied' | 'pushed' | 'created' | 'configured' | 'serverside-applied';
}

async function run(node: Node, argv: string[], stdin?: Buffer): Promise<string> {
  const r = await node.runner.run([SYNC, ...argv], { timeoutMs: 600_000, ...(stdin ? { stdin } : {}) });
  return r.stdout.trim();
}

/**
 * Images to the request's registry, one after the other; each skipped when the tag already points at it.
 * via names where the images came from (e.g. --image) in messages about their contents.
 */
export async function pushToRegistry(plan: SyncRequest, onChange: (c: SyncChange) => void, via: string): Promise<void> {
  if (!plan.registry) return;
  for (const image of plan.images) {
    const r = await pushImage(image, plan.registry, via);
    onChange({ node: 'registry', kind: 'image', name: r.ref, outcome: r.changed ? 'pushed' : 'unchanged' });
  }
}

/**
 * Images (unless they go to a registry) and CNI binaries onto every node, each skipped where the node
 * already has the same content.
 */
export async function pushToNodes(nodes: readonly Node[], plan: SyncRequest, onChange: (c: SyncChange) => void): Promise<void> {
  const images = plan.registry ? [] : plan.images.map((i) => ({ ...i, bytes: readFileSync(i.file) }));
  await Promise.all(
    nodes.map(async (node) => {
      for (const image of images) {
        const name = image.names[0] as string;
        if ((await run(node, ['image-digest', name])) === image.digest) {
          onChange({ node: node.name, kind: 'image', name, outcome: 'unchanged' });
          continue;
        }
        await run(node, ['image'], image.bytes);
        const now = await run(node, ['image-digest', name]);
        if (now !== image.digest) {
          throw new UsageError(`${node.name}: containerd reports ${name} as ${now || 'absent'} after importing ${image.file}, whose index says ${image.digest}`);
        }
        onChange({ node: node.name, kind: 'image', name, outcome: 'imported' });
      }
      for (const bin of plan.cniBins) {
        if ((await run(node, ['cni-sum', bin.name])) === bin.sha256) {
          onChange({ node: node.name, kind: 'cni', name: bin.name, outcome: 'unchanged' });
          continue;
        }
        await run(node, ['cni', bin.name], bin.bytes);
        onChange({ node: node.name, kind: 'cni', name: bin.name, outcome: 'installed' });
      }
    }),
  );
}

/** kubectl apply's "deployment.apps/x created" lines as changes; "unchanged" is kubectl's word too. */
export function parseApplied(stdout: string): SyncChange[] {
  return stdout
    .split('\n')
    .map((l) => /^(\S+\/\S+) (created|configured|unchanged|serverside-applied)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ node: 'cluster', kind: 'manifests' as const, name: m[1] as string, outcome: m[2] as SyncChange['outcome'] }));
}

/**
 * A manifests directory, as a tar, applied from node01 with the cluster's own (pinned) kubectl, as a
 * kustomization when it holds kustomization.yaml; what kubectl changed becomes the changes. via names where
 * the directory came from (e.g. --manifests) in messages.
 */
export async function applyManifests(node: Node, dir: string, onChange: (c: SyncChange) => void, via: string): Promise<void> {
  const tar = await execa('tar', ['-C', dir, '-cf', '-', '.'], { encoding: 'buffer', reject: false });
  if (tar.exitCode !== 0) throw new UsageError(`${via}: ${dir} cannot be read: ${Buffer.from(tar.stderr).toString().trim()}`);
  for (const c of parseApplied(await run(node, ['manifests'], Buffer.from(tar.stdout)))) onChange(c);
}

export function renderSync(changes: readonly SyncChange[]): string {
  if (changes.length === 0) return 'nothing to sync';
  const width = Math.max(...changes.map((c) => c.name.length), 4);
  return changes.map((c) => `${c.node.padEnd(8)} ${c.kind.padEnd(9)} ${c.name.padEnd(width)}  ${c.outcome}`).join('\n');
}
