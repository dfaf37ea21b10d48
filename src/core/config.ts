import { resolve as resolvePath } from 'node:path';
import { UsageError } from './errors.js';
import { boolean, integer, kubernetesOption, parseMemoryMiB, readHostFacts, splitArgs, type HostFacts, type Source } from './option-values.js';
import { OPTION_SPECS, pick, type RawFlags } from './option-table.js';
import { checkKubernetesFits, checkPodHugepages } from './kubernetes-budget.js';
import { DEFAULT_SOCKET_DIR, DPDK_DEFAULT_HUGEPAGES_2M, GUEST_HUGEPAGES_MIB, LONGEST_SOCKET_NAME, OVS_SOCKET_MEM_MIB, SUN_PATH_MAX } from './dataplane-limits.js';

export { parseDuration, parseMemoryMiB, readHostFacts, splitArgs, type HostFacts } from './option-values.js';
export { OPTION_SPECS, type RawFlags } from './option-table.js';

/**
 * Cluster options: flag over kubevirtci-style environment variable over default, validated in one place.
 * Every message names the option (and the variable, when that is where the value came from), the value
 * and the fix.
 */
export type Accel = 'auto' | 'kvm' | 'tcg';

export interface ClusterOptions {
  prefix: string;
  nodes: number;
  memoryMiB: number;
  cpus: number;
  hugepages2m: number;
  hugepages1g: number;
  secondaryNics: number;
  kernelArgs: string[];
  qemuArgs: string[];
  accel: Accel;
  /** OVS-DPDK on every node (--dpdk). */
  dpdk: boolean;
  vfioNoiommu: boolean;
  vhostSocketDir: string;
  /** Forward from random free ports (parallel CI jobs on one host), not from 2201 up. */
  randomPorts: boolean;
  /** An image registry per cluster on the host, which the nodes pull from as registry:5000 (on unless --no-registry). */
  registry: boolean;
  /**
   * A Kubernetes minor version ("1.36"), "none" for the OVS-DPDK nodes alone, or "auto" until `up` has
   * found out whether the default minor's artefacts can be had (then it resolves again with one of the two).
   */
  kubernetes: string;
  /** What --secondary-nics asked for: NICs besides dpdkci's own (DPDK's, the Kubernetes node network). */
  extraNics: number;
  /** Who runs the nodes: QEMU VMs dpdkci boots, or machines of an inventory (hosts). */
  provider: ProviderName;
  /** hosts: the inventory file (absolute); '' with QEMU. */
  inventory: string;
}

/** The providers' names; each has its provider and provisioner in src/cli/providers.ts (the compiler holds them to this list). */
export const PROVIDER_NAMES = ['qemu', 'hosts'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Options that shape QEMU nodes; the hosts provider takes machines as they are and refuses them. */
const QEMU_ONLY: (keyof ClusterOptions)[] = ['nodes', 'memoryMiB', 'cpus', 'accel', 'kernelArgs', 'qemuArgs', 'secondaryNics', 'randomPorts'];

/**
 * Node sizes when the cluster runs Kubernetes and the user gave none: kubevirtci's own defaults
 * (kubevirt/kubevirtci@39bd4947:cluster-up/hack/common.sh, KUBEVIRT_NUM_VCPU=6, KUBEVIRT_MEMORY_SIZE=5120M),
 * which leave room for a DPDK pod beside the control plane, calico, multus and OVS (src/core/kubernetes-budget.ts).
 */
export const KUBERNETES_DEFAULTS = { cpus: '6', memory: '5120M' } as const;

export const LIMITS = {
  maxNodes: 16,
  minMemoryMiB: 1024,
  maxCpus: 64,
  /** Memory a node keeps for its kernel and userspace beside the hugepages. */
  osReserveMiB: 768,
  maxSecondaryNics: 4,
} as const;

export const PREFIX_PATTERN = /^[a-z0-9][a-z0-9-]{0,23}$/;

export function resolveClusterOptions(
  flags: RawFlags,
  env: NodeJS.ProcessEnv,
  host: HostFacts = readHostFacts(),
): ClusterOptions {
  const prefix = resolvePrefix(typeof flags.prefix === "string" ? flags.prefix : undefined, env);
  const { provider, inventory } = resolveProvider(flags, env);
  const hosts = provider === 'hosts';

  const nodes = integer(pick('nodes', flags, env), 1, LIMITS.maxNodes, `use a node count from 1 to ${LIMITS.maxNodes} (e.g. --nodes 2)`);
  const kubernetesSrc = pick('kubernetes', flags, env);
  // On hosts Kubernetes is installed only when asked for by version: auto would install it on a lab's
  // machines whenever its artefacts happen to be at hand.
  const kubernetes = hosts && kubernetesSrc.value === 'auto' ? 'none' : kubernetesOption(kubernetesSrc);
  const withKubernetes = kubernetes !== 'none' && kubernetes !== 'auto';
  // With Kubernetes the defaults grow to what its pods request (kubevirtci's sizes).
  const sized = (key: 'cpus' | 'memoryMiB', value: string): Source => {
    const src = pick(key, flags, env);
    return withKubernetes && src.via.endsWith('(default)') ? { value, via: `${OPTION_SPECS[key].flag} (default with --kubernetes)` } : src;
  };
  const cpus = integer(sized('cpus', KUBERNETES_DEFAULTS.cpus), 1, LIMITS.maxCpus, `use a vCPU count from 1 to ${LIMITS.maxCpus} (e.g. --cpu 2)`);

  const memSrc = sized('memoryMiB', KUBERNETES_DEFAULTS.memory);
  const memoryMiB = parseMemoryMiB(memSrc.value);
  if (memoryMiB === undefined) {
    throw new UsageError(`${memSrc.via}: "${memSrc.value}" is not a memory size; write it like 3072M or 3G`);
  }
  if (memoryMiB < LIMITS.minMemoryMiB) {
    throw new UsageError(
      `${memSrc.via}: ${memSrc.value} is ${memoryMiB} MiB, too little for a node; give at least ${LIMITS.minMemoryMiB}M (e.g. --memory 3072M)` +
        (/^\d+$/.test(memSrc.value.trim()) ? ' — a plain number is read as MiB' : ''),
    );
  }

  const dpdk = boolean(pick('dpdk', flags, env));
  if (hosts && !dpdk) {
    throw new UsageError('--provider hosts: dpdkci converges OVS-DPDK on the machines of the inventory and nothing else yet; add --dpdk (DPDKCI_DPDK=true)');
  }
  const hp2Picked = pick('hugepages2m', flags, env);
  // --dpdk raises the default: OVS and at least one guest need hugepages.
  const hp2Src = dpdk && hp2Picked.via.endsWith('(default)') ? { value: String(DPDK_DEFAULT_HUGEPAGES_2M), via: '--hugepages-2m (default with --dpdk)' } : hp2Picked;
  const hugepages2m = integer(hp2Src, 0, 1_000_000, 'give a count of 2 MiB pages (e.g. --hugepages-2m 512)');
  const hp1Src = pick('hugepages1g', flags, env);
  const hugepages1g = integer(hp1Src, 0, 1024, 'give a count of 1 GiB pages (e.g. --hugepages-1g 1)');
  const hugeMiB = hugepages2m * 2 + hugepages1g * 1024;
  if (!hosts && hugeMiB + LIMITS.osReserveMiB > memoryMiB) {
    const via = hugepages1g > 0 && hugepages2m * 2 < memoryMiB - LIMITS.osReserveMiB ? hp1Src.via : hp2Src.via;
    const maxPages = Math.max(0, Math.floor((memoryMiB - LIMITS.osReserveMiB - hugepages1g * 1024) / 2));
    throw new UsageError(
      `${via}: ${hugepages2m} x 2M + ${hugepages1g} x 1G hugepages (${hugeMiB} MiB) do not fit in ${memoryMiB} MiB of node memory, ` +
        `which must also keep ${LIMITS.osReserveMiB} MiB for the system; lower the hugepages (at most ${maxPages} x 2M with this memory) or raise --memory`,
    );
  }

  if (dpdk) {
    if (cpus < 2) {
      throw new UsageError(`--cpu: ${cpus} vCPU cannot run OVS-DPDK, whose poll-mode thread takes a vCPU of its own; use --cpu 2 or more with --dpdk`);
    }
    const needMiB = OVS_SOCKET_MEM_MIB + GUEST_HUGEPAGES_MIB;
    if (hugeMiB < needMiB) {
      throw new UsageError(
        `${hp2Src.via}: ${hugeMiB} MiB of hugepages leave no room for OVS-DPDK (${OVS_SOCKET_MEM_MIB} MiB) and one guest (${GUEST_HUGEPAGES_MIB} MiB); ` +
          `give at least ${needMiB / 2} x 2M (e.g. --hugepages-2m ${DPDK_DEFAULT_HUGEPAGES_2M}) or --hugepages-1g 1`,
      );
    }
  }

  const total = nodes * memoryMiB;
  if (!hosts && total > host.memAvailableMiB) {
    throw new UsageError(
      `--memory/--nodes: ${nodes} node(s) x ${memoryMiB} MiB = ${total} MiB, but this host has only ${host.memAvailableMiB} MiB available; ` +
        `lower --memory or --nodes, or free memory on the host`,
    );
  }

  // dpdkci's own NICs on the secondary network: DPDK's first, then the Kubernetes node network; the
  // user's come after them. A node always has one, so that nodes without either still share a network.
  const ownNics = (dpdk ? 1 : 0) + (withKubernetes ? 1 : 0);
  const nicsSrc = pick('secondaryNics', flags, env);
  const maxExtra = LIMITS.maxSecondaryNics - ownNics;
  const extraNics = integer(nicsSrc, 0, maxExtra, `use 0 to ${maxExtra} NICs besides dpdkci's own ${ownNics} (${LIMITS.maxSecondaryNics} in all; e.g. --secondary-nics 1)`);
  const secondaryNics = Math.max(1, ownNics + extraNics);

  const accelSrc = pick('accel', flags, env);
  if (!['auto', 'kvm', 'tcg'].includes(accelSrc.value)) {
    throw new UsageError(`${accelSrc.via}: "${accelSrc.value}" is not an accelerator; use auto, kvm or tcg`);
  }

  const kernelSrc = pick('kernelArgs', flags, env);
  if (/[\n\r\0]/.test(kernelSrc.value)) {
    throw new UsageError(`${kernelSrc.via}: kernel arguments cannot contain newlines or NUL bytes`);
  }

  const socketSrc = pick('vhostSocketDir', flags, env);
  const socketDir = socketSrc.value.replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9_./-]+$/.test(socketDir) || socketDir.split('/').includes('..')) {
    throw new UsageError(`${socketSrc.via}: "${socketSrc.value}" must be an absolute path of letters, digits, _ . - and / (e.g. ${DEFAULT_SOCKET_DIR})`);
  }
  const longest = `${socketDir}/${LONGEST_SOCKET_NAME}`;
  if (longest.length > SUN_PATH_MAX - 20) {
    throw new UsageError(
      `${socketSrc.via}: "${socketDir}" is too long: a vhost-user socket path in it (${longest.length}+ bytes, with room for a 20-byte port name) would pass the 108-byte limit of a Unix socket path; use a shorter directory such as ${DEFAULT_SOCKET_DIR}`,
    );
  }

  if (withKubernetes && socketDir !== DEFAULT_SOCKET_DIR) {
    // intel/userspace-cni-network-plugin@3e14ba36:cniovs/cniovs.go bind-mounts each pod's sockets under a
    // fixed /var/lib/vhost_sockets/<pod uid>, whatever the cluster was told.
    throw new UsageError(
      `${socketSrc.via}: "${socketDir}" cannot be used with --kubernetes ${kubernetes}: the userspace CNI puts every pod's vhost-user sockets under its fixed ${DEFAULT_SOCKET_DIR}, where OVS must find them; leave --vhost-socket-dir out, or use --kubernetes none`,
    );
  }
  // A host's CPUs and memory are known once `check hosts` has read them; it makes the same check there.
  if (withKubernetes && hosts) checkPodHugepages({ hugepages2m, dpdk });
  if (withKubernetes && !hosts) checkKubernetesFits({ nodes, cpus, memoryMiB, hugepages2m, hugepages1g, dpdk }, { cpu: sized('cpus', '').via, memory: memSrc.via });

  return {
    prefix,
    nodes,
    memoryMiB,
    cpus,
    hugepages2m,
    hugepages1g,
    secondaryNics,
    extraNics,
    kernelArgs: splitArgs(kernelSrc.value),
    qemuArgs: splitArgs(pick('qemuArgs', flags, env).value),
    accel: accelSrc.value as Accel,
    dpdk,
    vfioNoiommu: boolean(pick('vfioNoiommu', flags, env)),
    vhostSocketDir: socketDir,
    randomPorts: boolean(pick('randomPorts', flags, env)),
    // commander gives registry=false for --no-registry and true when it was not given.
    // The registry reaches QEMU nodes through their user network's forwarding; hosts have none.
    registry: hosts || flags.registry === false ? false : boolean(pick('registry', { ...flags, registry: undefined }, env)),
    kubernetes,
    provider,
    inventory,
  };
}

/** --provider and --inventory, and the QEMU-only options a hosts cluster refuses. */
function resolveProvider(flags: RawFlags, env: NodeJS.ProcessEnv): { provider: ProviderName; inventory: string } {
  const providerSrc = pick('provider', flags, env);
  if (!(PROVIDER_NAMES as readonly string[]).includes(providerSrc.value)) {
    throw new UsageError(`${providerSrc.via}: "${providerSrc.value}" is not a provider; use qemu (nodes dpdkci boots) or hosts (machines of an --inventory)`);
  }
  const inventorySrc = pick('inventory', flags, env);
  if (providerSrc.value === 'qemu') {
    if (inventorySrc.value) throw new UsageError(`${inventorySrc.via}: an inventory is for --provider hosts; add --provider hosts, or leave ${inventorySrc.via} out`);
    return { provider: 'qemu', inventory: '' };
  }
  if (!inventorySrc.value) {
    throw new UsageError(`--inventory: --provider hosts needs the inventory of machines to use (--inventory FILE or DPDKCI_INVENTORY=FILE); its format is in the README, "Your own machines"`);
  }
  for (const key of QEMU_ONLY) {
    const src = pick(key, flags, env);
    if (!src.via.endsWith('(default)')) {
      throw new UsageError(`${src.via}: "${src.value}" sizes QEMU nodes; --provider hosts uses the machines of the inventory as they are: leave ${src.via} out`);
    }
  }
  return { provider: 'hosts', inventory: resolvePath(inventorySrc.value) };
}

/** The prefix alone, for commands that act on an existing cluster (down, status, ssh...). */
export function resolvePrefix(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const src = pick('prefix', { prefix: flag }, env);
  if (!PREFIX_PATTERN.test(src.value)) {
    throw new UsageError(
      `${src.via}: "${src.value}" cannot name a cluster; use 1 to 24 lower-case letters, digits and dashes, starting with a letter or digit (e.g. --prefix dpdk-a)`,
    );
  }
  return src.value;
}
