import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeClusterRecord, type ClusterRecord, type NodeRecord } from '../../src/core/cluster.js';
import { clusterPaths } from '../../src/core/paths.js';
import { createFakeRunner, type FakeRunner } from '../../src/exec/fake-runner.js';
import { createDeleteHostsCluster, type ConnectHost } from '../../providers/hosts/delete.js';
import { placesFrom } from '../../src/core/places.js';

// Sequencing only: which undo runs on each host, in which order, and what becomes of the cluster's record.
// That the undo puts a machine back is shown by test/e2e/hosts*.test.ts on real machines.

const script = (name: string) => readFileSync(join(__dirname, '..', '..', 'scripts', 'node', name), 'utf8');

function cluster(names: string[]) {
  const places = placesFrom({ DPDKCI_STATE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-hosts-delete-')) });
  const paths = clusterPaths('lab', places);
  const nodes = names.map(
    (name, index): NodeRecord => ({
      name,
      index,
      role: index === 0 ? 'control-plane' : 'worker',
      sshPort: 22,
      mgmtMac: '',
      secondaryMacs: [],
      hostKey: '',
      host: { address: `192.0.2.${10 + index}`, user: 'root', keyFile: '/keys/id', hostKeys: [], nic: { pci: '0000:03:00.1' } },
    }),
  );
  mkdirSync(paths.dir, { recursive: true });
  writeClusterRecord(paths.specFile, { prefix: 'lab', provider: 'hosts', nodes } as unknown as ClusterRecord);
  // A host named "gone" does not answer.
  const runners = new Map<string, FakeRunner>(names.filter((n) => n !== 'gone').map((n) => [n, createFakeRunner(n)]));
  const reached: string[] = [];
  const connect: ConnectHost = async (_record, node) => {
    reached.push(node.name);
    const runner = runners.get(node.name);
    if (!runner) throw new Error('connect ECONNREFUSED');
    return { name: node.name, role: node.role, address: node.host?.address ?? '', runner };
  };
  return { places, paths, runners, reached, remove: createDeleteHostsCluster(connect) };
}

describe('down of a hosts cluster', () => {
  it("undoes Kubernetes first, then the dataplane's record, from standard input, and removes the cluster's record", async () => {
    const c = cluster(['lab1', 'lab2']);
    for (const r of c.runners.values()) r.on(/^bash -s -- undo lab 1$/, { stdout: 'restored no bridge br-dpdk0\nrestored the packages as they were: purged driverctl\n' });
    c.runners.get('lab2')?.on(/^bash -s -- undo lab$/, { stdout: 'restored no /var/lib/containerd\nkept module br_netfilter loaded (in use) until the next boot\n' });
    const report = await c.remove('lab', { graceful: true, places: c.places, purgePackages: true });
    for (const r of c.runners.values()) {
      expect(r.calls.map((a) => a.join(' '))).toEqual(['bash -s -- undo lab', 'bash -s -- undo lab 1']);
      expect(r.inputs).toEqual([script('host-kubernetes.sh'), script('host-state.sh')]);
    }
    expect(report.hosts?.find((h) => h.name === 'lab2')).toEqual({
      name: 'lab2',
      restored: ['no /var/lib/containerd', 'no bridge br-dpdk0', 'the packages as they were: purged driverctl'],
      kept: ['module br_netfilter loaded (in use) until the next boot'],
    });
    expect(report.removedDir).toBe(true);
    expect(existsSync(c.paths.dir)).toBe(false);
  });

  it('leaves the dataplane alone on a host whose Kubernetes undo failed, and keeps the record for another down', async () => {
    const c = cluster(['lab1']);
    c.runners.get('lab1')?.on(/^bash -s -- undo lab$/, { exitCode: 1, stderr: 'host-kubernetes: this host\'s Kubernetes is recorded for cluster "other"\n' });
    const report = await c.remove('lab', { graceful: true, places: c.places });
    expect(c.runners.get('lab1')?.calls).toEqual([['bash', '-s', '--', 'undo', 'lab']]);
    expect(report.hosts?.[0]?.error).toBe('host-kubernetes.sh undo exited 1: host-kubernetes: this host\'s Kubernetes is recorded for cluster "other"');
    expect(report.removedDir).toBe(false);
    expect(existsSync(c.paths.specFile)).toBe(true);
  });

  it('names a host it cannot reach, undoes the others, and keeps the record unless told to forget', async () => {
    const c = cluster(['lab1', 'gone']);
    const report = await c.remove('lab', { graceful: true, places: c.places });
    expect(c.reached.sort()).toEqual(['gone', 'lab1']);
    expect(c.runners.get('lab1')?.calls.map((a) => a.join(' '))).toEqual(['bash -s -- undo lab', 'bash -s -- undo lab 0']);
    expect(report.hosts?.find((h) => h.name === 'gone')).toEqual({ name: 'gone', restored: [], kept: [], error: 'not reached at 192.0.2.11:22: connect ECONNREFUSED' });
    expect(report.removedDir).toBe(false);
    expect(existsSync(c.paths.specFile)).toBe(true);
    const forgot = await c.remove('lab', { graceful: true, places: c.places, forget: true });
    expect(forgot.hosts?.find((h) => h.name === 'gone')?.error).toMatch(/not reached/);
    expect(forgot.removedDir).toBe(true);
    expect(existsSync(c.paths.dir)).toBe(false);
  });
});
