import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { parseAllDocuments } from 'yaml';
import { DpdkciError } from '../core/errors.js';
import { PROJECT_ROOT } from '../core/paths.js';
import type { KubernetesVersion } from '../versions/lock.js';
import { netConfPath, netConfText } from './vhostuser-network.js';

export const MANIFESTS_DIR = join(PROJECT_ROOT, 'manifests');

/** A node as the Kubernetes layer sees it: its name, its address on the node network, its number in the cluster (1-based). */
export interface KubeNode {
  name: string;
  ip: string;
  index: number;
}

/** Everything the templates in manifests/ are rendered from. */
export interface ManifestInput {
  clusterName: string;
  kubernetes: Pick<KubernetesVersion, 'release' | 'podSubnet' | 'serviceSubnet'>;
  controlPlane: KubeNode;
  workers: KubeNode[];
  /** How calico finds a node's address: cidr=192.168.66.0/24 on QEMU's node network, kubernetes-internal-ip on a lab's. */
  ipAutodetection: string;
  bootstrapToken: string;
  caCertHash: string;
  kubelet: {
    reservedSystemCpus: string;
    systemReservedMemoryMiB: number;
    evictionHardMemoryMiB: number;
    topologyManagerPolicy: 'none' | 'best-effort' | 'restricted' | 'single-numa-node';
  };
  /**
   * Hosts differ in their CPUs, so each gets its reservedSystemCPUs from a kubeadm patch in this directory
   * (v1beta4 InitConfiguration/JoinConfiguration `patches.directory`, target kubeletconfiguration:
   * kubernetes/kubernetes@94341df3:cmd/kubeadm/app/util/patches/patches.go); null on QEMU nodes, all alike.
   */
  kubeletPatchesDir: string | null;
  /** kubeadm's waits, longer under TCG (apiserver and etcd start minutes slower); none: kubeadm's defaults. */
  timeouts: { controlPlaneComponentHealthCheck: string; kubeletHealthCheck: string; kubernetesAPICall: string; tlsBootstrap: string; discovery: string } | null;
  /** The 2 MiB hugepages OVS-DPDK may hold on each DPDK node (its socket limit). */
  ovsHugepagesMiB: number;
  socketDir: string;
  bridge: string;
  pauseImage: string;
  /** The vhost-user network: the NAD's name and namespace, the bridge each node's own CNI file puts pods on. */
  nad: { name: string; namespace: string; bridge: string };
}

export interface Rendered {
  /** manifests/ path of the template, without .hbs; with the node for per-node files. */
  name: string;
  text: string;
  docs: Record<string, unknown>[];
}

const hb = Handlebars.create();
hb.registerHelper('json', (value: unknown) => JSON.stringify(value));
hb.registerPartial('kubelet', readFileSync(join(MANIFESTS_DIR, 'kubeadm', 'kubelet.yaml.hbs'), 'utf8'));

function render(template: string, context: object, name = template.replace(/\.hbs$/, '')): Rendered {
  const source = readFileSync(join(MANIFESTS_DIR, template), 'utf8');
  // strict: a missing value is an error, never an empty string in a manifest; noEscape: YAML, not HTML.
  let text: string;
  try {
    text = hb.compile(source, { strict: true, noEscape: true })(context);
  } catch (e) {
    throw new DpdkciError(`${name}: a value the template needs is missing (${(e as Error).message})`);
  }
  const parsed = parseAllDocuments(text);
  const docs: Record<string, unknown>[] = [];
  for (const doc of Array.isArray(parsed) ? parsed : [parsed]) {
    if (doc.errors.length) throw new DpdkciError(`${name}: the rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Record<string, unknown> | null;
    if (value) docs.push(value);
  }
  return { name, text, docs };
}

export function renderInit(input: ManifestInput): Rendered {
  return render('kubeadm/init.yaml.hbs', input);
}

export function renderJoin(input: ManifestInput, node: KubeNode): Rendered {
  return render('kubeadm/join.yaml.hbs', { ...input, node }, `kubeadm/join.yaml (${node.name})`);
}

/** What dpdkci adds to the cluster after kubeadm, besides calico's and multus' own manifests. */
export function renderAddons(input: ManifestInput): { calicoPatch: Rendered; ovsHugepages: Rendered; nad: Rendered } {
  return {
    calicoPatch: render('calico/overrides.yaml.hbs', input),
    ovsHugepages: render('dpdk/ovs-hugepages.yaml.hbs', input),
    nad: render('nad/userspace-ovs-net.yaml.hbs', input),
  };
}

/** Node's own CNI configuration of the vhost-user network, which thin multus reads for the NAD (src/kubernetes/vhostuser-network.ts). */
export function renderNetConf(input: ManifestInput, node: KubeNode): Rendered {
  const text = netConfText(input.nad.name, input.nad.bridge, node.index);
  return { name: `${netConfPath(input.nad.name).replace(/^\//, '')} (${node.name})`, text, docs: [JSON.parse(text) as Record<string, unknown>] };
}

/** The smoke check's pod on one node, attached to the NAD. */
export function renderSmokePod(input: ManifestInput, node: string): Rendered {
  return render('smoke/vhostuser-pod.yaml.hbs', { ...input, node });
}

/** Every manifest of a cluster, in the order they are applied; kubeadm join once per worker, the CNI file on every node. */
export function renderManifests(input: ManifestInput): Rendered[] {
  const addons = renderAddons(input);
  return [
    renderInit(input),
    ...input.workers.map((node) => renderJoin(input, node)),
    ...[input.controlPlane, ...input.workers].map((node) => renderNetConf(input, node)),
    addons.calicoPatch,
    addons.ovsHugepages,
    addons.nad,
    renderSmokePod(input, input.controlPlane.name),
  ];
}
