import { UsageError } from './errors.js';
import { GUEST_HUGEPAGES_MIB, OVS_SOCKET_LIMIT_MIB } from './dataplane-limits.js';

/**
 * What a dpdkci cluster's pods request of each node, against what each node offers them, added up before
 * anything boots. The upstream figures are tested against the rendered upstream manifests
 * (test/unit/budget.test.ts), so that a new calico or multus release that asks for more fails a test.
 */
export interface PodRequest {
  name: string;
  /** every: a DaemonSet or a static pod on each node; controlPlane: node01 only; anywhere: a Deployment. */
  on: 'every' | 'controlPlane' | 'anywhere';
  replicas: number;
  cpuMilli: number;
  memoryMiB: number;
  /** Where the figure was read. */
  source: string;
}

/**
 * kubeadm's static pods and CoreDNS, from the newest stored versions of kubeadm's sources (none at v1.36.4
 * could be read; these figures have not changed for many releases). kube-proxy requests nothing
 * (kubernetes/kubernetes@0e998fac:cmd/kubeadm/app/phases/addons/proxy/manifests.go).
 */
export const KUBEADM_REQUESTS: PodRequest[] = [
  { name: 'kube-apiserver', on: 'controlPlane', replicas: 1, cpuMilli: 250, memoryMiB: 0, source: 'kubernetes/kubernetes@ad7cb45b:cmd/kubeadm/app/phases/controlplane/manifests.go' },
  { name: 'kube-controller-manager', on: 'controlPlane', replicas: 1, cpuMilli: 200, memoryMiB: 0, source: 'kubernetes/kubernetes@ad7cb45b:cmd/kubeadm/app/phases/controlplane/manifests.go' },
  { name: 'kube-scheduler', on: 'controlPlane', replicas: 1, cpuMilli: 100, memoryMiB: 0, source: 'kubernetes/kubernetes@ad7cb45b:cmd/kubeadm/app/phases/controlplane/manifests.go' },
  { name: 'etcd', on: 'controlPlane', replicas: 1, cpuMilli: 100, memoryMiB: 100, source: 'kubernetes/kubernetes@0009808f:cmd/kubeadm/app/phases/etcd/local.go' },
  { name: 'coredns', on: 'anywhere', replicas: 2, cpuMilli: 100, memoryMiB: 70, source: 'kubernetes/kubernetes@008b3652:cmd/kubeadm/app/phases/addons/dns/manifests.go (replicas: @03f2b63a:dns.go)' },
];

/** The add-ons as the pinned manifests request (checked against them by test/unit/budget.test.ts). */
export const ADDON_REQUESTS: PodRequest[] = [
  { name: 'calico-node', on: 'every', replicas: 1, cpuMilli: 250, memoryMiB: 0, source: 'projectcalico/calico@v3.31.7:manifests/calico.yaml' },
  { name: 'calico-kube-controllers', on: 'anywhere', replicas: 1, cpuMilli: 0, memoryMiB: 0, source: 'projectcalico/calico@v3.31.7:manifests/calico.yaml' },
  { name: 'kube-multus-ds', on: 'every', replicas: 1, cpuMilli: 100, memoryMiB: 50, source: 'k8snetworkplumbingwg/multus-cni@v4.2.2:deployments/multus-daemonset.yml' },
];

/** dpdkci's own pods: the smoke check's, which must fit on node01 beside everything else. */
export const SMOKE_POD_REQUEST: PodRequest = { name: 'dpdkci-smoke', on: 'controlPlane', replicas: 1, cpuMilli: 10, memoryMiB: 16, source: 'manifests/smoke/vhostuser-pod.yaml.hbs' };

/**
 * Room dpdkci keeps on node01 for what the control plane uses beyond its requests (the apiserver and etcd
 * request little and use more): dpdkci's own margin, not an upstream figure.
 */
export const CONTROL_PLANE_HEADROOM = { name: 'control-plane headroom (dpdkci)', on: 'controlPlane', replicas: 1, cpuMilli: 0, memoryMiB: 512, source: 'dpdkci' } as const satisfies PodRequest;

/** Room a DPDK pod needs (one PMD core of its own, as kubevirtci's DPDK lanes give a VM). */
export const DPDK_POD_ROOM = { cpuMilli: 1000, memoryMiB: 256 } as const;

/**
 * The kubelet's reservations (manifests/kubeadm/kubelet.yaml.hbs): memory kept for the system (kernel, OVS's
 * userspace, containerd, kubelet) and the hard eviction threshold, beside the hugepages, which the kubelet
 * takes out of allocatable memory itself.
 */
export const SYSTEM_RESERVED_MEMORY_MIB = 768;
export const EVICTION_HARD_MEMORY_MIB = 100;

export interface NodeShape {
  nodes: number;
  cpus: number;
  memoryMiB: number;
  hugepages2m: number;
  hugepages1g: number;
  dpdk: boolean;
}

/**
 * The CPUs the kubelet keeps from pods (reservedSystemCPUs): CPU 0 (the system and OVS's lcore) and, with
 * OVS-DPDK, the last vCPU, which OVS's PMD thread spins on; with strict-cpu-reservation (kubelet.yaml.hbs)
 * no container runs on them, exclusive or shared.
 */
export function reservedCpus(shape: Pick<NodeShape, 'cpus' | 'dpdk'>): number[] {
  return shape.dpdk && shape.cpus > 1 ? [0, shape.cpus - 1] : [0];
}

/** What each node offers pods: CPUs not reserved, memory left after hugepages and the reservations. */
export function allocatable(shape: NodeShape): { cpuMilli: number; memoryMiB: number; hugepages2mMiB: number } {
  const hugeMiB = shape.hugepages2m * 2 + shape.hugepages1g * 1024;
  return {
    cpuMilli: (shape.cpus - reservedCpus(shape).length) * 1000,
    memoryMiB: shape.memoryMiB - hugeMiB - SYSTEM_RESERVED_MEMORY_MIB - EVICTION_HARD_MEMORY_MIB,
    // OVS holds up to its socket limit of the 2 MiB pool; dpdkci's placeholder pod claims that share.
    hugepages2mMiB: shape.dpdk ? Math.max(0, shape.hugepages2m * 2 - OVS_SOCKET_LIMIT_MIB) : shape.hugepages2m * 2,
  };
}

export interface Budget {
  perNode: { node: string; cpuMilli: number; memoryMiB: number; pods: string[] }[];
  allocatable: ReturnType<typeof allocatable>;
}

/**
 * The requests placed as the scheduler would at worst: static pods and DaemonSets where they run, every
 * Deployment replica and the smoke pod on node01, which a 1-node cluster has to hold anyway. What is left
 * is the room for users' pods (the defaults leave DPDK_POD_ROOM and more).
 */
export function budget(shape: NodeShape): Budget {
  const all = [...KUBEADM_REQUESTS, ...ADDON_REQUESTS];
  const perNode = Array.from({ length: shape.nodes }, (_, i) => ({ node: `node${String(i + 1).padStart(2, '0')}`, cpuMilli: 0, memoryMiB: 0, pods: [] as string[] }));
  const place = (i: number, r: PodRequest) => {
    const n = perNode[i] as Budget['perNode'][number];
    n.cpuMilli += r.cpuMilli * r.replicas;
    n.memoryMiB += r.memoryMiB * r.replicas;
    n.pods.push(r.replicas > 1 ? `${r.name} x${r.replicas}` : r.name);
  };
  for (const r of all) {
    if (r.on === 'every') perNode.forEach((_, i) => place(i, r));
    else place(0, r);
  }
  place(0, SMOKE_POD_REQUEST);
  place(0, CONTROL_PLANE_HEADROOM);
  return { perNode, allocatable: allocatable(shape) };
}

/** With OVS-DPDK, the 2 MiB pages left for pods once OVS holds its share must hold one guest (QEMU nodes and hosts alike). */
export function checkPodHugepages(shape: Pick<NodeShape, 'hugepages2m' | 'dpdk'>): void {
  const left = allocatable({ nodes: 1, cpus: 1, memoryMiB: 0, hugepages1g: 0, ...shape }).hugepages2mMiB;
  if (shape.dpdk && left < GUEST_HUGEPAGES_MIB) {
    throw new UsageError(
      `--hugepages-2m: ${shape.hugepages2m} x 2M leave ${left} MiB for pods once OVS holds its ${OVS_SOCKET_LIMIT_MIB} MiB; give at least ${(OVS_SOCKET_LIMIT_MIB + GUEST_HUGEPAGES_MIB) / 2}`,
    );
  }
}

/** Refuses, before anything boots, node sizes whose pods would stay Pending, with the arithmetic. */
export function checkKubernetesFits(shape: NodeShape, via: { cpu: string; memory: string }): void {
  const b = budget(shape);
  const node = b.perNode[0] as Budget['perNode'][number];
  const reserved = reservedCpus(shape);
  if (node.cpuMilli > b.allocatable.cpuMilli) {
    const need = Math.ceil(node.cpuMilli / 1000) + reserved.length;
    throw new UsageError(
      `${via.cpu}: ${shape.cpus} vCPU is too few for Kubernetes${shape.dpdk ? ' with OVS-DPDK' : ''}: the kubelet keeps CPU ${reserved.join(' and ')} from pods ` +
        `(${shape.dpdk ? "the system and OVS's PMD" : 'the system'}), leaving ${b.allocatable.cpuMilli}m, but node01's pods request ${node.cpuMilli}m ` +
        `(${node.pods.join(', ')}); use --cpu ${need} or more (kubevirtci uses 6), or --kubernetes none`,
    );
  }
  if (node.memoryMiB > b.allocatable.memoryMiB) {
    const hugeMiB = shape.hugepages2m * 2 + shape.hugepages1g * 1024;
    const need = node.memoryMiB + hugeMiB + SYSTEM_RESERVED_MEMORY_MIB + EVICTION_HARD_MEMORY_MIB;
    throw new UsageError(
      `${via.memory}: ${shape.memoryMiB} MiB is too little for Kubernetes: ${hugeMiB} MiB of hugepages, ${SYSTEM_RESERVED_MEMORY_MIB} MiB kept for the system and ` +
        `${EVICTION_HARD_MEMORY_MIB} MiB of eviction threshold leave ${b.allocatable.memoryMiB} MiB, but node01's pods request ${node.memoryMiB} MiB (${node.pods.join(', ')}); ` +
        `use --memory ${Math.ceil(need / 1024) * 1024}M or more (kubevirtci uses 5120M)`,
    );
  }
  checkPodHugepages(shape);
}
