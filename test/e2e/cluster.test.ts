import { mkdtempSync, readFileSync, writeFileSync, statSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dpdkci, dpdkciChild, onNode, qemuPids, readNodeOk, removedAfterAll, sharedCluster, stateDir, stateExists } from './helpers.js';

/**
 * The foundation, for real: a 2-node cluster of QEMU nodes (TCG here, KVM where it works), checked
 * from inside the nodes. One cluster for the whole file; the checks run in order.
 */
const PREFIX = 'e2e-base';
const HUGEPAGES = 128;

describe.sequential('a 2-node cluster', () => {
  const { guard, markFailed } = sharedCluster(PREFIX);
  beforeAll(async () => {
    await dpdkci(['down', '--prefix', PREFIX, '--force']);
    const up = await dpdkci(['up', '--prefix', PREFIX, '--nodes', '2', '--memory', '2G', '--hugepages-2m', String(HUGEPAGES)]);
    if (up.exitCode !== 0) {
      await markFailed();
      throw new Error(`up failed (exit ${up.exitCode}):\n${up.all}`);
    }
    expect(up.stdout).toMatch(/where the time went:/);
    expect(up.stdout).toMatch(/node01 +control-plane +running/);
  });



  it.each(['node01', 'node02'])('%s booted with the hugepage and IOMMU kernel args', (node) =>
    guard(async () => {
      const read = await readNodeOk(PREFIX, node, {
        cmdline: 'cat /proc/cmdline',
        hugepages: "awk '/^HugePages_Total/ {print $2}' /proc/meminfo",
        iommu: 'ls /sys/class/iommu',
        hostname: 'hostname',
        ovsdb: 'systemctl is-active ovsdb-server.service || true',
      });
      for (const arg of ['intel_iommu=on', 'iommu=pt', 'default_hugepagesz=2M', 'hugepagesz=2M', `hugepages=${HUGEPAGES}`]) {
        expect(read.cmdline.split(' ')).toContain(arg);
      }
      expect(read.hugepages).toBe(String(HUGEPAGES));
      expect(read.iommu).toBe('dmar0');
      expect(read.hostname).toBe(node);
      // Not a --dpdk node: nothing of OVS was started.
      expect(read.ovsdb).toBe('inactive');
    })(),
  );

  it('every node boots the unpacked kernel through its PVH entry, not the bzImage', () => {
    const pids = qemuPids(PREFIX);
    expect(pids).toHaveLength(2);
    for (const pid of pids) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(argv[argv.indexOf('-kernel') + 1]).toMatch(/\/vmlinux$/);
    }
  });

  it('the secondary NIC is a virtio NIC in an IOMMU group of its own', guard(async () => {
    const read = await readNodeOk(PREFIX, 'node01', {
      group: 'ls /sys/bus/pci/devices/0000:00:04.0/iommu_group/devices',
      driver: 'basename $(readlink /sys/bus/pci/devices/0000:00:04.0/driver)',
    });
    expect(read.group.split(/\s+/)).toEqual(['0000:00:04.0']);
    expect(read.driver).toBe('virtio-pci');
  }));

  it('node01 and node02 reach each other over the secondary network, both ways', guard(async () => {
    const linkLocal = (brief: string) => brief.split(/\s+/)[2]?.split('/')[0];
    const n1 = await readNodeOk(PREFIX, 'node01', { secondary: 'ip -6 -br addr show dev enp0s4', mgmt: 'ip -br addr show dev enp0s2' });
    const a1 = linkLocal(n1.secondary);
    const a2 = linkLocal(await onNode(PREFIX, 'node02', 'ip -6 -br addr show dev enp0s4'));
    expect(a1).toMatch(/^fe80:/);
    expect(a2).toMatch(/^fe80:/);
    expect(await onNode(PREFIX, 'node01', `ping -c 3 -W 3 ${a2}%enp0s4`)).toMatch(/3 received/);
    expect(await onNode(PREFIX, 'node02', `ping -c 3 -W 3 ${a1}%enp0s4`)).toMatch(/3 received/);
    // The management network is not how they met: each node's user network is its own.
    expect(n1.mgmt).toMatch(/10\.0\.2\.15\/24/);
  }));

  it('the switch does not send a node its own frames back', guard(async () => {
    const RX = 'cat /sys/class/net/enp0s4/statistics/rx_packets';
    const before2 = Number(await onNode(PREFIX, 'node02', RX));
    // 10 multicast echo requests: node02 gets each once and answers; an echoing network would also hand
    // node01 its own 10 requests back (about 20 received instead of about 10). node01's counter is read
    // before and after the pings in the same session.
    const n1 = await readNodeOk(PREFIX, 'node01', { before: RX, ping: 'ping -6 -c 10 -i 0.2 -W 1 ff02::1%enp0s4 >/dev/null', after: RX });
    const [before1, after1] = [Number(n1.before), Number(n1.after)];
    const after2 = Number(await onNode(PREFIX, 'node02', RX));
    expect(after2 - before2).toBeGreaterThanOrEqual(10);
    expect(after1 - before1).toBeGreaterThanOrEqual(10);
    expect(after1 - before1).toBeLessThan(16);
  }));

  it('ssh propagates the exit code, scp copies both ways, ports prints the forwarded port', guard(async () => {
    expect((await dpdkci(['ssh', '--prefix', PREFIX, 'node01', '--', 'exit 7'])).exitCode).toBe(7);
    const dir = mkdtempSync(join(tmpdir(), 'dpdkci-scp-'));
    writeFileSync(join(dir, 'up.txt'), 'hello node\n');
    expect((await dpdkci(['scp', '--prefix', PREFIX, join(dir, 'up.txt'), 'node02:/tmp/up.txt'])).exitCode).toBe(0);
    expect(await onNode(PREFIX, 'node02', 'cat /tmp/up.txt')).toBe('hello node');
    expect((await dpdkci(['scp', '--prefix', PREFIX, 'node02:/etc/hostname', join(dir, 'back.txt')])).exitCode).toBe(0);
    expect(readFileSync(join(dir, 'back.txt'), 'utf8').trim()).toBe('node02');
    const port = await dpdkci(['ports', 'ssh', '--prefix', PREFIX, '--node', 'node02']);
    const status = JSON.parse(String((await dpdkci(['status', '--prefix', PREFIX, '-o', 'json'])).stdout));
    expect(Number(port.stdout)).toBe(status.nodes[1].sshPort);
  }));

  it('keys and known_hosts are private to the cluster; host keys are pinned', guard(async () => {
    const ssh = join(stateDir(PREFIX), 'ssh');
    for (const f of ['id_ed25519', 'known_hosts']) expect(statSync(join(ssh, f)).mode & 0o777).toBe(0o600);
    expect(statSync(ssh).mode & 0o777).toBe(0o700);
    const known = readFileSync(join(ssh, 'known_hosts'), 'utf8');
    const hostKey = await onNode(PREFIX, 'node01', 'cut -d" " -f1,2 /etc/ssh/ssh_host_ed25519_key.pub');
    expect(known).toContain(`dpdkci-${PREFIX}-node01 ${hostKey}`);
    // node02's key differs: no shared host keys from the image.
    expect(await onNode(PREFIX, 'node02', 'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub')).not.toBe(hostKey.split(' ')[1]);
  }));

  it('a second up on the healthy cluster changes nothing', guard(async () => {
    const pids = qemuPids(PREFIX).sort();
    const again = await dpdkci(['up', '--prefix', PREFIX, '--nodes', '2', '--memory', '2G', '--hugepages-2m', String(HUGEPAGES)]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/is up and healthy; nothing changed/);
    expect(qemuPids(PREFIX).sort()).toEqual(pids);
  }));

  it('a node killed with SIGKILL shows as down, and the next up brings it back', guard(async () => {
    const status = JSON.parse(String((await dpdkci(['status', '--prefix', PREFIX, '-o', 'json'])).stdout));
    const node02 = status.nodes.find((n: { name: string }) => n.name === 'node02');
    process.kill(node02.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1_000));
    const after = JSON.parse(String((await dpdkci(['status', '--prefix', PREFIX, '-o', 'json'])).stdout));
    expect(after.nodes.map((n: { state: string }) => n.state)).toEqual(['running', 'down']);
    const up = await dpdkci(['up', '--prefix', PREFIX, '--nodes', '2', '--memory', '2G', '--hugepages-2m', String(HUGEPAGES)]);
    expect(up.exitCode).toBe(0);
    expect(up.stdout).toMatch(/node02 +worker +running/);
    expect(await onNode(PREFIX, 'node02', 'hostname')).toBe('node02');
  }));

  it('down stops every node and leaves nothing under the state directory; a second down is fine', guard(async () => {
    const down = await dpdkci(['down', '--prefix', PREFIX]);
    expect(down.exitCode).toBe(0);
    expect(qemuPids(PREFIX)).toEqual([]);
    expect(stateExists(PREFIX)).toBe(false);
    expect((await dpdkci(['down', '--prefix', PREFIX])).exitCode).toBe(0);
  }));
});

describe('interrupting up', () => {
  const PFX = 'e2e-int';
  removedAfterAll(PFX);

  it('Ctrl-C while nodes boot stops them and leaves nothing behind (exit 130)', async () => {
    await dpdkci(['down', '--prefix', PFX, '--force']);
    const child = dpdkciChild(['up', '--prefix', PFX, '--nodes', '2', '--memory', '2G']);
    // Wait until QEMU runs, then interrupt like a terminal would.
    const deadline = Date.now() + 5 * 60_000;
    while (qemuPids(PFX).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(qemuPids(PFX)).toHaveLength(2);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(String(r.all)).toMatch(/interrupted/);
    expect(qemuPids(PFX)).toEqual([]);
    expect(stateExists(PFX)).toBe(false);
  });
});

describe('the image cache', () => {
  // How fast a cache hit is belongs to `npm run bench`, not to a test on a loaded runner.
  it('a second provision with an unchanged recipe is a cache hit', async () => {
    expect((await dpdkci(['provision'])).exitCode).toBe(0);
    const r = await dpdkci(['provision', '-o', 'json']);
    expect(r.exitCode).toBe(0);
    expect(String(r.all)).toMatch(/cache hit/);
    const image = JSON.parse(String(r.stdout));
    for (const f of [image.disk, image.kernel, image.initrd, image.pvhKernel]) expect(existsSync(f)).toBe(true);
    expect(readdirSync(image.dir)).toEqual(expect.arrayContaining(['disk.qcow2', 'vmlinuz', 'vmlinux', 'initrd.img', 'packages.lock', 'image.json']));
    // Debian's kernel carries the PVH entry, so nodes boot it unpacked; the ELF check is pvh-kernel.ts's own.
    expect(image.bootNote).toMatch(/^PVH boot of the unpacked kernel \(xz payload\)$/);
  });
});
