import { describe, expect, it } from 'vitest';
import { resolveClusterOptions } from '../../src/core/config.js';
import { runPipeline } from '../../src/core/pipeline.js';
import { createProgress } from '../../src/core/progress.js';
import { createFakeRunner, type FakeRunner } from '../../src/exec/fake-runner.js';
import { dataplaneSteps } from '../../src/steps/dataplane/index.js';
import type { UpContext } from '../../src/steps/context.js';

// Sequencing only: which commands the --dpdk steps send to each node, and in which order.
// That the commands work is shown by test/e2e/dpdk.test.ts on real nodes.
const S = '/usr/local/lib/dpdkci/dpdk-setup.sh';

function ctxWith(runners: FakeRunner[], flags: Record<string, string | boolean> = {}): UpContext {
  return {
    options: resolveClusterOptions({ dpdk: true, ...flags }, {}, { memAvailableMiB: 100_000 }),
    nodes: runners.map((runner, i) => ({ name: `node0${i + 1}`, role: 'worker', address: '', runner })),
    progress: createProgress({ stream: { write: () => true }, live: false }),
  } as unknown as UpContext;
}

describe('the --dpdk steps', () => {
  it('check every part, apply what is pending, in order, on every node', async () => {
    const runners = [createFakeRunner('node01'), createFakeRunner('node02')];
    // node01 needs vfio and OVS; node02 only OVS. Everything else is converged.
    runners[0]!.on(/check (vfio|ovs)/, { exitCode: 3, stdout: 'pending x' });
    runners[1]!.on(/check ovs/, { exitCode: 3, stdout: 'pending x' });
    const ctx = ctxWith(runners);
    const result = await runPipeline(dataplaneSteps, ctx, ctx.progress);
    // Nodes this up did not create: nothing is prepared in the background.
    expect(result.skipped).toEqual(['prepare OVS in the background', 'check hugepages', 'vhost-user socket directory']);
    expect(result.applied).toEqual(['bind DPDK NIC to vfio-pci', 'OVS-DPDK and br-dpdk0']);
    expect(runners[0]!.calls.map((c) => c.slice(1, 3).join(' '))).toEqual([
      'check hugepages',
      'check vfio',
      'apply vfio',
      'check socket-dir',
      'check ovs',
      'apply ovs',
    ]);
    // A node that is already converged for a part is left alone.
    expect(runners[1]!.calls.map((c) => c.slice(1, 3).join(' '))).toEqual(['check hugepages', 'check vfio', 'check socket-dir', 'check ovs', 'apply ovs']);
    expect(runners[0]!.calls[0]).toEqual([S, 'check', 'hugepages', '896', '0']);
    expect(runners[0]!.calls[2]).toEqual([S, 'apply', 'vfio', '0000:00:04.0', '0']);
    expect(runners[0]!.calls[5]).toEqual([S, 'apply', 'ovs', '0000:00:04.0', '512', '768', '0x1', '0x2', 'br-dpdk0', '1000']);
  });

  it('on a node this up created, applies every part without checking first; other nodes are checked', async () => {
    const runners = [createFakeRunner('node01'), createFakeRunner('node02')];
    runners[1]!.on(/check ovs/, { exitCode: 3, stdout: 'pending x' });
    runners[0]!.on(/apply vfio/, { stdout: 'changed 0000:00:04.0 bound to vfio-pci' });
    const ctx = { ...ctxWith(runners), created: new Set(['node01']) } as UpContext;
    const result = await runPipeline(dataplaneSteps, ctx, ctx.progress);
    // The created node first gets the OVS preparation started in the background, then every part applied.
    expect(runners[0]!.calls[0]).toEqual(['systemd-run', '--no-block', '--collect', '--unit=dpdkci-prewarm', '--description=dpdkci: prepare for OVS-DPDK', S, 'prewarm', 'ovs']);
    expect(runners[0]!.calls.slice(1).map((c) => c.slice(1, 3).join(' '))).toEqual(['apply hugepages', 'apply vfio', 'apply socket-dir', 'apply ovs']);
    expect(runners[1]!.calls.map((c) => c.slice(1, 3).join(' '))).toEqual(['check hugepages', 'check vfio', 'check socket-dir', 'check ovs', 'apply ovs']);
    expect(result.applied).toEqual(['prepare OVS in the background', 'check hugepages', 'bind DPDK NIC to vfio-pci', 'vhost-user socket directory', 'OVS-DPDK and br-dpdk0']);
  });

  it('passes --vfio-noiommu and the socket directory through', async () => {
    const runner = createFakeRunner('node01').on(/check (vfio|socket-dir)/, { exitCode: 3 });
    const ctx = ctxWith([runner], { vfioNoiommu: true, vhostSocketDir: '/run/vhu' });
    await runPipeline(dataplaneSteps, ctx, ctx.progress);
    expect(runner.calls).toContainEqual([S, 'apply', 'vfio', '0000:00:04.0', '1']);
    expect(runner.calls).toContainEqual([S, 'apply', 'socket-dir', '/run/vhu']);
  });

  it('a failing apply names the node and carries the script explanation', async () => {
    const runner = createFakeRunner('node01')
      .on(/check vfio/, { exitCode: 3 })
      .on(/apply vfio/, { exitCode: 1, stderr: 'dpdk-setup vfio: no IOMMU on this node' });
    const ctx = ctxWith([runner]);
    await expect(runPipeline(dataplaneSteps, ctx, ctx.progress)).rejects.toThrow(/^node01: bind DPDK NIC to vfio-pci failed:\ndpdk-setup vfio: no IOMMU on this node$/);
  });

  it('a check that errors (not 0, not 3) fails the step', async () => {
    const runner = createFakeRunner('node01').on(/check hugepages/, { exitCode: 1, stderr: 'only 100 of 896 2M hugepages were reserved at boot' });
    const ctx = ctxWith([runner]);
    await expect(runPipeline(dataplaneSteps, ctx, ctx.progress)).rejects.toThrow(/^node01: check hugepages failed:\nonly 100 of 896 2M hugepages/);
  });

  it('is not part of a cluster without --dpdk', async () => {
    const runner = createFakeRunner('node01');
    const ctx = { ...ctxWith([runner]), options: resolveClusterOptions({}, {}, { memAvailableMiB: 100_000 }) } as UpContext;
    const result = await runPipeline(dataplaneSteps, ctx, ctx.progress);
    expect(result).toEqual({ applied: [], skipped: [] });
    expect(runner.calls).toEqual([]);
  });
});
