import type { Accelerator } from '../../src/core/accelerator.js';

/**
 * Pure builders for a node's QEMU command line and kernel command line. No I/O: table-tested in
 * test/unit/qemu-args.test.ts.
 *
 * PCI layout on the q35 root bus (the node image's networkd files rely on it):
 *   00:02.0 management NIC (QEMU user network, SSH forwarded on 127.0.0.1)
 *   00:03.0 root disk (virtio-blk)
 *   00:04.0.. secondary NICs (virtio-net behind the vIOMMU, for DPDK), one slot each
 *   00:0a.0 virtio-rng
 */
export const MGMT_NIC_SLOT = 0x2;
export const DISK_SLOT = 0x3;
export const FIRST_SECONDARY_SLOT = 0x4;
export const RNG_SLOT = 0xa;


export interface SecondaryNic {
  mac: string;
  /** The cluster switch's socket directory (vde_switch -s). */
  switchSocket: string;
}

export interface NodeLaunchSpec {
  /** Process name QEMU runs under: dpdkci-<prefix>-<node>; the provider finds nodes by it. */
  processName: string;
  accel: Accelerator;
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  disk: string;
  sshPort: number;
  /** The control-plane node's Kubernetes API server (6443), forwarded from this host port. */
  apiPort?: number;
  mgmtMac: string;
  secondaryNics: SecondaryNic[];
  qmpSocket: string;
  pidFile: string;
  consoleLog: string;
  /** -D: QEMU keeps its stderr on this file after daemonizing, instead of /dev/null. */
  qemuLog: string;
  /** fw_cfg entries (name below opt/dpdkci/ -> host file). */
  seed: Record<string, string>;
  kernelArgs: string[];
  extraQemuArgs: string[];
}

export interface KernelArgsSpec {
  hugepages2m: number;
  hugepages1g: number;
  extra: string[];
}

/** The node kernel command line: root, console, boot trimming, IOMMU and hugepages, then the user's args. */
export function kernelArgs(spec: KernelArgsSpec): string[] {
  const args = [
    'root=/dev/vda',
    // Mounted read-write with its final options by the kernel, so that nothing remounts it at boot (the image
    // masks systemd-remount-fs, which took 3 s of the boot's critical path under TCG).
    'rw',
    'rootflags=noatime',
    'console=ttyS0',
    'quiet',
    'loglevel=3',
    // Only units that fail are printed on the console, so that `up` can show them when a node never answers.
    'systemd.show_status=error',
    'mitigations=off',
    // Debian's kernel zeroes every page it allocates (INIT_ON_ALLOC_DEFAULT_ON). Under TCG that made the
    // boot-time hugepage pool cost 8 s on a first boot and 36 s after a reboot (with soft lockups); hugetlbfs
    // still zeroes a hugepage when it is first mapped. A later `--kernel-args init_on_alloc=1` wins.
    'init_on_alloc=0',
    'tsc=reliable',
    'no_timer_check',
    'random.trust_cpu=on',
    '8250.nr_uarts=1',
    'intel_iommu=on',
    'iommu=pt',
  ];
  if (spec.hugepages2m > 0 || spec.hugepages1g > 0) {
    args.push(`default_hugepagesz=${spec.hugepages2m > 0 ? '2M' : '1G'}`);
  }
  if (spec.hugepages2m > 0) args.push('hugepagesz=2M', `hugepages=${spec.hugepages2m}`);
  if (spec.hugepages1g > 0) args.push('hugepagesz=1G', `hugepages=${spec.hugepages1g}`);
  return [...args, ...spec.extra];
}

/** QEMU option values separate keys with commas; a comma inside a value is doubled. */
export function qemuValue(text: string): string {
  return text.replaceAll(',', ',,');
}

function slot(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A locally administered, deterministic MAC: 52:54:00 + cluster byte + node + NIC. */
export function macAddress(clusterByte: number, nodeIndex: number, nic: number): string {
  const hex = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
  return ['52', '54', '00', hex(clusterByte), hex(nodeIndex), hex(nic)].join(':');
}

/** A node's machine, accelerator and CPU model (also what --qemu-args are checked against, qemu-args-check.ts). */
export function machineArgs(accel: Accelerator): string[] {
  return accel === 'kvm'
    ? ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-cpu', 'host']
    : ['-machine', 'q35,kernel-irqchip=split', '-accel', 'tcg,thread=multi', '-cpu', 'max'];
}

/** The vIOMMU every node has, before the devices it translates for. */
export const IOMMU_DEVICE = 'intel-iommu,intremap=on,caching-mode=on,device-iotlb=on';

export function qemuArgs(spec: NodeLaunchSpec): string[] {
  const accel = machineArgs(spec.accel);
  const args = [
    'qemu-system-x86_64',
    '-name',
    `${spec.processName},process=${spec.processName}`,
    ...accel,
    '-smp',
    String(spec.cpus),
    '-m',
    `${spec.memoryMiB}M`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    // The vIOMMU must come before the devices it translates for.
    '-device',
    IOMMU_DEVICE,
    '-kernel',
    spec.kernel,
    '-initrd',
    spec.initrd,
    '-append',
    spec.kernelArgs.join(' '),
    '-drive',
    `if=none,id=root,file=${qemuValue(spec.disk)},format=qcow2,cache=writeback,discard=unmap`,
    '-device',
    `virtio-blk-pci,drive=root,addr=${slot(DISK_SLOT)}`,
    '-netdev',
    `user,id=mgmt,hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22${spec.apiPort ? `,hostfwd=tcp:127.0.0.1:${spec.apiPort}-:6443` : ''}`,
    '-device',
    `virtio-net-pci,netdev=mgmt,mac=${spec.mgmtMac},addr=${slot(MGMT_NIC_SLOT)}`,
  ];
  spec.secondaryNics.forEach((nic, i) => {
    args.push(
      '-netdev',
      `vde,id=sec${i},sock=${qemuValue(nic.switchSocket)}`,
      '-device',
      `virtio-net-pci,netdev=sec${i},mac=${nic.mac},addr=${slot(FIRST_SECONDARY_SLOT + i)},disable-legacy=on,iommu_platform=on,ats=on`,
    );
  });
  args.push('-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', `virtio-rng-pci,rng=rng0,addr=${slot(RNG_SLOT)}`);
  for (const [name, file] of Object.entries(spec.seed).sort(([a], [b]) => a.localeCompare(b))) {
    args.push('-fw_cfg', `name=opt/dpdkci/${name},file=${qemuValue(file)}`);
  }
  args.push(
    '-chardev',
    `file,id=console,path=${qemuValue(spec.consoleLog)}`,
    '-serial',
    'chardev:console',
    '-qmp',
    `unix:${qemuValue(spec.qmpSocket)},server=on,wait=off`,
    '-pidfile',
    spec.pidFile,
    '-D',
    spec.qemuLog,
    '-daemonize',
    ...spec.extraQemuArgs,
  );
  return args;
}

/** The PCI address of the n-th secondary NIC inside the node. */
export function secondaryNicPci(n: number): string {
  return `0000:00:${(FIRST_SECONDARY_SLOT + n).toString(16).padStart(2, '0')}.0`;
}
