import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readSync, closeSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { readClusterRecord, type ClusterRecord, type NodeRecord } from '../../src/core/cluster.js';
import { connectSsh } from '../../src/exec/ssh-runner.js';
import { sshTarget } from '../../providers/qemu/provider.js';
import { BIN, cliEnv, dpdkci, failureSummary, onNode, qemuPids, stateDir, stateExists } from './helpers.js';
import { placesFrom } from '../../src/core/places.js';

/**
 * Snapshots on real QEMU nodes: a checked `up --dpdk` saved (by --snapshot auto, and by name), then
 * restored as new clusters, two at once, with new keys, ports and clock; and every fault the issue lists.
 * Snapshots go to a directory of this test's own (DPDKCI_SNAPSHOT_DIR).
 */
const SNAPSHOTS = mkdtempSync(join(tmpdir(), 'dpdkci-e2e-snapshots-'));
const env = { DPDKCI_SNAPSHOT_DIR: SNAPSHOTS };
const SRC = 'e2e-snap-src';
const A = 'e2e-snap-a';
const B = 'e2e-snap-b';
const NAME = 'e2e-snap';
const OPTIONS = ['--dpdk', '--random-ports', '--kubernetes', 'none'];
const ALL = [SRC, A, B, 'e2e-snap-c', 'e2e-snap-k', 'e2e-snap-d', 'e2e-snap-bad'];

const run = (args: string[], timeoutMs = 10 * 60_000) => dpdkci(args, { env, timeoutMs });

function json(stdout: unknown) {
  return JSON.parse(String(stdout));
}

async function status(prefix: string) {
  return json((await run(['status', '--prefix', prefix, '-o', 'json'])).stdout);
}

/**
 * The node's clock minus the host's: `date` on node01 over one open SSH connection, three times, taking the
 * sample with the shortest round trip (its midpoint is then within half of it of when `date` ran).
 */
async function clockSkew(prefix: string): Promise<number> {
  const record = readClusterRecord(join(stateDir(prefix), 'cluster.json')) as ClusterRecord;
  const ssh = await connectSsh(sshTarget(record, record.nodes[0] as NodeRecord, placesFrom(process.env)), 30_000);
  try {
    let best = { rtt: Infinity, skew: NaN };
    for (let i = 0; i < 3; i++) {
      const before = Date.now() / 1000;
      const r = await ssh.execCommand('date -u +%s.%N');
      const after = Date.now() / 1000;
      if (after - before < best.rtt) best = { rtt: after - before, skew: Number(r.stdout.trim()) - (before + after) / 2 };
    }
    return best.skew;
  } finally {
    ssh.dispose();
  }
}

/** `dpdkci ...` in the background, and a way to wait for a line on its stderr. */
function background(args: string[]) {
  const child = execa('node', [BIN, ...args], { reject: false, env: cliEnv(env), all: true, buffer: true });
  let seen = '';
  child.stderr?.on('data', (d: Buffer) => (seen += d.toString()));
  const waitFor = async (pattern: RegExp, timeoutMs = 120_000) => {
    const began = Date.now();
    while (!pattern.test(seen)) {
      if (Date.now() - began > timeoutMs) throw new Error(`never saw ${pattern}; stderr:\n${seen}`);
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before ${pattern}; stderr:\n${seen}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, waitFor };
}

/** A copy of the named snapshot under another name (files hard-linked, except the one to damage). */
function copySnapshot(to: string, damaged: string, damage: (file: string) => void): void {
  const from = join(SNAPSHOTS, NAME);
  const dir = join(SNAPSHOTS, to);
  mkdirSync(dir, { mode: 0o700 });
  for (const f of readdirSync(from)) {
    if (f === 'snapshot.json') {
      writeFileSync(join(dir, f), JSON.stringify({ ...json(readFileSync(join(from, f))), name: to }), { mode: 0o600 });
    } else if (f === damaged) {
      copyFileSync(join(from, f), join(dir, f));
      damage(join(dir, f));
    } else {
      linkSync(join(from, f), join(dir, f));
    }
  }
}

describe.sequential('snapshot save and up --from-snapshot', () => {
  let saved: { hostKey: string; autoName: string };
  beforeAll(async () => {
    await Promise.all(ALL.map((p) => run(['down', '--prefix', p, '--force'])));
    // No snapshot matches yet: --snapshot auto does a full up, checks it, and saves it.
    const up = await run(['up', '--prefix', SRC, ...OPTIONS, '--snapshot', 'auto', '-o', 'json']);
    if (up.exitCode !== 0) throw new Error(`up --snapshot auto failed (exit ${up.exitCode}):\n${failureSummary(String(up.stderr))}`);
    expect(String(up.stderr)).toMatch(/--snapshot auto: no snapshot to restore \(there are no snapshots yet\); a full up, saved as a snapshot at the end/);
    const result = json(up.stdout);
    expect(result.check.ok).toBe(true);
    expect(result.restored).toBeNull();
    expect(result.snapshotSaved).toMatch(/^auto-[0-9a-f]{16}$/);
    saved = { hostKey: JSON.parse(readFileSync(join(stateDir(SRC), 'cluster.json'), 'utf8')).nodes[0].hostKey, autoName: result.snapshotSaved };
  });
  afterAll(async () => {
    await Promise.all(ALL.map((p) => run(['down', '--prefix', p, '--force'])));
  });

  it('saves a running cluster by name: 0600 files in a 0700 directory, the nodes run on with their clocks set', async () => {
    const pids = qemuPids(SRC);
    const r = await run(['snapshot', 'save', NAME, '--prefix', SRC, '-o', 'json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(json(r.stdout).name).toBe(NAME);
    const dir = join(SNAPSHOTS, NAME);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(SNAPSHOTS).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['id_ed25519', 'node01.qcow2', 'node01.state', 'snapshot.json']);
    expect(qemuPids(SRC)).toEqual(pids);
    expect(await onNode(SRC, 'node01', 'ovs-vsctl get Interface dpdk0 link_state')).toBe('up');
    expect(Math.abs(await clockSkew(SRC))).toBeLessThan(1);
    const list = json((await run(['snapshot', 'list', '-o', 'json'])).stdout);
    expect(list.snapshots.map((s: { name: string }) => s.name).sort()).toEqual([saved.autoName, NAME].sort());
    // The source goes: a restore does not need it.
    expect((await run(['down', '--prefix', SRC])).exitCode).toBe(0);
  });

  it('restores it as a new cluster with new keys, ports and clock, and the dataplane passes its check', async () => {
    const r = await run(['up', '--prefix', A, ...OPTIONS, '--from-snapshot', NAME, '-o', 'json']);
    expect(r.exitCode, failureSummary(String(r.stderr))).toBe(0);
    const up = json(r.stdout);
    expect(up.restored.snapshot).toBe(NAME);
    expect(up.timings.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['check snapshot', 'load node state', 'resume nodes', 're-key nodes']));
    const s = await status(A);
    expect(s.snapshot).toMatchObject({ snapshot: NAME, complete: true });
    const node = JSON.parse(readFileSync(join(stateDir(A), 'cluster.json'), 'utf8')).nodes[0];
    // A new host key, pinned in known_hosts, is what the node presents; the snapshot's login key is refused.
    expect(node.hostKey).not.toBe(saved.hostKey);
    expect(readFileSync(join(stateDir(A), 'ssh', 'known_hosts'), 'utf8')).toContain(node.hostKey.split(' ').slice(0, 2).join(' '));
    expect(await onNode(A, 'node01', 'cat /etc/ssh/ssh_host_ed25519_key.pub')).toContain(node.hostKey.split(' ')[1]);
    const old = await execa('ssh', ['-i', join(SNAPSHOTS, NAME, 'id_ed25519'), '-p', String(node.sshPort), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', 'root@127.0.0.1', 'true'], { reject: false });
    expect(old.exitCode).not.toBe(0);
    expect(Math.abs(await clockSkew(A))).toBeLessThan(1);
    expect(await onNode(A, 'node01', 'ovs-vsctl get Open_vSwitch . dpdk_initialized')).toBe('true');
    expect(await onNode(A, 'node01', 'ovs-vsctl get Interface dpdk0 link_state')).toBe('up');
    // The registry is the new cluster's, at its new port.
    expect(await onNode(A, 'node01', 'cat /etc/containerd/certs.d/registry:5000/hosts.toml')).toContain(`10.0.2.2:${s.registry.address.split(':')[1]}`);
    const check = await run(['check', '--prefix', A, '--seconds', '3', '-o', 'json']);
    expect(check.exitCode, String(check.stdout)).toBe(0);
    expect(json(check.stdout).ok).toBe(true);
    // logs works as on any cluster: the node's journal and OVS's state, and QEMU's command line with -incoming.
    const logs = mkdtempSync(join(tmpdir(), 'dpdkci-snap-logs-'));
    expect((await run(['logs', logs, '--prefix', A])).exitCode).toBe(0);
    expect(readFileSync(join(logs, 'node01', 'ovs-vsctl-show.txt'), 'utf8')).toContain('br-dpdk0');
    expect(readFileSync(join(logs, 'node01', 'journal.log'), 'utf8').length).toBeGreaterThan(0);
    expect(readFileSync(join(logs, 'node01', 'qemu-cmdline.txt'), 'utf8')).toContain('-incoming fd:3');
  });

  it('restores a second cluster beside it: both answer, with different host keys and login keys', async () => {
    const r = await run(['up', '--prefix', B, ...OPTIONS, '--from-snapshot', NAME]);
    expect(r.exitCode, failureSummary(String(r.stderr))).toBe(0);
    const keyA = await onNode(A, 'node01', 'cat /etc/ssh/ssh_host_ed25519_key.pub /root/.ssh/authorized_keys');
    const keyB = await onNode(B, 'node01', 'cat /etc/ssh/ssh_host_ed25519_key.pub /root/.ssh/authorized_keys');
    const [hostA, authA] = keyA.split('\n');
    const [hostB, authB] = keyB.split('\n');
    expect(hostA?.split(' ')[1]).not.toBe(hostB?.split(' ')[1]);
    expect(authA?.split(' ')[1]).not.toBe(authB?.split(' ')[1]);
    expect(await onNode(B, 'node01', 'ovs-vsctl get Interface dpdk0 link_state')).toBe('up');
    expect((await run(['down', '--prefix', B])).exitCode).toBe(0);
    expect(stateExists(B)).toBe(false);
    expect(qemuPids(B)).toEqual([]);
  });

  it('refuses a restore onto a cluster that exists, and one with other options, before anything starts', async () => {
    const pids = qemuPids(A);
    const onto = await run(['up', '--prefix', A, ...OPTIONS, '--from-snapshot', NAME]);
    expect(onto.exitCode).toBe(2);
    expect(String(onto.stderr)).toContain(`cluster "${A}" already exists`);
    expect(qemuPids(A)).toEqual(pids);
    const other = await run(['up', '--prefix', 'e2e-snap-c', ...OPTIONS, '--memory', '4G', '--from-snapshot', NAME]);
    expect(other.exitCode).toBe(2);
    expect(String(other.stderr)).toContain('option memoryMiB: saved 3072, here 4096');
    expect(stateExists('e2e-snap-c')).toBe(false);
  });

  it.each([
    ['truncated', (file: string) => truncateSync(file, 1 << 20), /node01\.state is 1048576 bytes, not the/],
    [
      'corrupted',
      (file: string) => {
        // One byte in the middle of the memory, where QEMU itself would not notice.
        const fd = openSync(file, 'r+');
        const at = Math.floor(statSync(file).size / 2);
        const b = Buffer.alloc(1);
        readSync(fd, b, 0, 1, at);
        writeSync(fd, Buffer.from([(b[0] ?? 0) ^ 0xff]), 0, 1, at);
        closeSync(fd);
      },
      /node01\.state is damaged/,
    ],
  ] as const)('refuses a %s state file by name, with exit 2, leaving nothing running', async (kind, damage, said) => {
    const name = `e2e-snap-${kind}`;
    copySnapshot(name, 'node01.state', damage);
    const r = await run(['up', '--prefix', 'e2e-snap-bad', ...OPTIONS, '--from-snapshot', name]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(said);
    expect(qemuPids('e2e-snap-bad')).toEqual([]);
    expect(stateExists('e2e-snap-bad')).toBe(false);
    expect((await run(['snapshot', 'rm', name])).exitCode).toBe(0);
    expect(existsSync(join(SNAPSHOTS, name))).toBe(false);
  });

  it('Ctrl-C during a save leaves the nodes running as they were and no half-written snapshot', async () => {
    const { child, waitFor } = background(['snapshot', 'save', 'e2e-snap-int', '--prefix', A]);
    await waitFor(/start {2}pause and save nodes/);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(readdirSync(SNAPSHOTS).filter((f) => f.includes('e2e-snap-int'))).toEqual([]);
    expect((await status(A)).nodes[0].state).toBe('running');
    expect(await onNode(A, 'node01', 'ovs-vsctl get Interface dpdk0 link_state')).toBe('up');
  });

  it('Ctrl-C during a restore cleans up like down', async () => {
    const { child, waitFor } = background(['up', '--prefix', 'e2e-snap-c', ...OPTIONS, '--from-snapshot', NAME]);
    await waitFor(/start {2}load node state/);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(qemuPids('e2e-snap-c')).toEqual([]);
    expect(stateExists('e2e-snap-c')).toBe(false);
  });

  it('a node killed during a restore fails up naming it, and the same up again recovers', async () => {
    const K = 'e2e-snap-k';
    const { child, waitFor } = background(['up', '--prefix', K, ...OPTIONS, '--from-snapshot', NAME]);
    await waitFor(/start {2}load node state/);
    for (let i = 0; i < 200 && qemuPids(K).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    for (const pid of qemuPids(K)) process.kill(pid, 'SIGKILL');
    const r = await child;
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/node01: /);
    const again = await run(['up', '--prefix', K, ...OPTIONS, '--from-snapshot', NAME]);
    expect(again.exitCode, failureSummary(String(again.stderr))).toBe(0);
    expect(String(again.stderr)).toContain('did not finish; removing it to start over');
    expect(await onNode(K, 'node01', 'ovs-vsctl get Interface dpdk0 link_state')).toBe('up');
    expect((await run(['down', '--prefix', K])).exitCode).toBe(0);
  });

  it('--snapshot auto restores the snapshot that matches', async () => {
    const r = await run(['up', '--prefix', 'e2e-snap-d', ...OPTIONS, '--snapshot', 'auto', '-o', 'json']);
    expect(r.exitCode, failureSummary(String(r.stderr))).toBe(0);
    expect(json(r.stdout).restored.snapshot).toBe(saved.autoName);
    expect((await run(['down', '--prefix', 'e2e-snap-d'])).exitCode).toBe(0);
    // With other options it says why it cannot, in one line, before a full up (only planned here).
    const dry = await run(['up', '--prefix', 'e2e-snap-d', ...OPTIONS, '--memory', '4G', '--snapshot', 'auto', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(String(dry.stderr)).toMatch(/no snapshot to restore \(none of 2 matches: .*option memoryMiB: saved 3072, here 4096/);
  });

  it('down leaves nothing behind, and snapshot rm removes the files', async () => {
    expect((await run(['down', '--prefix', A])).exitCode).toBe(0);
    expect(stateExists(A)).toBe(false);
    expect(qemuPids(A)).toEqual([]);
    for (const name of [NAME, saved.autoName]) {
      expect((await run(['snapshot', 'rm', name])).exitCode).toBe(0);
      expect(existsSync(join(SNAPSHOTS, name))).toBe(false);
    }
    const gone = await run(['snapshot', 'rm', NAME]);
    expect(gone.exitCode).toBe(2);
    expect(readdirSync(SNAPSHOTS)).toEqual([]);
  });
});
