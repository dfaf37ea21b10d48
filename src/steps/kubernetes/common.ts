import { randomBytes } from 'node:crypto';
import type { Node } from '../../exec/runner.js';
import { CommandError, DpdkciError } from '../../core/errors.js';
import { BRIDGE } from '../../dataplane/plan.js';
import { EVICTION_HARD_MEMORY_MIB, reservedCpus, SYSTEM_RESERVED_MEMORY_MIB } from '../../core/kubernetes-budget.js';
import type { ManifestInput } from '../../kubernetes/manifests.js';
import { kubernetesVersion, pauseImage, type Lock } from '../../versions/lock.js';
import { providerOf } from '../../provider/registry.js';
import { nodeScriptPath } from '../../node-scripts/scripts.js';
import { planFor } from '../dataplane/index.js';
import { need, type UpContext } from '../context.js';

/** What the Kubernetes steps share: the node script, the node network, the rendered input, check/apply. */
export const SCRIPT = nodeScriptPath('kubernetes.sh');
export const NAD_NAME = 'userspace-ovs-net-1';
/** Where a host's own kubelet settings wait for kubeadm init or join (a kubeletconfiguration merge patch). */
export const KUBELET_PATCHES_DIR = '/etc/dpdkci/kubeadm-patches';
export const KUBELET_PATCH_FILE = `${KUBELET_PATCHES_DIR}/kubeletconfiguration+merge.yaml`;

export const enabled = (ctx: UpContext) => ctx.options.kubernetes !== 'none';

/** The node IPs, the node network and the API server as the cluster's provider has them. */
export function kubernetesNetwork(ctx: Pick<UpContext, 'record'>) {
  const record = need(ctx.record, 'cluster record');
  return providerOf(record).kubernetesNetwork(record);
}

/** A node's IP on the Kubernetes node network. */
export function nodeIpOf(ctx: Pick<UpContext, 'record'>, name: string): string {
  const ip = kubernetesNetwork(ctx).nodeIps[name];
  if (!ip) throw new DpdkciError(`internal: node ${name} has no IP on the Kubernetes node network`);
  return ip;
}

/** The kernel-owned secondary NIC that carries the node network: the one after DPDK's, or the first. */
export function kubernetesNicPci(options: UpContext['options']): string {
  return providerOf(options).nics(options).nodeNetwork;
}

export function lockOf(ctx: UpContext): Lock {
  return need(ctx.kubernetes, 'Kubernetes sources').lock;
}

/** A kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}. */
export function bootstrapToken(bytes: Buffer = randomBytes(22)): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  return `${chars.slice(0, 6)}.${chars.slice(6, 22)}`;
}

/**
 * kubeadm's waits under TCG: its defaults (4 min for the control plane and the kubelet; the field names are
 * kubernetes/kubernetes@v1.36.4:cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go, Timeouts) are made for
 * hardware, and an emulated apiserver and etcd can take longer to start.
 */
export const TCG_TIMEOUTS = { controlPlaneComponentHealthCheck: '15m0s', kubeletHealthCheck: '15m0s', kubernetesAPICall: '5m0s', tlsBootstrap: '15m0s', discovery: '15m0s' } as const;

/**
 * How long a control plane whose kubeadm init completed is given to answer again after its node restarted:
 * as long as kubeadm itself gives a control plane to start (its 4 min default, TCG_TIMEOUTS under TCG).
 */
export function apiReturnSeconds(ctx: Pick<UpContext, 'accel' | 'record'>): number {
  return (ctx.accel?.accel ?? need(ctx.record, 'cluster record').accel) === 'tcg' ? 15 * 60 : 4 * 60;
}

/** What the templates in manifests/ are rendered from, for this cluster. */
export function manifestInput(ctx: UpContext, credentials: { token: string; caCertHash: string }): ManifestInput {
  const version = kubernetesVersion(lockOf(ctx), ctx.options.kubernetes);
  const record = need(ctx.record, 'cluster record');
  const network = kubernetesNetwork(ctx);
  const nodes = record.nodes.map((n) => ({ name: n.name, ip: nodeIpOf(ctx, n.name), index: n.index }));
  const accel = ctx.accel?.accel ?? record.accel;
  const cpus = providerOf(record).kubeletCpus(record, ctx.options);
  return {
    clusterName: ctx.options.prefix,
    kubernetes: version,
    controlPlane: nodes[0] as ManifestInput['controlPlane'],
    workers: nodes.slice(1),
    // calico finds each node's address in the node network's CIDR, or, on a lab's own network, as its Node's InternalIP (the kubelet's node-ip).
    ipAutodetection: network.cidr ? `cidr=${network.cidr}` : 'kubernetes-internal-ip',
    bootstrapToken: credentials.token,
    caCertHash: credentials.caCertHash,
    kubelet: {
      reservedSystemCpus: reservedCpus({ cpus: cpus.cpus, dpdk: ctx.options.dpdk }).join(','),
      systemReservedMemoryMiB: SYSTEM_RESERVED_MEMORY_MIB,
      evictionHardMemoryMiB: EVICTION_HARD_MEMORY_MIB,
      topologyManagerPolicy: 'best-effort',
    },
    timeouts: accel === 'tcg' ? { ...TCG_TIMEOUTS } : null,
    kubeletPatchesDir: cpus.perNode ? KUBELET_PATCHES_DIR : null,
    ovsHugepagesMiB: planFor(ctx).socketLimitMiB,
    socketDir: ctx.options.vhostSocketDir,
    bridge: BRIDGE,
    pauseImage: pauseImage(version).ref,
    nad: { name: NAD_NAME, namespace: 'default', bridge: BRIDGE },
  };
}

/** Runs a kubernetes.sh check: false when in place (exit 0), true when apply has work (exit 3). */
export async function pending(node: Node, step: string, args: string[]): Promise<boolean> {
  const r = await node.runner.run([SCRIPT, 'check', ...args], { check: false, timeoutMs: 120_000 });
  if (r.exitCode === 0) return false;
  if (r.exitCode === 3) return true;
  throw new DpdkciError(`${node.name}: ${step}: ${(r.stderr || r.stdout).trim()}`);
}

export async function apply(node: Node, step: string, args: string[], stdin?: string, timeoutMs = 900_000): Promise<string> {
  try {
    return (await node.runner.run([SCRIPT, 'apply', ...args], { timeoutMs, ...(stdin !== undefined ? { stdin } : {}) })).stdout;
  } catch (e) {
    if (e instanceof CommandError) throw new DpdkciError(`${node.name}: ${step} failed:\n${(e.stderr || e.stdout).trim()}`, { cause: e });
    throw e;
  }
}

export const controlPlane = (ctx: UpContext): Node => need(ctx.nodes, 'nodes')[0] as Node;
export const workers = (ctx: UpContext): Node[] => need(ctx.nodes, 'nodes').slice(1);
export const plannedNames = (ctx: UpContext) => need(ctx.record, 'cluster record').nodes.map((n) => n.name);
