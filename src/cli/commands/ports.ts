import { clusterKubernetes } from '../../core/cluster.js';
import { DpdkciError, ExitCode, UsageError } from '../../core/errors.js';
import type { CommandContext } from '../context.js';
import { requireCluster, requireNode } from './node-access.js';

/** kubevirtci's `cli.sh ports NAME` names; ssh is per node, the others are the cluster's. */
export const PORT_NAMES = ['ssh', 'k8s', 'registry'] as const;

/** `dpdkci ports [ssh|k8s|registry] [--node NODE]`: the host port (on 127.0.0.1) forwarded to a service. */
export async function runPorts(name: string | undefined, flags: { prefix?: string; node?: string }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env);
  if (name !== undefined && !(PORT_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`ports: "${name}" is not a forwarded port; known: ${PORT_NAMES.join(', ')}`);
  }
  const apiPort = record.nodes[0]?.apiPort;
  if (name === 'k8s' && !apiPort) {
    // Say so rather than print a port nothing serves.
    throw new DpdkciError(
      `cluster "${record.prefix}" forwards no k8s port: it has no Kubernetes (--kubernetes ${clusterKubernetes(record)}); its forwarded ports are ssh, one per node${record.registryPort ? ', and registry' : ''}`,
    );
  }
  if (name === 'registry' && !record.registryPort) {
    throw new DpdkciError(
      `cluster "${record.prefix}" runs no registry (it was brought up with --no-registry, or by a dpdkci without registries); bring it up again without --no-registry, or push with dpdkci sync --registry HOST:PORT to one of your own`,
    );
  }
  if (name === 'k8s' || name === 'registry') {
    ctx.out(String(name === 'k8s' ? apiPort : record.registryPort));
    return ExitCode.ok;
  }
  const nodes = flags.node ? [requireNode(record, flags.node, '--node')] : record.nodes;
  if (name) {
    ctx.out(String((nodes[0] ?? record.nodes[0])!.sshPort));
  } else {
    for (const n of nodes) ctx.out(`${n.name} ssh 127.0.0.1:${n.sshPort}`);
    if (apiPort && !flags.node) ctx.out(`${record.nodes[0]?.name} k8s 127.0.0.1:${apiPort}`);
    if (record.registryPort && !flags.node) ctx.out(`cluster registry 127.0.0.1:${record.registryPort} (the nodes pull it as registry:5000)`);
  }
  return ExitCode.ok;
}
