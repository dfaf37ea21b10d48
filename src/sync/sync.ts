import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { clusterKubernetes, type ClusterRecord } from '../core/cluster.js';
import type { Node } from '../exec/runner.js';
import { UsageError } from '../core/errors.js';
import { providerOf } from '../provider/registry.js';
import { nodeScriptPath } from '../node-scripts/scripts.js';
import { readOciArchive, type OciArchive } from './oci.js';
import { parseRegistry, pushImage } from './registry-push.js';

const SYNC = nodeScriptPath('sync.sh');

/** What a developer's build puts into the cluster, validated before any node is touched. */
export interface SyncPlan {
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

export interface SyncFlags {
  image?: string[];
  cniBin?: string[];
  manifests?: string;
  registry?: string;
}

/** sync's inputs as resolved at the CLI: the files named, else those of dir; the registry, if any. */
export interface SyncInputs {
  image?: string[];
  cniBin?: string[];
  manifests?: string;
  /** HOST:PORT, or "cluster" for the cluster's own. */
  registry?: string;
  /** Where inputs are taken from when none is named (DPDKCI_SYNC_DIR): images/*.tar, cni/*, manifests/. */
  dir: string;
}

/** Files named directly, or the files of a directory (sorted; hidden ones left out). */
function expand(paths: readonly string[], option: string, filter: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    if (!existsSync(abs)) throw new UsageError(`${option}: ${p} does not exist; give a file or a directory of them`);
    if (statSync(abs).isDirectory()) {
      out.push(...readdirSync(abs).filter((f) => !f.startsWith('.') && filter(f)).sort().map((f) => join(abs, f)).filter((f) => statSync(f).isFile()));
    } else {
      out.push(abs);
    }
  }
  return out;
}

/**
 * The sync plan from the files named, or from the sync directory's when none is. Every input is checked
 * here, before any node is touched.
 */
export async function syncPlan(flags: SyncInputs, record: ClusterRecord, env: NodeJS.ProcessEnv): Promise<SyncPlan> {
  const given = Boolean(flags.image?.length || flags.cniBin?.length || flags.manifests);
  const dir = flags.dir;
  const fromDir = (sub: string) => (!given && existsSync(join(dir, sub)) ? [join(dir, sub)] : []);
  const imageFiles = expand(flags.image?.length ? flags.image : fromDir('images'), '--image', (f) => f.endsWith('.tar'));
  const cniFiles = expand(flags.cniBin?.length ? flags.cniBin : fromDir('cni'), '--cni-bin');
  const manifests = flags.manifests ?? fromDir('manifests')[0];
  const images = await Promise.all(imageFiles.map((f) => readOciArchive(f)));
  const seen = new Map<string, string>();
  for (const i of images) {
    const other = seen.get(i.names[0] as string);
    if (other) throw new UsageError(`--image: ${i.file} and ${other} both carry ${i.names[0]}; keep one`);
    seen.set(i.names[0] as string, i.file);
  }
  const cniBins = cniFiles.map((file) => {
    const name = basename(file);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`--cni-bin: "${name}" cannot name a CNI plugin; use letters, digits, . _ -`);
    const bytes = readFileSync(file);
    return { name, file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
  });
  if (manifests !== undefined) {
    if (!existsSync(manifests)) throw new UsageError(`--manifests: ${manifests} does not exist`);
    if (clusterKubernetes(record) === 'none') {
      throw new UsageError(`--manifests: cluster "${record.prefix}" has no Kubernetes to apply them to (it was brought up with --kubernetes none)`);
    }
  }
  let registry = flags.registry;
  // "cluster": the registry `up` runs for this cluster.
  if (registry === 'cluster') {
    const own = providerOf(record).registry(record, env);
    if (!own) throw new UsageError(`--registry cluster: cluster "${record.prefix}" runs no registry (it was brought up with --no-registry, or on hosts); give HOST:PORT of another one`);
    registry = own.address;
  }
  return { images, cniBins, ...(manifests !== undefined ? { manifests } : {}), ...(registry !== undefined ? { registry: parseRegistry(registry) } : {}) };
}

async function run(node: Node, argv: string[], stdin?: Buffer): Promise<string> {
  const r = await node.runner.run([SYNC, ...argv], { timeoutMs: 600_000, ...(stdin ? { stdin } : {}) });
  return r.stdout.trim();
}

/** Images to the registry of --registry, one after the other; each skipped when the tag already points at it. */
export async function pushToRegistry(plan: SyncPlan, onChange: (c: SyncChange) => void): Promise<void> {
  if (!plan.registry) return;
  for (const image of plan.images) {
    const r = await pushImage(image, plan.registry);
    onChange({ node: 'registry', kind: 'image', name: r.ref, outcome: r.changed ? 'pushed' : 'unchanged' });
  }
}

/**
 * Images (unless they go to a registry) and CNI binaries onto every node, each skipped where the node
 * already has the same content.
 */
export async function pushToNodes(nodes: readonly Node[], plan: SyncPlan, onChange: (c: SyncChange) => void): Promise<void> {
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
 * --manifests DIR: the directory, as a tar, applied from node01 with the cluster's own (pinned) kubectl,
 * as a kustomization when it holds kustomization.yaml; what kubectl changed becomes the changes.
 */
export async function applyManifests(node: Node, dir: string, onChange: (c: SyncChange) => void): Promise<void> {
  const tar = await execa('tar', ['-C', dir, '-cf', '-', '.'], { encoding: 'buffer', reject: false });
  if (tar.exitCode !== 0) throw new UsageError(`--manifests: ${dir} cannot be read: ${Buffer.from(tar.stderr).toString().trim()}`);
  for (const c of parseApplied(await run(node, ['manifests'], Buffer.from(tar.stdout)))) onChange(c);
}

export function renderSync(changes: readonly SyncChange[]): string {
  if (changes.length === 0) return 'nothing to sync';
  const width = Math.max(...changes.map((c) => c.name.length), 4);
  return changes.map((c) => `${c.node.padEnd(8)} ${c.kind.padEnd(9)} ${c.name.padEnd(width)}  ${c.outcome}`).join('\n');
}
