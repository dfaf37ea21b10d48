import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { execa } from 'execa';
import { clusterKubernetes, type ClusterRecord } from '../../core/cluster.js';
import { DpdkciError, ExitCode, UsageError } from '../../core/errors.js';
import { artefactCache, clusterPaths } from '../../core/paths.js';
import type { Places } from '../../core/places.js';
import { fetchArtifact } from '../../fetch/fetcher.js';
import { resolveKubernetesSources } from '../../core/run-options.js';
import { lockFile, type LockedFile } from '../../versions/lock.js';
import { loadEffectiveLock } from '../../versions/user-lock.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';
import { requireCluster } from './node-access.js';

/** The cluster's kubeconfig on the host, or a clear error for a cluster without (working) Kubernetes. */
function requireKubeconfig(record: ClusterRecord, places: Places): string {
  const version = clusterKubernetes(record);
  if (version === 'none') {
    throw new DpdkciError(
      `cluster "${record.prefix}" has no Kubernetes (it was brought up with --kubernetes none); use dpdkci ssh --prefix ${record.prefix} NODE to reach its nodes`,
    );
  }
  const file = clusterPaths(record.prefix, places).kubeconfig;
  if (!existsSync(file)) {
    throw new DpdkciError(`cluster "${record.prefix}" has no kubeconfig yet (${file}): its up did not get past kubeadm init; run dpdkci up --prefix ${record.prefix} again`);
  }
  return file;
}

/**
 * `dpdkci kubectl ARGS`: the host's kubectl with the cluster's kubeconfig (its server the API port forwarded
 * on 127.0.0.1); on a host without kubectl, the control-plane node's own kubectl over SSH.
 */
export async function runKubectl(args: string[], flags: { prefix?: string }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  const kubeconfig = requireKubeconfig(record, ctx.places);
  const local = await execa('kubectl', ['version', '--client'], { reject: false });
  if (local.exitCode === 0) {
    return (await execa('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: 'inherit', reject: false })).exitCode ?? 1;
  }
  const node = record.nodes[0];
  if (!node) throw new DpdkciError(`cluster "${record.prefix}" records no nodes`);
  const remote = remoteCommand(['kubectl', '--kubeconfig', '/etc/kubernetes/admin.conf', ...args]);
  const client = providerFor(record).sshClient(record, node, ctx.places);
  const ssh = [...client.options, '-p', String(client.port), client.destination, '--', remote];
  return (await execa('ssh', ssh, { stdio: 'inherit', reject: false })).exitCode ?? 255;
}

/** The lock's kubectl of the cluster's Kubernetes version: the file installed as .../kubectl on its nodes. */
function pinnedKubectl(record: ClusterRecord, places: Places): LockedFile & { sha256: string } {
  const minor = clusterKubernetes(record);
  if (minor === 'none') {
    throw new DpdkciError(`cluster "${record.prefix}" has no Kubernetes (it was brought up with --kubernetes none), so there is no kubectl of its version`);
  }
  const file = lockFile(places);
  const lock = loadEffectiveLock(places).lock;
  const version = lock.kubernetes.versions[minor];
  if (!version) {
    throw new DpdkciError(
      `cluster "${record.prefix}" runs Kubernetes ${minor}, which ${file} no longer pins (it pins ${Object.keys(lock.kubernetes.versions).join(', ')}); bring the cluster up again with one of those`,
    );
  }
  const kubectl = version.files.find((f) => f.install !== undefined && basename(f.install) === 'kubectl');
  if (!kubectl) throw new DpdkciError(`${file}: Kubernetes ${minor} pins no kubectl (no file installed as .../kubectl)`);
  if (!kubectl.sha256) throw new DpdkciError(`${file}: ${kubectl.name} has no sha256 recorded yet; record it with dpdkci versions --resolve`);
  return { ...kubectl, sha256: kubectl.sha256 };
}

/**
 * `dpdkci kubectl --binary`: the path of the pinned kubectl of the cluster's Kubernetes version, the same file
 * its nodes were given: from the bundle (--bundle, DPDKCI_BUNDLE), else the artefact cache, else fetched into
 * it (--mirror, DPDKCI_MIRROR), its sha256 checked against the lock either way.
 */
export async function runKubectlBinary(flags: { prefix?: string; bundle?: string; mirror?: string }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  const kubectl = pinnedKubectl(record, ctx.places);
  const { bundleDir, mirror } = resolveKubernetesSources(flags, ctx.env);
  const path = await fetchArtifact(kubectl, {
    cacheDir: artefactCache(ctx.places),
    ...(bundleDir !== undefined ? { bundleDir: resolve(bundleDir) } : {}),
    ...(mirror ? { mirror } : {}),
    signal: ctx.signal,
  });
  ctx.out(path);
  return ExitCode.ok;
}

/** `dpdkci kubectl [--binary] [-- ARGS]`: --binary prints where the pinned kubectl is, else runs kubectl. */
export async function runKubectlCommand(
  args: string[],
  flags: { prefix?: string; binary?: boolean; bundle?: string; mirror?: string },
  ctx: CommandContext,
): Promise<number> {
  if (!flags.binary) {
    if (flags.bundle !== undefined || flags.mirror !== undefined) throw new UsageError('kubectl: --bundle and --mirror go with --binary (where the pinned kubectl comes from)');
    return runKubectl(args, { prefix: flags.prefix }, ctx);
  }
  if (args.length) throw new UsageError(`kubectl --binary: takes no kubectl arguments (got ${args.join(' ')}); run them with dpdkci kubectl -- ARGS`);
  return runKubectlBinary(flags, ctx);
}

/** `dpdkci kubeconfig`: prints the kubeconfig (mode 0600 on disk) for tools of the user's own. */
export async function runKubeconfig(flags: { prefix?: string; path?: boolean }, ctx: CommandContext): Promise<number> {
  const file = requireKubeconfig(requireCluster(flags.prefix, ctx.env, ctx.places), ctx.places);
  ctx.out(flags.path ? file : readFileSync(file, 'utf8').trimEnd());
  return ExitCode.ok;
}
