import { describe, expect, it } from 'vitest';
import { resolveClusterOptions } from '../../src/core/config.js';
import { DPDK_DEFAULT_HUGEPAGES_2M } from '../../src/core/dataplane-limits.js';
import { cpuMask, dataplanePlan } from '../../src/dataplane/plan.js';
import { checkMac, checkSchedule, dpdk0Delta, judge, planCheck } from '../../src/dataplane/check.js';
import type { TestpmdRun } from '../../src/dataplane/testpmd-stats.js';

const host = { memAvailableMiB: 50_000 };
const resolve = (flags: Record<string, string | boolean>, env: Record<string, string> = {}) => resolveClusterOptions(flags, env, host);

describe('dataplane plan', () => {
  it.each([
    [[0], '0x1'],
    [[1], '0x2'],
    [[3], '0x8'],
    [[0, 2], '0x5'],
    [[40], '0x10000000000'],
  ])('cpuMask(%j) = %s', (cpus, mask) => expect(cpuMask(cpus)).toBe(mask));

  it('gives OVS lcore 0 and the PMD the last vCPU', () => {
    expect(dataplanePlan({ pci: '0000:00:04.0', cpus: 2, hugepages2m: 896, hugepages1g: 0, socketDir: '/s' })).toMatchObject({ lcoreMask: '0x1', pmdMask: '0x2', pci: '0000:00:04.0', bridge: 'br-dpdk0' });
    expect(dataplanePlan({ pci: '0000:00:04.0', cpus: 4, hugepages2m: 896, hugepages1g: 0, socketDir: '/s' }).pmdMask).toBe('0x8');
  });
  it('preallocates 512 MiB for OVS and caps its growth so a guest keeps 512 MiB', () => {
    expect(dataplanePlan({ pci: '0000:00:04.0', cpus: 2, hugepages2m: 896, hugepages1g: 0, socketDir: '/s' })).toMatchObject({ socketMemMiB: 512, socketLimitMiB: 768 });
    expect(dataplanePlan({ pci: '0000:00:04.0', cpus: 2, hugepages2m: 512, hugepages1g: 0, socketDir: '/s' }).socketLimitMiB).toBe(512);
    expect(dataplanePlan({ pci: '0000:00:04.0', cpus: 2, hugepages2m: 0, hugepages1g: 2, socketDir: '/s' }).socketLimitMiB).toBe(768);
  });
});

describe('--dpdk options', () => {
  it('raises the hugepage default, but not an explicit count', () => {
    expect(resolve({ dpdk: true }).hugepages2m).toBe(DPDK_DEFAULT_HUGEPAGES_2M);
    expect(resolve({ dpdk: true, hugepages2m: '600' }).hugepages2m).toBe(600);
    expect(resolve({}, { DPDKCI_DPDK: 'true', KUBEVIRT_HUGEPAGES_2M: '700' }).hugepages2m).toBe(700);
    expect(resolve({}).hugepages2m).toBe(64);
  });
  it('refuses 1 vCPU', () => expect(() => resolve({ dpdk: true, cpus: '1' })).toThrow(/--cpu: 1 vCPU cannot run OVS-DPDK.*use --cpu 2 or more with --dpdk/));
  it('refuses too few hugepages for OVS and a guest', () =>
    expect(() => resolve({ dpdk: true, hugepages2m: '256' })).toThrow(/--hugepages-2m: 512 MiB of hugepages leave no room for OVS-DPDK \(512 MiB\) and one guest \(512 MiB\); give at least 512 x 2M/));
  it('refuses hugepages that do not fit in memory', () =>
    expect(() => resolve({ dpdk: true, memoryMiB: '2G' })).toThrow(/--hugepages-2m \(default with --dpdk\): 896 x 2M .* do not fit in 2048 MiB/));
  it('refuses a socket directory whose paths would pass the 108-byte limit', () => {
    const long = `/var/lib/${'x'.repeat(70)}`;
    expect(() => resolve({ dpdk: true, vhostSocketDir: long })).toThrow(/--vhost-socket-dir: .* is too long: .*108-byte limit/);
    expect(resolve({ dpdk: true, vhostSocketDir: '/run/vhu/' }).vhostSocketDir).toBe('/run/vhu');
  });
  it('refuses a relative or odd socket directory', () => {
    expect(() => resolve({ vhostSocketDir: 'relative/dir' })).toThrow(/must be an absolute path/);
    expect(() => resolve({ vhostSocketDir: '/a/../b' })).toThrow(/must be an absolute path/);
    expect(() => resolve({ vhostSocketDir: '/a b' })).toThrow(/must be an absolute path/);
  });
  it('reads booleans from the environment and names a bad one', () => {
    expect(resolve({}, { DPDKCI_DPDK: '1' }).dpdk).toBe(true);
    expect(() => resolve({}, { DPDKCI_DPDK: 'maybe' })).toThrow(/DPDKCI_DPDK: "maybe" is not true or false/);
  });
});

describe('judging a path', () => {
  const run = (txPackets: number, rxPackets: number, rxPps: number[]): TestpmdRun => ({
    samples: new Map([[0, rxPps.map((p) => ({ rxPps: p, txPps: p, rxPackets, txPackets }))]]),
    totals: new Map([[0, { txPackets, rxPackets, txDropped: 0 }]]),
  });
  it('passes with traffic and little loss', () => {
    const r = judge('node to node', 'a -> b', 'a', run(1000, 0, []), 0, run(0, 990, [0, 100, 200, 200]), 0, 5);
    expect(r).toMatchObject({ ok: true, sent: 1000, received: 990, lossPct: 1, pps: 200 });
  });
  it('fails on loss above the threshold, naming it', () => {
    const r = judge('node to node', 'a -> b', 'a', run(1000, 0, []), 0, run(0, 900, [100, 100]), 0, 5);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('10% of 1000 packets lost (threshold 5%)');
  });
  it('fails when the link never came up or nothing arrived', () => {
    expect(judge('vhost-user loop', 'x', 'a', run(0, 0, []), 0, run(0, 0, []), 0, 5).reason).toMatch(/nothing was sent: the vhost-user link never came up/);
    expect(judge('vhost-user loop', 'x', 'a', run(500, 0, []), 0, run(0, 0, [0]), 0, 5).reason).toBe('500 packets sent, none received');
  });
  const link = (sent: number, arrived: number) => ({ sent, arrived, maxLinkLossPct: 20 });
  it("node to node: OVS-DPDK's loss is from the receiver's dpdk0 to its port; the offer and the wire are kept", () => {
    const r = judge('node to node', 'a -> b', 'a', run(600_000, 0, []), 0, run(0, 19_602, [0, 5000, 5000]), 0, 5, link(20_000, 19_800));
    expect(r).toMatchObject({ ok: true, offered: 600_000, sent: 20_000, arrived: 19_800, received: 19_602, lossPct: 1, linkLossPct: 1 });
  });
  it('node to node: loss inside the receiving node fails against --max-loss', () => {
    const r = judge('node to node', 'a -> b', 'a', run(600_000, 0, []), 0, run(0, 18_000, [5000]), 0, 5, link(20_000, 20_000));
    expect(r.reason).toBe('10% of the 20000 packets that reached dpdk0 were not delivered to the vhost-user port (threshold 5%)');
  });
  it('node to node: the emulated wire is judged on its own, more loosely, but still judged', () => {
    expect(judge('node to node', 'a -> b', 'a', run(1, 0, []), 0, run(0, 18_500, [5000]), 0, 5, link(20_000, 18_500)).ok).toBe(true);
    const r = judge('node to node', 'a -> b', 'a', run(1, 0, []), 0, run(0, 10_000, [5000]), 0, 5, link(20_000, 10_000));
    expect(r.reason).toBe('50% of 20000 packets lost on the emulated link between the nodes (threshold 20%, --max-link-loss)');
    expect(judge('node to node', 'a -> b', 'a', run(1, 0, []), 0, run(0, 0, [0]), 0, 5, link(20_000, 0)).reason).toBe(
      "20000 packets left the sender's dpdk0, none reached the receiver's",
    );
  });
  it('reads dpdk0 counters around a run', () => {
    const out = 'x\n@@dpdk0 before tx=100 rx=7\n1795426741.3 Bye...\n@@dpdk0 after tx=20100 rx=9\n';
    expect(dpdk0Delta(out)).toEqual({ tx: 20_000, rx: 2 });
    expect(dpdk0Delta('@@dpdk0 before tx=1 rx=1\n')).toBeUndefined();
  });
  it('gives each node a distinct locally administered MAC', () => {
    expect(checkMac(1)).toBe('02:dc:01:00:00:01');
    expect(checkMac(12)).toBe('02:dc:01:00:00:0c');
  });
});

describe('the check plan', () => {
  const plan = dataplanePlan({ pci: '0000:00:04.0', cpus: 2, hugepages2m: 896, hugepages1g: 0, socketDir: '/var/lib/vhost_sockets' });
  const runs = (names: string[]) =>
    planCheck(names, plan, { seconds: 3, peerRatePps: 2000, compareKernel: false, freshNodes: true })
      .filter((a) => a.verb === 'run')
      .map((a) => `${a.on} ${/dpdk-check\.sh (\w+)/.exec(a.what)?.[1]}`);

  it('one node: its loop, then the clean-up', () => {
    expect(runs(['node01'])).toEqual(['node01 loop', 'node01 cleanup']);
  });

  it('two nodes: one run per node carries both the loop and the pair', () => {
    expect(runs(['node01', 'node02'])).toEqual(['node01 both', 'node02 both', 'node01 gate', 'node02 gate', 'node01 cleanup', 'node02 cleanup']);
  });

  it('three nodes: the loops on all nodes at once, then each pair in turn', () => {
    expect(runs(['node01', 'node02', 'node03'])).toEqual([
      'node01 loop', 'node02 loop', 'node03 loop',
      'node01 peer', 'node02 peer', 'node01 gate', 'node02 gate',
      'node01 peer', 'node03 peer', 'node01 gate', 'node03 gate',
      'node02 peer', 'node03 peer', 'node02 gate', 'node03 gate',
      'node01 cleanup', 'node02 cleanup', 'node03 cleanup',
    ]);
  });

  it('runCheck and the plan follow one schedule: a clean-up first on nodes that ran a check before, the kernel path and the OVS restart last', () => {
    const kinds = (count: number, o: Parameters<typeof checkSchedule>[1]) => checkSchedule(count, o).map((p) => (p.kind === 'pair' ? `pair ${p.i}-${p.j}${p.withLoops ? '+loops' : ''}` : p.kind));
    expect(kinds(2, { compareKernel: false, freshNodes: true })).toEqual(['pair 0-1+loops']);
    expect(kinds(3, { compareKernel: true, freshNodes: false, restartOvs: true })).toEqual(['cleanup', 'loops', 'pair 0-1', 'pair 0-2', 'pair 1-2', 'kernel', 'restart']);
    expect(kinds(1, { compareKernel: false, freshNodes: false })).toEqual(['cleanup', 'loops']);
  });
});
