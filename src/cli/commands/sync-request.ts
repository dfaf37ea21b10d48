import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { clusterKubernetes, type ClusterRecord } from '../../core/cluster.js';
import { UsageError } from '../../core/errors.js';
import type { Places } from '../../core/places.js';
import { parseRegistry, resolveSyncSources } from '../../core/run-options.js';
import { providerOf } from '../../provider/registry.js';
import { readOciArchive } from '../../sync/oci.js';
import type { SyncRequest } from '../../sync/sync.js';

/** sync's flags as commander gives them. */
export interface SyncFlags {
  image?: string[];
  cniBin?: string[];
  manifests?: string;
  registry?: string;
  dir?: string;
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
 * sync's inputs, resolved once at the CLI into the request the domain takes: the files named, or the sync
 * directory's (--dir, DPDKCI_SYNC_DIR) when none is; each archive read, each binary hashed, the registry
 * (--registry, DPDKCI_SYNC_REGISTRY; "cluster" for the cluster's own) parsed. Every input is checked here,
 * before any node is touched, and every message names its flag.
 */
export async function resolveSyncRequest(flags: SyncFlags, record: ClusterRecord, env: NodeJS.ProcessEnv, places: Places): Promise<SyncRequest> {
  const { dir, registry: registryGiven } = resolveSyncSources({ syncRegistry: flags.registry, syncDir: flags.dir }, env);
  const given = Boolean(flags.image?.length || flags.cniBin?.length || flags.manifests);
  const fromDir = (sub: string) => (!given && existsSync(join(dir, sub)) ? [join(dir, sub)] : []);
  const imageFiles = expand(flags.image?.length ? flags.image : fromDir('images'), '--image', (f) => f.endsWith('.tar'));
  const cniFiles = expand(flags.cniBin?.length ? flags.cniBin : fromDir('cni'), '--cni-bin');
  const manifests = flags.manifests ?? fromDir('manifests')[0];
  const images = await Promise.all(imageFiles.map((f) => readOciArchive(f, '--image')));
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
  let registry = registryGiven;
  // "cluster": the registry `up` runs for this cluster.
  if (registry === 'cluster') {
    const own = providerOf(record).registry(record, places);
    if (!own) throw new UsageError(`--registry cluster: cluster "${record.prefix}" runs no registry (it was brought up with --no-registry, or on hosts); give HOST:PORT of another one`);
    registry = parseRegistry(own.address);
  }
  return { images, cniBins, ...(manifests !== undefined ? { manifests } : {}), ...(registry !== undefined ? { registry } : {}) };
}
