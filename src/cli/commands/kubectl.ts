import { clusterKubernetes, type ClusterRecord } from '../../core/cluster.js';
import { DpdkciError } from '../../core/errors.js';
import type { CommandContext } from '../context.js';
import { requireCluster } from './node-access.js';

/** The cluster's Kubernetes, or a clear error for a cluster brought up without it. */
function requireKubernetes(record: ClusterRecord): never {
  const version = clusterKubernetes(record);
  if (version === 'none') {
    throw new DpdkciError(
      `cluster "${record.prefix}" has no Kubernetes (it was brought up with --kubernetes none); use dpdkci ssh --prefix ${record.prefix} NODE to reach its nodes`,
    );
  }
  throw new DpdkciError(`cluster "${record.prefix}" records Kubernetes ${version}, which this dpdkci cannot reach; bring it up again with this dpdkci`);
}

export async function runKubectl(_args: string[], flags: { prefix?: string }, ctx: CommandContext): Promise<number> {
  return requireKubernetes(requireCluster(flags.prefix, ctx.env));
}

export async function runKubeconfig(flags: { prefix?: string }, ctx: CommandContext): Promise<number> {
  return requireKubernetes(requireCluster(flags.prefix, ctx.env));
}
