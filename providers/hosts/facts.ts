/**
 * What scripts/node/host-facts.sh reports of a machine, and the judgement of it before anything changes:
 * refusals that protect the machine (its NIC carries the default route or SSH, something else claims it, an
 * OS dpdkci does not support) and what it cannot change without a reboot (IOMMU, CPUs, hugepages). Pure.
 */
export interface HostFacts {
  osId: string;
  osVersionId: string;
  osPretty: string;
  kernel: string;
  cpus: number;
  iommuGroups: number;
  /** The running kernel's command line, to say which of its arguments to add or change. */
  cmdline: string;
  /** /proc/cpuinfo's vendor_id (GenuineIntel, AuthenticAMD): which IOMMU arguments apply. */
  cpuVendor: string;
  memAvailableKiB: number;
  hp2mTotal: number;
  hp2mFree: number;
  hp1gSupported: boolean;
  hp1gTotal: number;
  hp1gFree: number;
  /** The NIC's PCI address, or '' when the inventory's NIC is not there. */
  nicPci: string;
  nicIfaceExists: boolean;
  nicDriver: string;
  nicNuma: number;
  nicIfaces: string[];
  /** A driverctl override on the NIC, if any. */
  nicOverride: string;
  defaultRoutes: { dev: string; pci: string }[];
  sshVia: { dev: string; pci: string }[];
  /** The cluster this host is recorded as a node of (/var/lib/dpdkci/host-state), if any. */
  statePrefix: string;
  ovsRunning: boolean;
  bridgeExists: boolean;
  ovsClaims: { port: string; bridge: string }[];
  /** The NIC's interfaces that are on an OVS bridge as kernel ports (or in a bond). */
  ovsIfaceClaims: { iface: string; bridge: string }[];
  socketDirExists: boolean;
  memTotalKiB: number;
  /** What of a container runtime or Kubernetes the host has already (paths, "service NAME"). */
  kubernetesFound: string[];
  /** The swap areas in use (/proc/swaps): the kubelet runs beside them, pods never swap (kubelet.yaml.hbs). */
  swaps: { name: string; type: string; sizeKiB: number }[];
  /** A firewall of the host's own ("service ufw", "nftables input policy drop"), which may drop the cluster's ports. */
  firewalls: string[];
}

export function parseHostFacts(text: string): HostFacts {
  const one = new Map<string, string>();
  const many = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const key = line.slice(0, i);
    const value = line.slice(i + 1);
    one.set(key, value);
    many.set(key, [...(many.get(key) ?? []), value]);
  }
  const str = (k: string) => one.get(k) ?? '';
  const num = (k: string, d = 0) => (one.has(k) && /^-?\d+$/.test(str(k)) ? Number(str(k)) : d);
  const pairs = (k: string) =>
    (many.get(k) ?? []).map((v) => {
      const [dev = '', pci = ''] = v.trim().split(/\s+/);
      return { dev, pci };
    });
  return {
    osId: str('os_id'),
    osVersionId: str('os_version_id'),
    osPretty: str('os_pretty'),
    kernel: str('kernel'),
    cpus: num('cpus'),
    iommuGroups: num('iommu'),
    cmdline: str('cmdline'),
    cpuVendor: str('cpu_vendor'),
    memAvailableKiB: num('mem_available_kib'),
    hp2mTotal: num('hp2m_total'),
    hp2mFree: num('hp2m_free'),
    hp1gSupported: str('hp1g_supported') === '1',
    hp1gTotal: num('hp1g_total'),
    hp1gFree: num('hp1g_free'),
    nicPci: str('nic_pci'),
    nicIfaceExists: str('nic_iface_exists') === '1',
    nicDriver: str('nic_driver'),
    nicNuma: num('nic_numa', -1),
    nicIfaces: str('nic_ifaces').split(/\s+/).filter(Boolean),
    nicOverride: str('nic_override'),
    defaultRoutes: pairs('default_route'),
    sshVia: pairs('ssh_via'),
    statePrefix: str('state_prefix'),
    ovsRunning: str('ovs_running') === '1',
    bridgeExists: str('bridge_exists') === '1',
    ovsClaims: pairs('ovs_claim').map((p) => ({ port: p.dev, bridge: p.pci })),
    ovsIfaceClaims: pairs('ovs_iface_claim').map((p) => ({ iface: p.dev, bridge: p.pci })),
    socketDirExists: str('socket_dir_exists') === '1',
    memTotalKiB: num('mem_total_kib'),
    kubernetesFound: many.get('k8s_found') ?? [],
    firewalls: many.get('firewall') ?? [],
    swaps: (many.get('swap') ?? []).map((v) => {
      const [name = '', type = '', size = '0'] = v.trim().split(/\s+/);
      return { name, type, sizeKiB: /^\d+$/.test(size) ? Number(size) : 0 };
    }),
  };
}

export interface HostWants {
  /** The host's name in the inventory, and its NIC as written there. */
  name: string;
  nic: string;
  prefix: string;
  bridge: string;
  hugepages2m: number;
  hugepages1g: number;
  vfioNoiommu: boolean;
  /** With --kubernetes: the host's role, and how many hosts the cluster has. */
  kubernetes?: { role: 'control-plane' | 'worker'; nodes: number };
}

/** The operating systems dpdkci converges: its node image's (Debian 12), whose package names it installs. */
export const SUPPORTED_OS = { id: 'debian', versionId: '12', name: 'Debian 12 (bookworm)' } as const;

/** The least CPUs a DPDK host needs: OVS's own threads on lcore 0, a PMD on a core of its own. */
export const MIN_HOST_CPUS = 2;

/** Every reason not to touch this host, each naming it, what was found and the fix; empty when it may go on. */
export function hostRefusals(facts: HostFacts, want: HostWants): string[] {
  const host = `host "${want.name}"`;
  const out: string[] = [];
  if (facts.osId !== SUPPORTED_OS.id || facts.osVersionId !== SUPPORTED_OS.versionId) {
    out.push(`${host} runs ${facts.osPretty || 'an unknown OS'}; dpdkci supports ${SUPPORTED_OS.name} hosts, whose package names and OVS-DPDK build it uses`);
  }
  const ours = facts.statePrefix === want.prefix;
  if (facts.statePrefix && !ours) {
    out.push(`${host} is already a node of cluster "${facts.statePrefix}"; remove that one first (dpdkci down --prefix ${facts.statePrefix} --provider hosts)`);
  }
  const pci = facts.nicPci;
  if (!pci) {
    out.push(`${host}: no NIC "${want.nic}" on it${facts.nicIfaceExists ? ' with a PCI device behind it (a virtual interface cannot be bound to vfio-pci)' : ''}; list its NICs with \`lspci -D -nn | grep -i ethernet\` and \`ip -br link\`, and set nic in the inventory`);
  } else {
    for (const r of facts.defaultRoutes.filter((r) => r.pci === pci)) {
      out.push(`${host}: NIC ${pci} (${r.dev}) carries the host's default route; binding it to vfio-pci would cut the host off the network. Give a NIC that carries neither the default route nor SSH`);
    }
    for (const r of facts.sshVia.filter((r) => r.pci === pci)) {
      out.push(`${host}: NIC ${pci} (${r.dev}) carries an SSH connection to the host (dpdkci's own, or another); binding it to vfio-pci would cut that connection. Give a NIC that carries neither the default route nor SSH`);
    }
    if (facts.nicOverride && !(ours && facts.nicOverride === 'vfio-pci')) {
      out.push(`${host}: NIC ${pci} already has a driverctl override (to ${facts.nicOverride}) that dpdkci did not make; remove it (driverctl unset-override ${pci}) or give another NIC`);
    }
    for (const c of facts.ovsClaims.filter((c) => !(ours && c.bridge === want.bridge && c.port === 'dpdk0'))) {
      out.push(`${host}: NIC ${pci} is already OVS port "${c.port}" on bridge ${c.bridge}; remove it (ovs-vsctl del-port ${c.bridge} ${c.port}) or give another NIC`);
    }
    for (const c of facts.ovsIfaceClaims) {
      out.push(`${host}: NIC ${pci} (${c.iface}) is already on OVS bridge ${c.bridge} as a kernel port; detach it (ovs-vsctl --with-iface del-port ${c.bridge} ${c.iface}) or give another NIC`);
    }
  }
  if (facts.bridgeExists && !ours) {
    out.push(`${host}: OVS bridge ${want.bridge} exists already and dpdkci did not make it; remove it (ovs-vsctl del-br ${want.bridge}) if it is unused`);
  }
  if (facts.cpus < MIN_HOST_CPUS) {
    out.push(`${host} has ${facts.cpus} CPU(s); OVS-DPDK needs at least ${MIN_HOST_CPUS} (lcore 0 for OVS's own threads, one for the poll-mode thread)`);
  }
  if (facts.iommuGroups === 0 && !want.vfioNoiommu) {
    out.push(`${host} has no IOMMU (/sys/class/iommu is empty), which vfio-pci needs: ${iommuFix(facts)}, then reboot; or accept --vfio-noiommu (no DMA isolation)`);
  }
  // What run-time reservation cannot give: pages the memory cannot hold, and 1G pages the kernel does not offer.
  const more2m = Math.max(0, want.hugepages2m - facts.hp2mTotal);
  const more1g = Math.max(0, want.hugepages1g - facts.hp1gTotal);
  const needKiB = more2m * 2048 + more1g * 1024 * 1024;
  if (want.hugepages1g > 0 && !facts.hp1gSupported) {
    // x86 offers 1G pages only on CPUs with pdpe1gb: no kernel argument adds them.
    out.push(`${host}: its kernel offers no 1G hugepages, since its CPU lacks the pdpe1gb flag; leave --hugepages-1g out (2M pages serve OVS-DPDK as well)`);
  } else if (needKiB > facts.memAvailableKiB) {
    out.push(
      `${host}: ${more2m} more 2M and ${more1g} more 1G hugepages need ${Math.ceil(needKiB / 1024)} MiB, but only ${Math.floor(facts.memAvailableKiB / 1024)} MiB is available; ` +
        `${hugepageArgsFix(facts.cmdline, want)} and reboot, or ask for fewer (--hugepages-2m, --hugepages-1g)`,
    );
  }
  return out;
}

/** The kernel arguments that reserve the hugepages at boot (the 1G ones first: they need the most contiguous memory). */
export function kernelHugepageArgs(want: Pick<HostWants, 'hugepages2m' | 'hugepages1g'>): string {
  const args = want.hugepages1g > 0 ? [`hugepagesz=1G hugepages=${want.hugepages1g}`] : [];
  args.push(`hugepagesz=2M hugepages=${want.hugepages2m}`);
  return args.join(' ');
}

const HUGEPAGE_ARG = /^(default_hugepagesz|hugepagesz|hugepages)=/;
const GRUB = ' (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub)';

/** What to do to the kernel command line for the hugepages: add the arguments, or replace the ones it has. */
export function hugepageArgsFix(cmdline: string, want: Pick<HostWants, 'hugepages2m' | 'hugepages1g'>): string {
  const has = cmdline.split(/\s+/).filter((a) => HUGEPAGE_ARG.test(a));
  const wanted = `default_hugepagesz=2M ${kernelHugepageArgs(want)}`;
  return has.length ? `replace '${has.join(' ')}' on the kernel command line with '${wanted}'${GRUB}` : `add '${wanted}' to the kernel command line${GRUB}`;
}

/** How to get an IOMMU on this host: the firmware switch and the kernel arguments its command line lacks. */
export function iommuFix(facts: Pick<HostFacts, 'cmdline' | 'cpuVendor'>): string {
  const args = facts.cmdline.split(/\s+/);
  const has = (a: string) => args.includes(a);
  const pt = has('iommu=pt') ? '' : ' iommu=pt';
  if (facts.cpuVendor === 'GenuineIntel') {
    if (has('intel_iommu=on')) return `its kernel command line has intel_iommu=on already, so VT-d is off in the firmware: enable VT-d there`;
    return `enable VT-d in the firmware and add 'intel_iommu=on${pt}' to the kernel command line${GRUB}`;
  }
  if (facts.cpuVendor === 'AuthenticAMD') {
    const off = args.filter((a) => a === 'amd_iommu=off' || a === 'iommu=off');
    if (off.length) return `remove '${off.join(' ')}' from the kernel command line${GRUB} and enable AMD-Vi (IOMMU) in the firmware`;
    return `enable AMD-Vi (IOMMU) in the firmware (the kernel turns it on by itself${pt ? `; add 'iommu=pt' to the kernel command line${GRUB}` : ''})`;
  }
  return `enable VT-d (Intel) or AMD-Vi (AMD) in the firmware and add 'intel_iommu=on iommu=pt' (Intel) or 'iommu=pt' (AMD) to the kernel command line${GRUB}`;
}

/** The swap a host has on, in words: "none", or its size and areas ("512 MiB (/swapfile)"). */
export function swapSummary(facts: Pick<HostFacts, 'swaps'>): string {
  if (!facts.swaps.length) return 'none';
  const kib = facts.swaps.reduce((sum, s) => sum + s.sizeKiB, 0);
  return `${Math.round(kib / 1024)} MiB (${facts.swaps.map((s) => s.name).join(', ')})`;
}

/** What `status` says a host offers. */
export function hostOffer(facts: HostFacts): { nic: string; driver: string; numaNode: number; hugepagesFree: string; cpus: number; os: string; swap: string } {
  return {
    swap: swapSummary(facts),
    nic: `${facts.nicPci || '-'}${facts.nicIfaces.length ? ` (${facts.nicIfaces.join(', ')})` : ''}`,
    driver: facts.nicDriver || '-',
    numaNode: facts.nicNuma,
    hugepagesFree: `${facts.hp2mFree}x2M${facts.hp1gSupported ? ` ${facts.hp1gFree}x1G` : ''}`,
    cpus: facts.cpus,
    os: facts.osPretty,
  };
}
