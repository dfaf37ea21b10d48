import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { writeClusterRecord, type ClusterRecord, type NodeRecord } from '../../src/core/cluster.js';
import { ExitCode, exitCodeOf, UsageError } from '../../src/core/errors.js';
import { startTicks } from '../../src/core/owner.js';
import { clusterPaths } from '../../src/core/paths.js';
import { placesFrom, type Places } from '../../src/core/places.js';
import { createProgress } from '../../src/core/progress.js';
import { createFakeRunner } from '../../src/exec/fake-runner.js';
import { registerProvider, providerOf } from '../../src/provider/registry.js';
import { hostsProvider } from '../../providers/hosts/index.js';
import { qemuProvider } from '../../providers/qemu/index.js';
import { createDeleteHostsCluster, type ConnectHost } from '../../providers/hosts/delete.js';
import { runDown } from '../../src/cli/commands/down.js';
import { runSnapshotSave } from '../../src/cli/commands/snapshot.js';
import { snapshotsRoot } from '../../src/snapshot/store.js';
import type { CommandContext } from '../../src/cli/context.js';

// Each provider lists and judges its own clusters (kind's ListClusters). The hosts provider's delete is
// given a stand-in connection that records which host it would reach, so no machine is touched.

async function deadOwner() {
  const child = execa('sleep', ['30']);
  const pid = child.pid as number;
  const ticks = startTicks(pid) as number;
  child.kill('SIGKILL');
  await child.catch(() => undefined);
  return { pid, startTicks: ticks, how: 'DPDKCI_OWNER_PID' as const };
}

function hostNode(name: string, index: number): NodeRecord {
  return {
    name,
    index,
    role: index === 0 ? 'control-plane' : 'worker',
    sshPort: 22,
    mgmtMac: '',
    secondaryMacs: [],
    hostKey: '',
    host: { address: `192.0.2.${10 + index}`, user: 'root', keyFile: '/keys/id', hostKeys: [], nic: { pci: '0000:03:00.1' } },
  };
}

function write(places: Places, record: Partial<ClusterRecord> & Pick<ClusterRecord, 'prefix'>): string {
  const paths = clusterPaths(record.prefix, places);
  mkdirSync(paths.dir, { recursive: true });
  writeClusterRecord(paths.specFile, record as ClusterRecord);
  return paths.dir;
}

function context(places: Places): CommandContext & { lines: string[] } {
  const lines: string[] = [];
  return { env: {}, places, out: (t) => lines.push(t), progress: createProgress({ ci: true, stream: { write: (t: string) => lines.push(t) > 0 } }), signal: new AbortController().signal, lines };
}

/** The hosts provider with a delete whose connection is a stand-in: it records the hosts it would reach. */
function standInHosts() {
  const reached: string[] = [];
  const connect: ConnectHost = async (_record, node) => {
    reached.push(node.name);
    const runner = createFakeRunner(node.name);
    return { name: node.name, role: node.role, address: node.host?.address ?? '', runner };
  };
  registerProvider({ ...hostsProvider, deleteCluster: createDeleteHostsCluster(connect) });
  return reached;
}

afterEach(() => registerProvider(hostsProvider));

describe('each provider knows its own clusters', () => {
  it('lists only the records that name it; a directory without a record is QEMU\'s', () => {
    const places = placesFrom({ DPDKCI_STATE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-own-')) });
    write(places, { prefix: 'vm', provider: 'qemu', nodes: [] });
    write(places, { prefix: 'lab', provider: 'hosts', nodes: [hostNode('lab1', 0)] });
    mkdirSync(clusterPaths('half-made', places).dir, { recursive: true });
    expect(qemuProvider.listClusters(places)).toEqual(['half-made', 'vm']);
    expect(hostsProvider.listClusters(places)).toEqual(['lab']);
  });

  it('down --all-stale beside a hosts cluster and a stale QEMU cluster removes only the QEMU one', async () => {
    const places = placesFrom({ DPDKCI_STATE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-all-stale-')) });
    // Both owners have exited and neither has a QEMU process: all QEMU could hold against either.
    const vm = write(places, { prefix: 'vm', provider: 'qemu', nodes: [], owner: await deadOwner() });
    const lab = write(places, { prefix: 'lab', provider: 'hosts', nodes: [hostNode('lab1', 0), hostNode('lab2', 1)], owner: await deadOwner() });
    const reached = standInHosts();
    expect(qemuProvider.findStale(places).map((s) => s.prefix)).toEqual(['vm']);
    expect(providerOf({ provider: 'hosts' }).findStale(places)).toEqual([]);

    const ctx = context(places);
    expect(await runDown({ allStale: true }, ctx)).toBe(ExitCode.ok);
    expect(existsSync(vm)).toBe(false);
    expect(existsSync(lab)).toBe(true);
    expect(reached).toEqual([]);
    expect(ctx.lines.join('')).toMatch(/remove cluster vm \(its owner .* has exited\)/);
    expect(ctx.lines.join('')).not.toMatch(/remove cluster lab/);

    // The stand-in does record a down: only `down --prefix lab` reaches the hosts and removes the record.
    expect(await runDown({ prefix: 'lab', prefixGiven: true }, context(places))).toBe(ExitCode.ok);
    expect(reached.sort()).toEqual(['lab1', 'lab2']);
    expect(existsSync(lab)).toBe(false);
  });
});

describe('snapshots are a provider capability', () => {
  it('snapshot save on a hosts cluster is refused by its provider, saying why, before anything is taken', async () => {
    const places = placesFrom({ DPDKCI_STATE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-snap-hosts-')), DPDKCI_CACHE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-snap-cache-')) });
    write(places, { prefix: 'lab', provider: 'hosts', nodes: [hostNode('lab1', 0)] });
    const saving = runSnapshotSave(undefined, { prefix: 'lab' }, context(places));
    await expect(saving).rejects.toThrow(UsageError);
    const error = await saving.catch((e: unknown) => e);
    expect(exitCodeOf(error)).toBe(2);
    expect((error as Error).message).toMatch(
      /^snapshot save: cluster "lab" is on provider hosts, which cannot save or restore its nodes: .* machines dpdkci did not boot; nothing was changed: snapshots need --provider qemu$/,
    );
    // Refused before the lock and before any snapshot directory.
    expect(existsSync(clusterPaths('lab', places).lockFile)).toBe(false);
    expect(existsSync(snapshotsRoot(places))).toBe(false);
    expect(hostsProvider.snapshot).toBeUndefined();
    expect(qemuProvider.snapshot).toBeDefined();
  });

  it('up --from-snapshot with --provider hosts is refused by the same capability, before the inventory is read', async () => {
    const env = { ...process.env, DPDKCI_STATE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-snap-up-')), CI: 'true' };
    const bin = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
    const r = await execa('node', [bin, 'up', '--dpdk', '--provider', 'hosts', '--inventory', '/nonexistent/lab.yaml', '--prefix', 'lab', '--from-snapshot', 'saved'], { reject: false, env });
    expect(r.stderr).toMatch(/^error: --from-snapshot: cluster "lab" is on provider hosts, which cannot save or restore its nodes: .*: leave --from-snapshot out$/m);
    expect(r.exitCode).toBe(2);
    expect(existsSync(join(env.DPDKCI_STATE_DIR, 'clusters'))).toBe(false);
  });
});
