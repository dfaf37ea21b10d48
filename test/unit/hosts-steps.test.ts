import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { providerOf } from '../../src/provider/registry.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveClusterOptions } from '../../src/core/config.js';
import { clusterPaths } from '../../src/core/paths.js';
import { runPipeline } from '../../src/core/pipeline.js';
import { createProgress } from '../../src/core/progress.js';
import { createFakeRunner, type FakeRunner } from '../../src/exec/fake-runner.js';
import { checkHosts, installHostPackages, recordHostState, recordHostsCluster, reserveHugepages } from '../../providers/hosts/steps/hosts.js';
import { dataplaneSteps } from '../../src/steps/dataplane/index.js';
import type { UpContext } from '../../src/steps/context.js';
import type { Inventory } from '../../src/core/inventory.js';
import { UsageError } from '../../src/core/errors.js';
import { placesFrom } from '../../src/core/places.js';

// Sequencing only: which commands the hosts steps send to each host, and in which order, and that nothing
// is sent after a refusal. That they work is shown by test/e2e/hosts.test.ts on real machines.

const FACTS = (nic: string, extra = '') =>
  `os_id=debian\nos_version_id=12\nos_pretty=Debian GNU/Linux 12 (bookworm)\ncpus=4\niommu=3\nmem_available_kib=8000000\nhp2m_total=0\nhp1g_supported=1\nnic_pci=${nic}\nnic_driver=virtio-pci\ndefault_route=eth0 0000:00:02.0\nssh_via=eth0 0000:00:02.0\n${extra}`;

function setup(runners: FakeRunner[]) {
  const env = { DPDKCI_STATE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-hosts-steps-')) };
  const options = { ...resolveClusterOptions({ dpdk: true, prefix: 'lab', provider: 'hosts', inventory: '/inv.yaml' }, env), nodes: 2 };
  const inventory: Inventory = {
    file: '/inv.yaml',
    hosts: runners.map((r, i) => ({
      name: r.host,
      address: `192.0.2.${10 + i}`,
      port: 22,
      user: 'root',
      keyFile: '/keys/id',
      hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkNhHlqO0nTrQfRgj0CT5bJhBGrXGS9+7VJ4rxQqHzq'],
      role: i === 0 ? 'control-plane' : 'worker',
      nic: i === 0 ? { pci: '0000:00:04.0' } : { iface: 'enp0s5' },
    })),
  };
  const ctx = {
    options,
    places: placesFrom(env),
    paths: clusterPaths('lab', placesFrom(env)),
    inventory,
    owner: { pid: 1, startTicks: 1, how: 'session' },
    progress: createProgress({ stream: { write: () => true }, live: false }),
    nodes: runners.map((runner) => ({ name: runner.host, role: 'worker', address: '', runner })),
  } as unknown as UpContext;
  return ctx;
}

const STEPS = [recordHostsCluster, checkHosts, recordHostState, installHostPackages, reserveHugepages, ...dataplaneSteps];

describe('the hosts steps', () => {
  it('record the cluster, check every host, record what it had, then converge it with its own NIC and PMD core', async () => {
    const runners = [createFakeRunner('lab1'), createFakeRunner('lab2')];
    runners[0]!.on(/^bash -s -- 0000:00:04.0 /, { stdout: FACTS('0000:00:04.0') });
    runners[1]!.on(/^bash -s -- enp0s5 /, { stdout: FACTS('0000:00:05.0') });
    for (const r of runners) r.on(/^bash -s -- check record/, { exitCode: 3 }).on(/host-state.sh check hugepages/, { exitCode: 3 });
    const ctx = setup(runners);
    const result = await runPipeline(STEPS, ctx, ctx.progress);
    expect(result.applied).toEqual(['record hosts cluster', 'record what each host had', 'reserve hugepages']);
    // The facts and the record come from standard input: nothing is written on a host before both pass.
    expect(runners[1]!.calls.slice(0, 3).map((c) => c.join(' '))).toEqual([
      'bash -s -- enp0s5 br-dpdk0 /var/lib/vhost_sockets',
      'bash -s -- check record lab 0000:00:05.0 /var/lib/vhost_sockets br-dpdk0',
      'bash -s -- apply record lab 0000:00:05.0 /var/lib/vhost_sockets br-dpdk0',
    ]);
    expect(runners[1]!.inputs[0]).toBe(readFileSync(join(__dirname, '..', '..', 'scripts', 'node', 'host-facts.sh'), 'utf8'));
    // Each host's own NIC and last CPU.
    const ovs = runners[1]!.calls.find((c) => c[1] === 'check' && c[2] === 'ovs');
    expect(ovs?.slice(3, 8)).toEqual(['0000:00:05.0', '512', '768', '0x1', '0x8']);
    expect(runners[0]!.calls.find((c) => c[2] === 'vfio')?.[3]).toBe('0000:00:04.0');
    expect(runners[0]!.calls.find((c) => c[2] === 'packages')).toEqual(expect.arrayContaining(['/usr/local/lib/dpdkci/host-state.sh', 'check', 'packages', 'openvswitch-switch-dpdk']));
    // The record keeps what the check learned, in a 0600 file.
    const record = JSON.parse(readFileSync(ctx.paths.specFile, 'utf8'));
    expect(record.provider).toBe('hosts');
    expect(record.nodes.map((n: { host: { pci: string; cpus: number } }) => [n.host.pci, n.host.cpus])).toEqual([['0000:00:04.0', 4], ['0000:00:05.0', 4]]);
    expect(statSync(ctx.paths.specFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(ctx.paths.knownHosts, 'utf8')).toMatch(/^dpdkci-hosts-lab-lab1 ssh-ed25519 /);
  });

  it('one refused host stops everything before any host changes', async () => {
    const runners = [createFakeRunner('lab1'), createFakeRunner('lab2')];
    runners[0]!.on(/^bash -s -- 0000:00:04.0 /, { stdout: FACTS('0000:00:04.0') });
    // lab2's NIC is the one SSH comes in on.
    runners[1]!.on(/^bash -s -- enp0s5 /, { stdout: FACTS('0000:00:02.0') });
    const ctx = setup(runners);
    const error = await runPipeline(STEPS, ctx, ctx.progress).catch((e) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(/nothing was changed on any host:\n {2}host "lab2": NIC 0000:00:02.0 \(eth0\) carries the host's default route/);
    for (const r of runners) expect(r.calls).toHaveLength(1);
  });

  it('down keeps the record of a cluster with a host it cannot reach, unless told to forget it (down --force)', async () => {
    const ctx = setup([createFakeRunner('lab1'), createFakeRunner('lab2')]);
    await runPipeline([recordHostsCluster], ctx, ctx.progress);
    // The inventory's key file does not exist here: neither host can be reached, and nothing is run.
    const kept = await providerOf({ provider: 'hosts' }).deleteCluster('lab', { graceful: true, places: ctx.places });
    expect(kept.hosts?.map((h) => [h.name, h.error?.split(':')[0]])).toEqual([['lab1', 'not reached at 192.0.2.10'], ['lab2', 'not reached at 192.0.2.11']]);
    expect(kept.removedDir).toBe(false);
    expect(existsSync(ctx.paths.specFile)).toBe(true);
    const forgotten = await providerOf({ provider: 'hosts' }).deleteCluster('lab', { graceful: false, places: ctx.places, forget: true });
    expect(forgotten.removedDir).toBe(true);
    expect(existsSync(ctx.paths.dir)).toBe(false);
  });
});
