import { existsSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { clusterKubernetes, type ClusterRecord } from '../../core/cluster.js';
import { DpdkciError, ExitCode } from '../../core/errors.js';
import { clusterPaths } from '../../core/paths.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { sshClientOptions } from '../../../providers/qemu/provider.js';
import type { CommandContext } from '../context.js';
import { requireCluster } from './node-access.js';

/** The cluster's kubeconfig on the host, or a clear error for a cluster without (working) Kubernetes. */
function requireKubeconfig(record: ClusterRecord, env: NodeJS.ProcessEnv): string {
  const version = clusterKubernetes(record);
  if (version === 'none') {
    throw new DpdkciError(
      `cluster "${record.prefix}" has no Kubernetes (it was brought up with --kubernetes none); use dpdkci ssh --prefix ${record.prefix} NODE to reach its nodes`,
    );
  }
  const file = clusterPaths(record.prefix, env).kubeconfig;
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
  const record = requireCluster(flags.prefix, ctx.env);
  const kubeconfig = requireKubeconfig(record, ctx.env);
  const local = await execa('kubectl', ['version', '--client'], { reject: false });
  if (local.exitCode === 0) {
    return (await execa('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: 'inherit', reject: false })).exitCode ?? 1;
  }
  const node = record.nodes[0];
  if (!node) throw new DpdkciError(`cluster "${record.prefix}" records no nodes`);
  const remote = remoteCommand(['kubectl', '--kubeconfig', '/etc/kubernetes/admin.conf', ...args]);
  const ssh = [...sshClientOptions(record, node, ctx.env), '-p', String(node.sshPort), 'root@127.0.0.1', '--', remote];
  return (await execa('ssh', ssh, { stdio: 'inherit', reject: false })).exitCode ?? 255;
}

/** `dpdkci kubeconfig`: prints the kubeconfig (mode 0600 on disk) for tools of the user's own. */
export async function runKubeconfig(flags: { prefix?: string; path?: boolean }, ctx: CommandContext): Promise<number> {
  const file = requireKubeconfig(requireCluster(flags.prefix, ctx.env), ctx.env);
  ctx.out(flags.path ? file : readFileSync(file, 'utf8').trimEnd());
  return ExitCode.ok;
}
