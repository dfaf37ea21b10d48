import { describe, expect, it } from 'vitest';
import { kernelArgs, macAddress, qemuArgs, qemuValue, secondaryNicPci, type NodeLaunchSpec } from '../../providers/qemu/qemu-args.js';

const base: NodeLaunchSpec = {
  processName: 'dpdkci-test-node01',
  accel: 'tcg',
  cpus: 2,
  memoryMiB: 3072,
  kernel: '/cache/vmlinuz',
  initrd: '/cache/initrd.img',
  disk: '/state/node01/disk.qcow2',
  sshPort: 2201,
  mgmtMac: '52:54:00:00:00:10',
  secondaryNics: [{ mac: '52:54:00:ab:01:00', switchSocket: '/state/switch' }],
  qmpSocket: '/state/node01/qmp.sock',
  pidFile: '/state/node01/qemu.pid',
  consoleLog: '/state/node01/console.log',
  qemuLog: '/state/node01/qemu.log',
  seed: { hostname: '/seed/hostname', authorized_keys: '/seed/ak' },
  kernelArgs: ['root=/dev/vda'],
  extraQemuArgs: [],
};

/** The value following a flag, for every occurrence. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

describe('kernelArgs', () => {
  it('always has the IOMMU args', () => {
    const a = kernelArgs({ hugepages2m: 0, hugepages1g: 0, extra: [] });
    expect(a).toContain('intel_iommu=on');
    expect(a).toContain('iommu=pt');
    expect(a.some((x) => x.startsWith('hugepages'))).toBe(false);
    expect(a.some((x) => x.startsWith('default_hugepagesz'))).toBe(false);
  });
  it.each([
    [64, 0, ['default_hugepagesz=2M', 'hugepagesz=2M', 'hugepages=64']],
    [0, 2, ['default_hugepagesz=1G', 'hugepagesz=1G', 'hugepages=2']],
    [512, 1, ['default_hugepagesz=2M', 'hugepagesz=2M', 'hugepages=512', 'hugepagesz=1G', 'hugepages=1']],
  ])('2M=%d 1G=%d', (h2, h1, expected) => {
    const a = kernelArgs({ hugepages2m: h2, hugepages1g: h1, extra: [] });
    expect(a.filter((x) => /huge/.test(x))).toEqual(expected);
  });
  it('does not zero allocations at boot, and the user can turn that back on', () => {
    expect(kernelArgs({ hugepages2m: 512, hugepages1g: 0, extra: [] })).toContain('init_on_alloc=0');
    const a = kernelArgs({ hugepages2m: 512, hugepages1g: 0, extra: ['init_on_alloc=1'] });
    expect(a.lastIndexOf('init_on_alloc=1')).toBeGreaterThan(a.indexOf('init_on_alloc=0'));
  });
  it('appends the user args last', () => {
    const a = kernelArgs({ hugepages2m: 1, hugepages1g: 0, extra: ['isolcpus=1'] });
    expect(a.at(-1)).toBe('isolcpus=1');
  });
});

describe('qemuArgs', () => {
  it('TCG: q35, multi-threaded TCG and the max CPU', () => {
    const a = qemuArgs(base);
    expect(a[0]).toBe('qemu-system-x86_64');
    expect(values(a, '-machine')).toEqual(['q35,kernel-irqchip=split']);
    expect(values(a, '-accel')).toEqual(['tcg,thread=multi']);
    expect(values(a, '-cpu')).toEqual(['max']);
  });
  it('KVM: host CPU, no TCG', () => {
    const a = qemuArgs({ ...base, accel: 'kvm' });
    expect(values(a, '-machine')).toEqual(['q35,accel=kvm,kernel-irqchip=split']);
    expect(values(a, '-cpu')).toEqual(['host']);
    expect(a).not.toContain('-accel');
  });
  it('puts the vIOMMU before every PCI device', () => {
    const a = qemuArgs(base);
    const devices = values(a, '-device');
    expect(devices[0]).toBe('intel-iommu,intremap=on,caching-mode=on,device-iotlb=on');
  });
  it('forwards SSH on 127.0.0.1 only', () => {
    const a = qemuArgs(base);
    expect(values(a, '-netdev')).toContain('user,id=mgmt,hostfwd=tcp:127.0.0.1:2201-:22');
    expect(a.join(' ')).not.toMatch(/hostfwd=tcp::|0\.0\.0\.0/);
  });
  it('puts secondary NICs behind the vIOMMU on the cluster switch, one slot each from 00:04.0', () => {
    const a = qemuArgs({ ...base, secondaryNics: [...base.secondaryNics, { mac: '52:54:00:ab:01:01', switchSocket: '/state/switch' }] });
    expect(values(a, '-netdev').filter((n) => n.startsWith('vde'))).toEqual(['vde,id=sec0,sock=/state/switch', 'vde,id=sec1,sock=/state/switch']);
    const nics = values(a, '-device').filter((d) => d.includes('netdev=sec'));
    expect(nics).toEqual([
      'virtio-net-pci,netdev=sec0,mac=52:54:00:ab:01:00,addr=0x4,disable-legacy=on,iommu_platform=on,ats=on',
      'virtio-net-pci,netdev=sec1,mac=52:54:00:ab:01:01,addr=0x5,disable-legacy=on,iommu_platform=on,ats=on',
    ]);
    expect(secondaryNicPci(0)).toBe('0000:00:04.0');
    expect(secondaryNicPci(1)).toBe('0000:00:05.0');
  });
  it('passes the kernel args as one -append and the seed as fw_cfg entries', () => {
    const a = qemuArgs(base);
    expect(values(a, '-append')).toEqual(['root=/dev/vda']);
    expect(values(a, '-fw_cfg')).toEqual(['name=opt/dpdkci/authorized_keys,file=/seed/ak', 'name=opt/dpdkci/hostname,file=/seed/hostname']);
  });
  it('daemonizes with a pidfile, a QMP socket and the console in a file', () => {
    const a = qemuArgs(base);
    expect(values(a, '-qmp')).toEqual(['unix:/state/node01/qmp.sock,server=on,wait=off']);
    expect(values(a, '-pidfile')).toEqual(['/state/node01/qemu.pid']);
    expect(a).toContain('-daemonize');
    expect(values(a, '-name')).toEqual(['dpdkci-test-node01,process=dpdkci-test-node01']);
  });
  it('doubles commas in paths', () => {
    expect(qemuValue('/a,b')).toBe('/a,,b');
    const a = qemuArgs({ ...base, disk: '/x,y/disk.qcow2' });
    expect(values(a, '-drive')[0]).toContain('file=/x,,y/disk.qcow2,format=qcow2');
  });
  it('appends the user QEMU args last', () => {
    const a = qemuArgs({ ...base, extraQemuArgs: ['-device', 'virtio-balloon'] });
    expect(a.slice(-2)).toEqual(['-device', 'virtio-balloon']);
  });
});

describe('macAddress', () => {
  it('is locally administered and unique per cluster, node and NIC', () => {
    expect(macAddress(0xab, 1, 0)).toBe('52:54:00:ab:01:00');
    expect(macAddress(0xab, 2, 0)).not.toBe(macAddress(0xab, 1, 0));
    expect(macAddress(0xac, 1, 0)).not.toBe(macAddress(0xab, 1, 0));
  });
});
