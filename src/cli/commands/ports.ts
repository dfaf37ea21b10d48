import { clusterKubernetes } from '../../core/cluster.js';
import { DpdkciError, ExitCode, UsageError } from '../../core/errors.js';
import type { CommandContext } from '../context.js';
import { requireCluster, requireNode } from './node-access.js';
import { providerOf } from '../../provider/registry.js';

/**
 * The port names kubevirtci's gocli answers to in `cli.sh ports NAME`, with what each stands for there
 * (kubevirt/kubevirtci@39bd4947:cluster-provision/gocli/cmd/utils/ports.go, the Port* and PortName* constants).
 */
export const GOCLI_PORT_NAMES = {
  ssh: 'the control-plane node\'s SSH',
  'ssh-worker': 'the worker node\'s SSH',
  registry: 'the cluster registry',
  ocp: 'the OpenShift API server (8443)',
  k8s: 'the Kubernetes API server',
  vnc: 'the first VM\'s VNC (5901)',
  http: 'the ingress\' HTTP (80)',
  https: 'the ingress\' HTTPS (443)',
  console: 'the OpenShift console (443)',
  prometheus: 'Prometheus (NodePort 30007)',
  grafana: 'Grafana (NodePort 30008)',
  uploadproxy: 'CDI\'s upload proxy (NodePort 31001)',
  'uploadproxy-lowerband': 'CDI\'s upload proxy in the lower NodePort band (30085)',
  dns: 'the cluster DNS (UDP 31111)',
} as const;

/** The names dpdkci forwards: ssh is per node (ssh-worker is node02's), the others are the cluster's. */
export const PORT_NAMES = ['ssh', 'ssh-worker', 'k8s', 'registry'] as const;

/** `dpdkci ports [ssh|ssh-worker|k8s|registry] [--node NODE]`: the port this machine reaches a service on (QEMU: forwarded to 127.0.0.1). */
export async function runPorts(name: string | undefined, flags: { prefix?: string; node?: string }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  if (name !== undefined && !(PORT_NAMES as readonly string[]).includes(name)) {
    const gocli = (GOCLI_PORT_NAMES as Record<string, string>)[name];
    if (gocli) {
      // A name KubeVirt's scripts may ask for (hack/cluster-deploy.sh asks for uploadproxy): not an input error.
      throw new DpdkciError(`ports: dpdkci does not forward "${name}" (in kubevirtci, ${gocli}); it forwards ${PORT_NAMES.join(', ')}`);
    }
    throw new UsageError(`ports: "${name}" is not a forwarded port; known: ${PORT_NAMES.join(', ')}`);
  }
  const provider = providerOf(record);
  // QEMU forwards the API server to 127.0.0.1; on hosts it is the control plane's own address.
  const api = provider.kubernetesNetwork(record).api;
  const apiPort = api?.port;
  const registry = provider.registry(record, ctx.places);
  if (name === 'k8s' && !apiPort) {
    // Say so rather than print a port nothing serves.
    throw new DpdkciError(
      `cluster "${record.prefix}" forwards no k8s port: it has no Kubernetes (--kubernetes ${clusterKubernetes(record)}); its forwarded ports are ssh, one per node${registry ? ', and registry' : ''}`,
    );
  }
  if (name === 'registry' && !registry) {
    throw new DpdkciError(
      `cluster "${record.prefix}" runs no registry (it was brought up with --no-registry, or on machines dpdkci did not boot); push with dpdkci sync --registry HOST:PORT to one of your own`,
    );
  }
  if (name === 'k8s' || name === 'registry') {
    ctx.out(String(name === 'k8s' ? apiPort : registry?.port));
    return ExitCode.ok;
  }
  if (name === 'ssh-worker') {
    // gocli's 2202 is node02's SSH (kubevirt/kubevirtci@39bd4947:cluster-provision/centos10/scripts/vm.sh forwards 22NN to nodeNN).
    const worker = record.nodes[1];
    if (!worker) throw new DpdkciError(`cluster "${record.prefix}" has no worker node (it has ${record.nodes.length} node); ssh-worker is node02's SSH port, use ssh`);
    ctx.out(String(worker.sshPort));
    return ExitCode.ok;
  }
  const nodes = flags.node ? [requireNode(record, flags.node, '--node')] : record.nodes;
  if (name) {
    ctx.out(String((nodes[0] ?? record.nodes[0])!.sshPort));
  } else {
    for (const n of nodes) ctx.out(`${n.name} ssh ${provider.endpoint(record, n).host}:${n.sshPort}`);
    if (api && !flags.node) ctx.out(`${record.nodes[0]?.name} k8s ${api.host}:${api.port}`);
    if (registry && !flags.node) ctx.out(`cluster registry ${registry.address} (the nodes pull it as ${registry.pullAs})`);
  }
  return ExitCode.ok;
}
