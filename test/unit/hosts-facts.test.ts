import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostOffer, hostRefusals, parseHostFacts, type HostFacts, type HostWants } from '../../providers/hosts/facts.js';
import { hostPackages } from '../../providers/hosts/steps/packages.js';
import { parseUndo, undoArgs } from '../../providers/hosts/delete.js';
import { PROJECT_ROOT } from '../../src/core/paths.js';

/** A host that passes: Debian 12, an IOMMU, its DPDK NIC apart from the default route and SSH. */
const GOOD = `os_id=debian
os_version_id=12
os_pretty=Debian GNU/Linux 12 (bookworm)
kernel=6.1.0-28-amd64
cmdline=BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=0f3c ro quiet
cpu_vendor=GenuineIntel
cpus=8
iommu=12
mem_available_kib=16000000
hp2m_total=0
hp2m_free=0
hp1g_supported=1
hp1g_total=0
hp1g_free=0
nic_pci=0000:03:00.1
nic_driver=ixgbe
nic_numa=0
nic_ifaces=ens1f1 
nic_override=
default_route=eno1 0000:01:00.0
ssh_via=eno1 0000:01:00.0
ovs_running=1
`;

const WANT: HostWants = { name: 'lab1', nic: '0000:03:00.1', prefix: 'lab', bridge: 'br-dpdk0', hugepages2m: 896, hugepages1g: 0, vfioNoiommu: false };

function facts(extra: string, drop: string[] = []): HostFacts {
  const lines = GOOD.split('\n').filter((l) => !drop.some((d) => l.startsWith(`${d}=`)));
  return parseHostFacts(`${lines.join('\n')}\n${extra}`);
}

describe('host facts', () => {
  it('are read from what host-facts.sh prints on this very machine (it changes nothing)', async () => {
    const r = await execa('bash', [join(PROJECT_ROOT, 'scripts', 'node', 'host-facts.sh'), 'lo', 'br-dpdk0', '/nonexistent-dpdkci'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const f = parseHostFacts(r.stdout);
    const release = (await execa('bash', ['-c', '. /etc/os-release; echo "$ID $VERSION_ID"'])).stdout.split(' ');
    expect([f.osId, f.osVersionId]).toEqual(release);
    expect(f.cpus).toBe(Number((await execa('nproc')).stdout));
    expect(f.cmdline).toBe(readFileSync('/proc/cmdline', 'utf8').trim());
    expect(f.cpuVendor).toBe(/^vendor_id\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]);
    // lo is an interface without a PCI device: named, and refused as such.
    expect(f.nicIfaceExists).toBe(true);
    expect(f.nicPci).toBe('');
    expect(hostRefusals(f, { ...WANT, nic: 'lo' }).join('\n')).toMatch(/no NIC "lo" on it with a PCI device behind it/);
  });

  it("resolve this machine's default-route NIC to its PCI function (a virtio NIC's interface hangs off virtioN) and refuse it", async (ctx) => {
    const dev = (await execa('bash', ['-c', "ip -o route show default | awk '{ for (i = 1; i < NF; i++) if ($i == \"dev\") print $(i + 1) }' | head -1"])).stdout.trim();
    const link = dev ? (await execa('readlink', ['-f', `/sys/class/net/${dev}/device`], { reject: false })).stdout : '';
    const pci = link.split('/').reverse().find((p) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$/.test(p));
    if (!pci) ctx.skip(); // a machine whose default route is not on a PCI NIC has nothing to show here
    const r = await execa('bash', [join(PROJECT_ROOT, 'scripts', 'node', 'host-facts.sh'), dev, 'br-dpdk0', '/nonexistent-dpdkci']);
    const f = parseHostFacts(r.stdout);
    expect(f.nicPci).toBe(pci);
    expect(hostRefusals(f, { ...WANT, nic: dev }).join('\n')).toContain("carries the host's default route");
    // The same NIC as a kernel port of an OVS bridge (ovs-vsctl stands in for the OVS this machine lacks).
    const bin = mkdtempSync(join(tmpdir(), 'dpdkci-facts-ovs-'));
    writeFileSync(join(bin, 'ovs-vsctl'), `#!/bin/sh\ncase "$*" in "--timeout=5 show"|list-br) exit 0 ;; "--timeout=5 iface-to-br ${dev}") echo br-ex; exit 0 ;; esac\nexit 1\n`, { mode: 0o755 });
    const o = await execa('bash', [join(PROJECT_ROOT, 'scripts', 'node', 'host-facts.sh'), dev, 'br-dpdk0', '/nonexistent-dpdkci'], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(hostRefusals(parseHostFacts(o.stdout), { ...WANT, nic: dev }).join('\n')).toContain(`(${dev}) is already on OVS bridge br-ex as a kernel port`);
  });

  it('a good host is not refused, and status says what it offers', () => {
    expect(hostRefusals(facts(''), WANT)).toEqual([]);
    expect(hostOffer(facts(''))).toEqual({ nic: '0000:03:00.1 (ens1f1)', driver: 'ixgbe', numaNode: 0, hugepagesFree: '0x2M 0x1G', cpus: 8, os: 'Debian GNU/Linux 12 (bookworm)', swap: 'none' });
  });

  it("report this machine's swap areas as /proc/swaps lists them, and status says how much is on", async () => {
    const r = await execa('bash', [join(PROJECT_ROOT, 'scripts', 'node', 'host-facts.sh'), 'lo', 'br-dpdk0', '/nonexistent-dpdkci']);
    const listed = readFileSync('/proc/swaps', 'utf8').trim().split('\n').slice(1).map((l) => l.split(/\s+/));
    expect(parseHostFacts(r.stdout).swaps).toEqual(listed.map(([name, type, size]) => ({ name, type, sizeKiB: Number(size) })));
    const swapped = facts('swap=/swapfile file 524284\nswap=/dev/sda3 partition 1048572\n');
    expect(hostRefusals(swapped, WANT)).toEqual([]);
    expect(hostOffer(swapped).swap).toBe('1536 MiB (/swapfile, /dev/sda3)');
  });

  const refusals: [string, string, string[], Partial<HostWants>, RegExp][] = [
    ['the NIC carries the default route', 'default_route=ens1f1 0000:03:00.1', [], {}, /host "lab1": NIC 0000:03:00.1 \(ens1f1\) carries the host's default route; binding it to vfio-pci would cut the host off/],
    ['the NIC carries SSH', 'ssh_via=ens1f1 0000:03:00.1', [], {}, /carries an SSH connection to the host/],
    ['another driverctl override claims the NIC', 'nic_override=uio_pci_generic', [], {}, /already has a driverctl override \(to uio_pci_generic\).*driverctl unset-override 0000:03:00.1/],
    ['an OVS port claims the NIC', 'ovs_claim=dpdk-p0 br-phy', [], {}, /already OVS port "dpdk-p0" on bridge br-phy; remove it \(ovs-vsctl del-port br-phy dpdk-p0\)/],
    ['br-dpdk0 exists and is not ours', 'bridge_exists=1', [], {}, /OVS bridge br-dpdk0 exists already and dpdkci did not make it/],
    ['another cluster holds the host', 'state_prefix=other', [], {}, /already a node of cluster "other"; remove that one first \(dpdkci down --prefix other/],
    ['not Debian', 'os_id=ubuntu\nos_version_id=24.04\nos_pretty=Ubuntu 24.04 LTS', ['os_id', 'os_version_id', 'os_pretty'], {}, /runs Ubuntu 24.04 LTS; dpdkci supports Debian 12 \(bookworm\) hosts/],
    ['Debian 13', 'os_version_id=13\nos_pretty=Debian GNU/Linux 13 (trixie)', ['os_version_id', 'os_pretty'], {}, /runs Debian GNU\/Linux 13 \(trixie\); dpdkci supports Debian 12/],
    ['no such NIC', 'nic_pci=', ['nic_pci'], { nic: '0000:99:00.0' }, /no NIC "0000:99:00.0" on it; list its NICs/],
    ['one CPU', 'cpus=1', ['cpus'], {}, /has 1 CPU\(s\); OVS-DPDK needs at least 2/],
    ['the NIC is a kernel port of an OVS bridge', 'ovs_iface_claim=ens1f1 br-ex', [], {}, /NIC 0000:03:00.1 \(ens1f1\) is already on OVS bridge br-ex as a kernel port; detach it \(ovs-vsctl --with-iface del-port br-ex ens1f1\)/],
    ['no IOMMU (Intel)', 'iommu=0', ['iommu'], {}, /no IOMMU \(\/sys\/class\/iommu is empty\), which vfio-pci needs: enable VT-d in the firmware and add 'intel_iommu=on iommu=pt' to the kernel command line \(GRUB_CMDLINE_LINUX.*--vfio-noiommu/],
    ['no IOMMU though the kernel asks for one', 'iommu=0\ncmdline=ro intel_iommu=on iommu=pt', ['iommu', 'cmdline'], {}, /has intel_iommu=on already, so VT-d is off in the firmware: enable VT-d there, then reboot/],
    ['no IOMMU on AMD, turned off on the command line', 'iommu=0\ncpu_vendor=AuthenticAMD\ncmdline=ro amd_iommu=off', ['iommu', 'cmdline', 'cpu_vendor'], {}, /remove 'amd_iommu=off' from the kernel command line .* and enable AMD-Vi/],
    ['no IOMMU on AMD', 'iommu=0\ncpu_vendor=AuthenticAMD', ['iommu', 'cpu_vendor'], {}, /enable AMD-Vi \(IOMMU\) in the firmware \(the kernel turns it on by itself; add 'iommu=pt'/],
    ['no IOMMU, CPU unknown', 'iommu=0', ['iommu', 'cpu_vendor'], {}, /'intel_iommu=on iommu=pt' \(Intel\) or 'iommu=pt' \(AMD\)/],
    ['too little memory for the hugepages', 'mem_available_kib=1000000', ['mem_available_kib'], {}, /896 more 2M and 0 more 1G hugepages need 1792 MiB, but only 976 MiB is available; add 'default_hugepagesz=2M hugepagesz=2M hugepages=896' to the kernel command line \(GRUB_CMDLINE_LINUX/],
    ['too little memory, hugepages on the command line already', 'mem_available_kib=1000000\ncmdline=ro hugepagesz=2M hugepages=64 quiet', ['mem_available_kib', 'cmdline'], {}, /replace 'hugepagesz=2M hugepages=64' on the kernel command line with 'default_hugepagesz=2M hugepagesz=2M hugepages=896'/],
    ['no 1G pages in the kernel', 'hp1g_supported=0', ['hp1g_supported'], { hugepages1g: 2 }, /offers no 1G hugepages, since its CPU lacks the pdpe1gb flag; leave --hugepages-1g out/],
  ];
  it.each(refusals)('refuses a host when %s', (_what, extra, drop, want, expected) => {
    const found = hostRefusals(facts(extra, drop), { ...WANT, ...want });
    expect(found.join('\n')).toMatch(expected);
    expect(found.every((r) => r.includes('lab1'))).toBe(true);
  });

  it('a host of this cluster already is not refused for what dpdkci itself made there', () => {
    const ours = facts('state_prefix=lab\nnic_override=vfio-pci\novs_claim=dpdk0 br-dpdk0\nbridge_exists=1');
    expect(hostRefusals(ours, WANT)).toEqual([]);
    // ... nor with --vfio-noiommu on a host without an IOMMU.
    expect(hostRefusals(facts('iommu=0', ['iommu']), { ...WANT, vfioNoiommu: true })).toEqual([]);
  });
});

describe('what a host gets and gives back', () => {
  it('the node image\'s packages, without the VM boot section and, without Kubernetes, the container runtime', () => {
    const dataplane = hostPackages({ kubernetes: false });
    expect(dataplane).toEqual(expect.arrayContaining(['openvswitch-switch-dpdk', 'dpdk', 'dpdk-dev', 'driverctl', 'librte-net-vhost23', 'openssh-server']));
    for (const p of ['linux-image-amd64', 'initramfs-tools', 'systemd-sysv', 'containerd', 'runc', 'conntrack']) expect(dataplane).not.toContain(p);
    expect(hostPackages({ kubernetes: true })).toEqual(expect.arrayContaining(['runc', 'containernetworking-plugins', 'conntrack', 'socat']));
    // Debian's containerd 1.x would start a daemon at install: a host gets only the pinned containerd 2.
    expect(hostPackages({ kubernetes: true })).not.toContain('containerd');
  });

  it('down says what it put back and what it kept', () => {
    expect(undoArgs('lab', true)).toEqual(['undo', 'lab', '1']);
    expect(parseUndo('restored no bridge br-dpdk0\nrestored 0000:03:00.1 on ixgbe, no driverctl override\nkept packages dpdkci installed: dpdk\nnoise\n')).toEqual({
      restored: ['no bridge br-dpdk0', '0000:03:00.1 on ixgbe, no driverctl override'],
      kept: ['packages dpdkci installed: dpdk'],
    });
  });
});
