import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readClusterRecord, type ClusterRecord } from '../../src/core/cluster.js';
import { clusterPaths } from '../../src/core/paths.js';
import { dpdkci, failureSummary, keepLogs, KEEP, onNode, stateExists } from './helpers.js';
import { placesFrom } from '../../src/core/places.js';

/**
 * The hosts provider on real machines: two VMs of dpdkci's image without --dpdk, started by this test as a
 * plain QEMU cluster (MACHINES), used only as machines reachable over SSH. dpdkci then turns them into the
 * nodes of a hosts cluster (HOSTS) from an inventory, checks traffic between them, and undoes it all.
 */
const MACHINES = 'e2e-hostvm';
const HOSTS = 'e2e-hosts';
const DIR = mkdtempSync(join(tmpdir(), 'dpdkci-e2e-hosts-'));

interface Machine {
  name: string;
  port: number;
  hostKey: string;
}

/** lab2 is reached as a user of its own with passwordless sudo (as labs often have it), lab1 as root. */
const SUDO_USER = 'lab';

function inventory(file: string, hosts: { m: Machine; nic: string; hostKey?: string }[], keyFile: string): string {
  const path = join(DIR, file);
  const lines = ['hosts:'];
  for (const h of hosts) {
    lines.push(`  - name: ${h.m.name}`, '    address: 127.0.0.1', `    port: ${h.m.port}`, `    keyFile: ${keyFile}`, `    hostKey: "${h.hostKey ?? h.m.hostKey}"`, `    nic: "${h.nic}"`);
    if (h.m.name === 'lab2') lines.push(`    user: ${SUDO_USER}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/**
 * What down must put back as the machine had it: the ovs-vswitchd build, whether /opt/cni and the 2M
 * hugetlbfs mount were there, and, last, OVS's other_config read from its database file (OVS may not run).
 */
const AS_IT_WAS =
  'readlink -f /etc/alternatives/ovs-vswitchd; test -e /opt/cni && echo /opt/cni there || echo no /opt/cni; mountpoint /dev/hugepages || true; ' +
  'echo OVSDB; if [ -s /etc/openvswitch/conf.db ]; then ovsdb-tool query /etc/openvswitch/conf.db \'["Open_vSwitch",{"op":"select","table":"Open_vSwitch","where":[],"columns":["other_config"]}]\'; else echo none; fi';

/** AS_IT_WAS, the database's answer read as the other_config map (none: no database, no settings). */
function asItWas(out: string): { lines: string[]; otherConfig: Record<string, string> } {
  const [head = '', db = 'none'] = out.split('\nOVSDB\n');
  const pairs: [string, string][] = db.trim() === 'none' ? [] : JSON.parse(db)[0].rows[0].other_config[1];
  return { lines: head.split('\n'), otherConfig: Object.fromEntries(pairs) };
}

const up = (inv: string, extra: string[] = []) => dpdkci(['up', '--provider', 'hosts', '--inventory', inv, '--prefix', HOSTS, '--dpdk', ...extra], { timeoutMs: 20 * 60_000 });

describe('up --provider hosts on two machines it did not boot', () => {
  let m1: Machine;
  let m2: Machine;
  let key: string;
  let good: string;
  const before: Record<string, ReturnType<typeof asItWas>> = {};

  beforeAll(async () => {
    await dpdkci(['down', '--prefix', HOSTS, '--force']);
    // The machines: dpdkci's own image, no dataplane, a second NIC each on one switch, SSH on 127.0.0.1.
    const r = await dpdkci(['up', '--prefix', MACHINES, '--nodes', '2', '--memory', '3584M', '--kubernetes', 'none', '--random-ports', '--no-registry'], { timeoutMs: 15 * 60_000 });
    if (r.exitCode !== 0) throw new Error(`the machines did not come up:\n${failureSummary(String(r.stderr))}`);
    const record = readClusterRecord(clusterPaths(MACHINES, placesFrom(process.env)).specFile) as ClusterRecord;
    key = clusterPaths(MACHINES, placesFrom(process.env)).privateKey;
    [m1, m2] = record.nodes.map((n, i) => ({ name: `lab${i + 1}`, port: n.sshPort, hostKey: n.hostKey })) as [Machine, Machine];
    // One machine lacks a node package, which up must then install from the machine's own apt sources.
    await onNode(MACHINES, 'node02', 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q driverctl >/dev/null && echo purged');
    // lab2's login user is not root: every command dpdkci runs there goes through sudo -n.
    await onNode(
      MACHINES,
      'node02',
      `apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends sudo >/dev/null && useradd -m -s /bin/bash ${SUDO_USER} && ` +
        `install -d -m 0700 -o ${SUDO_USER} -g ${SUDO_USER} /home/${SUDO_USER}/.ssh && install -m 0600 -o ${SUDO_USER} -g ${SUDO_USER} /root/.ssh/authorized_keys /home/${SUDO_USER}/.ssh/ && ` +
        `echo '${SUDO_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${SUDO_USER} && chmod 0440 /etc/sudoers.d/${SUDO_USER} && echo ok`,
    );
    // One host names its DPDK NIC by PCI address, the other by interface name, as the kernel calls it.
    // A virtio NIC's interface hangs off its virtioN child, not the PCI function's own net/.
    const iface = await onNode(MACHINES, 'node02', 'ls /sys/bus/pci/devices/0000:00:04.0/virtio*/net');
    good = inventory('good.yaml', [{ m: m1, nic: '0000:00:04.0' }, { m: m2, nic: iface }], key);
    for (const node of ['node01', 'node02']) before[node] = asItWas(await onNode(MACHINES, node, AS_IT_WAS));
  }, 20 * 60_000);

  afterAll(async () => {
    if (KEEP) return;
    await dpdkci(['down', '--prefix', HOSTS]);
    await dpdkci(['down', '--prefix', MACHINES, '--force']);
  }, 10 * 60_000);

  it('refuses the NIC that carries SSH and the default route, and changes nothing', async () => {
    const r = await up(inventory('ssh-nic.yaml', [{ m: m1, nic: '0000:00:02.0' }, { m: m2, nic: '0000:00:04.0' }], key));
    expect(r.exitCode, String(r.all)).toBe(2);
    expect(String(r.stderr)).toMatch(/host "lab1": NIC 0000:00:02.0 \(\S+\) carries the host's default route/);
    expect(String(r.stderr)).toMatch(/host "lab1": NIC 0000:00:02.0 \(\S+\) carries an SSH connection/);
    expect(stateExists(HOSTS)).toBe(false);
    expect(await onNode(MACHINES, 'node01', 'test -e /var/lib/dpdkci && echo there || echo none')).toBe('none');
    expect(await onNode(MACHINES, 'node01', 'readlink /sys/bus/pci/devices/0000:00:04.0/driver | xargs basename')).toBe('virtio-pci');
  }, 5 * 60_000);

  it('refuses a host whose key is not the pinned one, printing the key it offered', async () => {
    const r = await up(inventory('wrong-key.yaml', [{ m: m1, nic: '0000:00:04.0', hostKey: m2.hostKey }], key));
    expect(r.exitCode, String(r.all)).toBe(2);
    expect(String(r.stderr)).toMatch(/lab1 \(127\.0\.0\.1:\d+\) offered the host key ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}, which is not pinned/);
    expect(String(r.stderr)).toContain(`set hostKey in the inventory for host "lab1" to "${m1.hostKey.split(/\s+/).slice(0, 2).join(' ')}"`);
    expect(stateExists(HOSTS)).toBe(false);
  }, 5 * 60_000);

  it('converges both hosts, and the traffic check passes between them', async () => {
    const r = await up(good, ['-o', 'json']);
    if (r.exitCode !== 0) await keepLogs(HOSTS, 'hosts-up');
    expect(r.exitCode, failureSummary(String(r.stderr))).toBe(0);
    expect(String(r.stderr)).toMatch(/reserve hugepages/);
    expect(String(r.stderr)).toMatch(/install node packages: lab2: packages installed: driverctl/);
    // up's closing traffic check, read from its report: every path of both hosts carried traffic.
    const { check } = JSON.parse(String(r.stdout)) as { check: { ok: boolean; paths: { kind: string; name: string; received: number }[] } };
    expect(check.ok, JSON.stringify(check.paths, null, 2)).toBe(true);
    expect(check.paths.map((p) => `${p.kind}: ${p.name}`)).toEqual(
      expect.arrayContaining([
        'vhost-user loop: lab1 vhost-user a->b via OVS-DPDK',
        'vhost-user loop: lab2 vhost-user a->b via OVS-DPDK',
        'node to node: lab1 -> lab2 over dpdk0',
        'node to node: lab2 -> lab1 over dpdk0',
      ]),
    );
    for (const p of check.paths) expect(p.received, p.name).toBeGreaterThan(0);
    for (const node of ['node01', 'node02']) {
      expect(await onNode(MACHINES, node, 'readlink /sys/bus/pci/devices/0000:00:04.0/driver | xargs basename')).toBe('vfio-pci');
      expect(await onNode(MACHINES, node, 'ovs-vsctl get Interface dpdk0 link_state')).toBe('up');
      expect(await onNode(MACHINES, node, 'stat -c "%U:%G %a" /var/lib/vhost_sockets')).toBe('root:hugetlbfs 2775');
      expect(Number(await onNode(MACHINES, node, 'cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'))).toBeGreaterThanOrEqual(896);
    }
    const status = JSON.parse(String((await dpdkci(['status', '--prefix', HOSTS, '-o', 'json'])).stdout));
    expect(status.provider).toBe('hosts');
    expect(status.nodes.map((n: { offers: { nic: string; driver: string } }) => [n.offers.nic.split(' ')[0], n.offers.driver])).toEqual([
      ['0000:00:04.0', 'vfio-pci'],
      ['0000:00:04.0', 'vfio-pci'],
    ]);
    const text = String((await dpdkci(['status', '--prefix', HOSTS])).stdout);
    expect(text).toMatch(/provider hosts/);
    expect(text).toMatch(/HUGEPAGES FREE/);
  }, 20 * 60_000);

  it('a second up applies nothing, and dpdkci check passes', async () => {
    const again = await up(good);
    expect(again.exitCode, failureSummary(String(again.stderr))).toBe(0);
    expect(String(again.stdout)).toContain('nothing changed');
    const check = await dpdkci(['check', '--prefix', HOSTS, '--seconds', '3'], { timeoutMs: 10 * 60_000 });
    expect(check.exitCode, failureSummary(String(check.stderr))).toBe(0);
    // dpdkci ssh logs in as the inventory's user, who is not root on lab2.
    const ssh = await dpdkci(['ssh', '--prefix', HOSTS, 'lab2', '--', 'id -un; sudo -n ovs-vsctl br-exists br-dpdk0 && echo yes']);
    expect(String(ssh.stdout).trim().split('\n')).toEqual([SUDO_USER, 'yes']);
  }, 15 * 60_000);

  it('scp, ports, logs, sync and --dry-run work on the hosts cluster as on a QEMU one', async () => {
    const file = join(DIR, 'hello.txt');
    writeFileSync(file, 'hello from the host\n');
    expect((await dpdkci(['scp', '--prefix', HOSTS, file, 'lab1:/tmp/hello.txt'])).exitCode).toBe(0);
    expect(await onNode(MACHINES, 'node01', 'cat /tmp/hello.txt')).toBe('hello from the host');
    expect(String((await dpdkci(['ports', 'ssh', '--prefix', HOSTS, '--node', 'lab2'])).stdout).trim()).toBe(String(m2.port));
    const logs = join(DIR, 'logs');
    const l = await dpdkci(['logs', '--prefix', HOSTS, logs], { timeoutMs: 5 * 60_000 });
    expect(l.exitCode, String(l.all)).toBe(0);
    expect(readFileSync(join(logs, 'lab2', 'ovs-vsctl-show.txt'), 'utf8')).toContain('br-dpdk0');
    // sync: a CNI binary pushed to a host is recorded there, so that down takes it away again.
    const cni = join(DIR, 'cni');
    mkdirSync(cni);
    writeFileSync(join(cni, 'dpdkci-e2e-cni'), '#!/bin/sh\necho e2e\n', { mode: 0o755 });
    await onNode(MACHINES, 'node02', 'ovs-vsctl set Open_vSwitch . other_config:pmd-cpu-mask=0x1');
    const sync = await dpdkci(['sync', '--prefix', HOSTS, '--cni-bin', cni], { timeoutMs: 5 * 60_000 });
    expect(sync.exitCode, String(sync.all)).toBe(0);
    expect(String(sync.stdout)).toMatch(/lab2\s+dataplane\s+other_config:pmd-cpu-mask=0x2\s+restored/);
    expect(await onNode(MACHINES, 'node01', '/opt/cni/bin/dpdkci-e2e-cni')).toBe('e2e');
    const dry = await dpdkci(['up', '--provider', 'hosts', '--inventory', good, '--prefix', HOSTS, '--dpdk', '--dry-run']);
    expect(dry.exitCode, String(dry.all)).toBe(0);
    expect(String(dry.stdout)).toMatch(/lab2 +run +bash -s -- enp\S+ br-dpdk0 \/var\/lib\/vhost_sockets < scripts\/node\/host-facts.sh/);
  }, 10 * 60_000);

  it('down --purge-packages puts each NIC back on virtio-pci, removes br-dpdk0, the socket directory and the packages it installed, and the machines keep answering', async () => {
    const r = await dpdkci(['down', '--prefix', HOSTS, '--provider', 'hosts', '--purge-packages'], { timeoutMs: 10 * 60_000 });
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.stderr)).toMatch(/lab1: restored 0000:00:04.0 on virtio-pci/);
    expect(String(r.stderr)).toMatch(/lab2: restored the packages as they were: purged driverctl/);
    expect(await onNode(MACHINES, 'node02', "dpkg-query -W -f='${db:Status-Status}' driverctl 2>/dev/null || echo absent")).toMatch(/^(absent|not-installed|config-files)$/);
    expect(stateExists(HOSTS)).toBe(false);
    // With --purge-packages no package is kept (down without it names them: test/e2e/hosts-kubernetes.test.ts).
    expect(String(r.stderr)).not.toMatch(/kept packages/);
    for (const node of ['node01', 'node02']) {
      // The ovs-vswitchd build, OVS's other_config, /opt/cni (made by sync) and the hugetlbfs mount as they were.
      const now = asItWas(await onNode(MACHINES, node, AS_IT_WAS));
      expect(now.lines, node).toEqual(before[node]?.lines);
      expect(now.otherConfig, node).toEqual(before[node]?.otherConfig);
      expect(await onNode(MACHINES, node, 'readlink /sys/bus/pci/devices/0000:00:04.0/driver | xargs basename')).toBe('virtio-pci');
      expect(await onNode(MACHINES, node, 'driverctl list-overrides | grep -c . || true')).toBe('0');
      expect(await onNode(MACHINES, node, 'systemctl start ovsdb-server; ovs-vsctl br-exists br-dpdk0 && echo bridge || echo none')).toBe('none');
      expect(await onNode(MACHINES, node, 'test -e /var/lib/vhost_sockets && echo there || echo none')).toBe('none');
      expect(await onNode(MACHINES, node, 'test -e /var/lib/dpdkci -o -e /usr/local/lib/dpdkci && echo there || echo none')).toBe('none');
      expect(await onNode(MACHINES, node, 'systemctl is-active ovs-vswitchd || true')).not.toBe('active');
      expect(await onNode(MACHINES, node, 'cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages')).toBe('64');
      expect(await onNode(MACHINES, node, 'test -e /opt/cni/bin/dpdkci-e2e-cni && echo there || echo none')).toBe('none');
    }
  }, 10 * 60_000);
});
