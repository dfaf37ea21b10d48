import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACTS, dpdkci, failureSummary, onNode, qemuPids, readNodeOk, removedAfterAll, sharedCluster, stateDir, stateExists } from './helpers.js';

/**
 * --dpdk for real: two QEMU nodes with a vfio-pci NIC behind the vIOMMU, OVS-DPDK, br-dpdk0, vhost-user
 * traffic checked by testpmd. The state is read from inside the nodes with `dpdkci ssh`, not only through
 * `dpdkci check`.
 */
const PREFIX = 'e2e-dpdk';
const UP = ['up', '--prefix', PREFIX, '--nodes', '2', '--dpdk'];


describe.sequential('up --nodes 2 --dpdk', () => {
  const { guard, markFailed } = sharedCluster(PREFIX);
  beforeAll(async () => {
    await dpdkci(['down', '--prefix', PREFIX, '--force']);
    const up = await dpdkci([...UP, '-o', 'json', '--junit', join(ARTIFACTS, 'junit.e2e-dpdk-up.xml')]);
    if (up.exitCode !== 0) {
      await markFailed();
      throw new Error(`up --dpdk failed (exit ${up.exitCode}):\n${failureSummary(String(up.stderr))}`);
    }
    const result = JSON.parse(String(up.stdout));
    // up --dpdk ends with the traffic check, and it passed.
    expect(result.check.ok).toBe(true);
    expect(result.applied).toContain('check dataplane traffic');
  });


  it.each(['node01', 'node02'])('%s: the NIC is on vfio-pci, DPDK is initialised, br-dpdk0 holds dpdk0 without error', (node) =>
    guard(async () => {
      const read = await readNodeOk(PREFIX, node, {
        driver: 'basename $(readlink /sys/bus/pci/devices/0000:00:04.0/driver)',
        overrides: 'driverctl list-overrides',
        initialized: 'ovs-vsctl get Open_vSwitch . dpdk_initialized',
        datapath: 'ovs-vsctl get bridge br-dpdk0 datapath_type',
        ports: 'ovs-vsctl list-ports br-dpdk0',
        type: 'ovs-vsctl get Interface dpdk0 type',
        error: 'ovs-vsctl get Interface dpdk0 error',
        link: 'ovs-vsctl get Interface dpdk0 link_state',
        pmdMask: 'ovs-vsctl get Open_vSwitch . other_config:pmd-cpu-mask',
        dpdkExtra: 'ovs-vsctl get Open_vSwitch . other_config:dpdk-extra',
        prewarm: 'journalctl -b -o cat -u dpdkci-prewarm.service',
      });
      expect(read.driver).toBe('vfio-pci');
      expect(read.overrides).toBe('0000:00:04.0 vfio-pci');
      expect(read.initialized).toBe('true');
      expect(read.datapath).toBe('netdev');
      expect(read.ports.split('\n')).toContain('dpdk0');
      expect(read.type).toBe('dpdk');
      expect(read.error).toBe('[]');
      expect(read.link).toBe('up');
      // The PMD has the last vCPU to itself; EAL may only touch the DPDK NIC.
      expect(read.pmdMask).toBe('"0x2"');
      expect(read.dpdkExtra).toBe('"-a 0000:00:04.0"');
      // up prepared OVS in the background on the new node, and that went through.
      expect(read.prewarm).toMatch(/dpdkci-prewarm\.service: Deactivated successfully/);
    })(),
  );

  it('the vhost-user socket directory is shared through group hugetlbfs and not world-writable', guard(async () => {
    expect(await onNode(PREFIX, 'node01', 'stat -c "%U:%G %a" /var/lib/vhost_sockets')).toBe('root:hugetlbfs 2775');
  }));

  it('status -o json records the dataplane for the Kubernetes layer', guard(async () => {
    const status = JSON.parse(String((await dpdkci(['status', '--prefix', PREFIX, '-o', 'json'])).stdout));
    expect(status.nodes[0].dataplane).toMatchObject({ pci: '0000:00:04.0', pmdMask: '0x2', lcoreMask: '0x1', socketDir: '/var/lib/vhost_sockets', bridge: 'br-dpdk0' });
  }));

  // One traffic run covers what a plain check and a restart check each showed: --restart-ovs runs every
  // path of the plain check first (src/dataplane/check.ts checkSchedule), then the restart.
  it('check --restart-ovs passes traffic in each node and between the nodes, the client-mode ports reconnect after ovs-vswitchd restarts, and it cleans up after itself', guard(async () => {
    const r = await dpdkci(['check', '--prefix', PREFIX, '--restart-ovs', '-o', 'json']);
    const report = JSON.parse(String(r.stdout));
    expect(r.exitCode, JSON.stringify({ failed: report.paths.filter((p: { ok: boolean }) => !p.ok), restart: report.restart }, null, 2)).toBe(0);
    expect(report.ok).toBe(true);
    const kinds = report.paths.map((p: { kind: string; name: string }) => `${p.kind}: ${p.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'vhost-user loop: node01 vhost-user a->b via OVS-DPDK',
        'vhost-user loop: node02 vhost-user b->a via OVS-DPDK',
        'node to node: node01 -> node02 over dpdk0',
        'node to node: node02 -> node01 over dpdk0',
      ]),
    );
    for (const p of report.paths) {
      expect(p.received, p.name).toBeGreaterThan(0);
      expect(p.pps, p.name).toBeGreaterThan(0);
    }
    expect(report.restart, JSON.stringify(report.restart)).toMatchObject({ node: 'node01', resumed: true, ok: true });
    expect(report.restart.gapSeconds).toBeGreaterThan(0);
    const after = await readNodeOk(PREFIX, 'node01', {
      ports: 'ovs-vsctl list-ports br-dpdk0',
      bridges: 'ovs-vsctl list-br',
      sockets: 'ls /var/lib/vhost_sockets | wc -l',
      testpmd: 'pgrep -c dpdk-testpmd || true',
    });
    expect(after.ports).toBe('dpdk0');
    expect(after.bridges).toBe('br-dpdk0');
    expect(after.sockets).toBe('0');
    expect(after.testpmd).toBe('0');
  }));

  it('a second up --dpdk on the healthy cluster applies nothing', guard(async () => {
    const r = await dpdkci([...UP, '-o', 'json']);
    expect(r.exitCode, String(r.all)).toBe(0);
    const result = JSON.parse(String(r.stdout));
    expect(result.applied).toEqual([]);
    expect(result.changed).toBe(false);
  }));

  it('a rebooted node comes back with DPDK initialised and dpdk0 up, and up calls it healthy', guard(async () => {
    const bootId = await onNode(PREFIX, 'node01', 'cat /proc/sys/kernel/random/boot_id');
    await dpdkci(['ssh', '--prefix', PREFIX, 'node01', '--', 'systemctl reboot']);
    // Waits for a new boot to answer over SSH, then for OVS-DPDK to be back; says which never happened.
    let last = 'no answer yet';
    let stage = 'the node to answer over SSH after the reboot';
    const deadline = Date.now() + 8 * 60_000;
    while (Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 3_000));
      const probe =
        stage.startsWith('the node')
          ? 'cat /proc/sys/kernel/random/boot_id'
          : 'ovs-vsctl --timeout=5 get Open_vSwitch . dpdk_initialized; ovs-vsctl --timeout=5 get Interface dpdk0 link_state';
      const r = await dpdkci(['ssh', '--prefix', PREFIX, 'node01', '--', probe], { timeoutMs: 30_000 });
      const out = String(r.stdout).trim();
      last = `exit ${r.exitCode}: ${out} ${String(r.stderr).trim()}`.trim();
      if (stage.startsWith('the node') && r.exitCode === 0 && out !== bootId) stage = 'OVS-DPDK to be initialised with dpdk0 up';
      else if (!stage.startsWith('the node') && out === 'true\nup') {
        stage = 'done';
        break;
      }
    }
    const consoleLog = join(stateDir(PREFIX), 'nodes', 'node01', 'console.log');
    const consoleTail = existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8').split('\n').slice(-15).join('\n') : '(no console)';
    expect(stage, `still waiting for ${stage}; last probe: ${last}\nconsole:\n${consoleTail}`).toBe('done');
    expect(await onNode(PREFIX, 'node01', 'basename $(readlink /sys/bus/pci/devices/0000:00:04.0/driver)')).toBe('vfio-pci');
    const r = await dpdkci([...UP, '-o', 'json']);
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(JSON.parse(String(r.stdout)).applied).toEqual([]);
  }));

  it('down leaves nothing', guard(async () => {
    expect((await dpdkci(['down', '--prefix', PREFIX])).exitCode).toBe(0);
    expect(qemuPids(PREFIX)).toEqual([]);
    expect(stateExists(PREFIX)).toBe(false);
  }));
});

describe('a node where the dataplane cannot come up', () => {
  const PFX = 'e2e-dpdk-fail';
  removedAfterAll(PFX);

  it('up fails naming the node and the cause, collects the logs, writes JUnit, and leaves the cluster for inspection', async () => {
    await dpdkci(['down', '--prefix', PFX, '--force']);
    const artifacts = mkdtempSync(join(tmpdir(), 'dpdkci-artifacts-'));
    const junit = join(artifacts, 'junit.xml');
    // No IOMMU in the guest: vfio-pci cannot take the NIC safely.
    const r = await dpdkci(['up', '--prefix', PFX, '--dpdk', '--kernel-args', 'intel_iommu=off', '--junit', junit], { env: { ARTIFACTS: artifacts } });
    expect(r.exitCode).toBe(1);
    // The failing node's console and OVS log, gathered before anything was cleaned up.
    const logs = join(artifacts, `dpdkci-${PFX}`, 'node01');
    expect(readFileSync(join(logs, 'console.log'), 'utf8')).toMatch(/Debian GNU\/Linux 12 node01/);
    // The NIC failed to bind, so dpdkci never started OVS on this boot: the logs say that, not nothing.
    expect(readFileSync(join(logs, 'ovs-status.txt'), 'utf8')).toMatch(/ovs-vswitchd.service[\s\S]*Active: inactive/);
    expect(readFileSync(join(logs, 'iommu.txt'), 'utf8')).toMatch(/iommu/);
    expect(readFileSync(join(logs, 'cmdline.txt'), 'utf8')).toMatch(/intel_iommu=off/);
    expect(existsSync(join(logs, 'journal.log'))).toBe(true);
    // The JUnit file: one case per step, the failing one with the cause, the rest not reached.
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testcase classname="dpdkci up e2e-dpdk-fail" name="boot nodes" time="[\d.]+"\/>/);
    expect(xml).toMatch(/name="bind DPDK NIC to vfio-pci" time="[\d.]+">\s*<failure message="node01: bind DPDK NIC to vfio-pci failed: dpdk-setup vfio: no IOMMU on this node/);
    expect(xml).toMatch(/name="check dataplane traffic" time="0">\s*<skipped message="not reached/);
    expect(String(r.all)).toMatch(/node01: bind DPDK NIC to vfio-pci failed:\s+dpdk-setup vfio: no IOMMU on this node/);
    expect(String(r.all)).toMatch(/left as it is for inspection/);
    expect(qemuPids(PFX)).toHaveLength(1);
    expect(await onNode(PFX, 'node01', 'ls /sys/class/iommu | wc -l')).toBe('0');
  });
});
