import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterPaths, nodePaths } from '../../src/core/paths.js';
import { qmpCommand } from '../../providers/qemu/qmp.js';
import { cliEnv, dpdkci, qemuPids } from './helpers.js';
import { placesFrom } from '../../src/core/places.js';

/**
 * What CI jobs and KubeVirt developers lean on: the kubevirtci drop-in, clusters side by side on random
 * ports, reaping the ones whose job died, logs, and --timeout. Clusters of this file live in a state
 * directory of their own, so `down --all-stale` here cannot touch anybody else's.
 */
const ROOT = join(__dirname, '..', '..');
const STATE = mkdtempSync(join(tmpdir(), 'dpdkci-e2e-ci-'));
const ENV = { DPDKCI_STATE_DIR: STATE };
const run = (args: string[], env: NodeJS.ProcessEnv = {}) => dpdkci(args, { env: { ...ENV, ...env } });

afterAll(async () => {
  for (const p of ['e2e-dropin', 'e2e-rp-a', 'e2e-rp-b', 'e2e-timeout', 'e2e-reset', 'e2e-badqemu', 'e2e-quit']) await run(['down', '--prefix', p, '--force']);
});

describe('the kubevirtci drop-in (cluster-up/)', () => {
  it('a KubeVirt-style script brings a cluster up, reaches it, reads its ports and config, and takes it down', async () => {
    const work = mkdtempSync(join(tmpdir(), 'kubevirt-checkout-'));
    const r = await execa('bash', [join(__dirname, 'fixtures', 'kubevirt-style.sh'), join(ROOT, 'cluster-up')], {
      reject: false,
      all: true,
      env: cliEnv({
        ...ENV,
        // Kubernetes is off (cliEnv): the k8s provider's OVS-DPDK nodes alone.
        KUBEVIRT_PROVIDER: 'k8s-1.36-dpdk',
        JOB_NAME: 'e2e-dropin',
        // Random ports, as a CI lane uses: a cluster of another file that is still going away does not
        // hold the port this one would take from 2201.
        DPDKCI_RANDOM_PORTS: 'true',
        KUBEVIRT_NUM_NODES: '1',
        KUBEVIRT_MEMORY_SIZE: '3072M',
        KUBEVIRT_NUM_VCPU: '2',
        KUBEVIRT_HUGEPAGES_2M: '1000',
        KUBEVIRT_NUM_SECONDARY_NICS: '1',
        KUBEVIRTCI_CONFIG_PATH: join(work, '_ci-configs'),
      }),
    });
    expect(r.exitCode, String(r.all)).toBe(0);
    const out = String(r.stdout);
    expect(Number(/ssh-port=(\d+)/.exec(out)?.[1])).toBeGreaterThan(1024);
    const registry = Number(/registry-port=(\d+)/.exec(out)?.[1]);
    expect(registry).toBeGreaterThan(1024);
    // kubevirtci's names that dpdkci does not forward fail, saying so.
    expect(out).toMatch(/^uploadproxy=refused$/m);
    expect(String(r.stderr)).toMatch(/dpdkci does not forward "uploadproxy"/);
    // KUBEVIRT_HUGEPAGES_2M reached the node's kernel command line.
    expect(out).toMatch(/hugepages=1000/);
    // Without Kubernetes there is no kubectl; config-provider-*.sh is written all the same.
    expect(out).toMatch(/^kubectl=no$/m);
    expect(out).toMatch(/^config-provider=yes$/m);
    expect(out).toContain(`docker_prefix=localhost:${registry}/kubevirt manifest_docker_prefix=registry:5000/kubevirt master_ip=127.0.0.1 network_provider=calico`);
    expect(out).toMatch(/^config-provider-after-down=no$/m);
    expect(out).toMatch(/^finished$/m);
    // down.sh left nothing: no processes, no state, nothing in _ci-configs/<provider>/.
    expect(qemuPids('e2e-dropin')).toEqual([]);
    expect(existsSync(join(STATE, 'clusters', 'e2e-dropin'))).toBe(false);
    expect(readdirSync(join(work, '_ci-configs', 'k8s-1.36-dpdk'))).toEqual([]);
  });

  it('an unknown provider is refused before anything starts', async () => {
    const r = await execa('bash', [join(ROOT, 'cluster-up', 'up.sh')], { reject: false, env: cliEnv({ ...ENV, KUBEVIRT_PROVIDER: 'kind-1.30' }) });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/KUBEVIRT_PROVIDER: "kind-1.30" is not a dpdkci provider; use one of dpdk k8s-1\.35 k8s-1\.35-dpdk k8s-1\.36 k8s-1\.36-dpdk/);
  });
});

describe('parallel CI jobs on one host', () => {
  const sleeper = execa('sleep', ['3600']);
  afterAll(async () => {
    sleeper.kill();
    await sleeper.catch(() => undefined);
  });

  it('two clusters with --random-ports come up at the same time, each reachable on its own ports', async () => {
    const up = (prefix: string, env: NodeJS.ProcessEnv = {}) =>
      run(['up', '--prefix', prefix, '--random-ports', '--memory', '1536M', '--hugepages-2m', '64', '-o', 'json'], env);
    // Job A's owner is a process the test kills later, as if the job had died.
    const [a, b] = await Promise.all([up('e2e-rp-a', { DPDKCI_OWNER_PID: String(sleeper.pid) }), up('e2e-rp-b')]);
    expect(a.exitCode, String(a.all)).toBe(0);
    expect(b.exitCode, String(b.all)).toBe(0);
    const portA = Number((await run(['ports', 'ssh', '--prefix', 'e2e-rp-a'])).stdout);
    const portB = Number((await run(['ports', 'ssh', '--prefix', 'e2e-rp-b'])).stdout);
    expect(portA).not.toBe(portB);
    for (const port of [portA, portB]) expect(port).toBeGreaterThanOrEqual(20_000);
    for (const prefix of ['e2e-rp-a', 'e2e-rp-b']) {
      const r = await run(['ssh', '--prefix', prefix, 'node01', '--', 'hostname']);
      expect(r.exitCode, String(r.all)).toBe(0);
    }
  });

  it('logs DIR collects the console, journal and dmesg of a running node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpdkci-logs-'));
    const r = await run(['logs', dir, '--prefix', 'e2e-rp-b']);
    expect(r.exitCode, String(r.all)).toBe(0);
    for (const f of ['console.log', 'journal.log', 'dmesg.log', 'cmdline.txt', 'qemu-cmdline.txt']) {
      expect(existsSync(join(dir, 'node01', f)), f).toBe(true);
    }
    expect(readFileSync(join(dir, 'node01', 'journal.log'), 'utf8')).toMatch(/sshd/);
    expect(readFileSync(join(dir, 'node01', 'cmdline.txt'), 'utf8')).toMatch(/intel_iommu=on/);
  });

  it('logs of a node that runs but does not answer hold QEMU\'s view of its vCPUs', async () => {
    // A paused guest stands in for a hung one: its QEMU runs, nothing answers over SSH.
    const qmp = nodePaths(clusterPaths('e2e-rp-a', placesFrom({ ...process.env, ...ENV })), 'node01').qmp;
    await qmpCommand(qmp, 'stop');
    try {
      const dir = mkdtempSync(join(tmpdir(), 'dpdkci-logs-'));
      await run(['logs', dir, '--prefix', 'e2e-rp-a']);
      expect(readFileSync(join(dir, 'node01', 'MISSING.txt'), 'utf8')).toMatch(/no SSH answer/);
      const state = readFileSync(join(dir, 'node01', 'qemu-state.txt'), 'utf8');
      expect(state).toContain('"status":"paused"');
      expect(state.match(/RIP=[0-9a-f]{16}/g)?.length).toBeGreaterThanOrEqual(2);
    } finally {
      await qmpCommand(qmp, 'cont');
    }
  });

  it('down --all-stale reaps the cluster whose owner died and leaves the other running', async () => {
    sleeper.kill('SIGKILL');
    await sleeper.catch(() => undefined);
    const r = await run(['down', '--all-stale']);
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.stderr)).toMatch(/remove cluster e2e-rp-a \(its owner \(pid \d+, DPDKCI_OWNER_PID\) has exited\)/);
    expect(qemuPids('e2e-rp-a')).toEqual([]);
    expect(qemuPids('e2e-rp-b')).toHaveLength(1);
    expect((await run(['ssh', '--prefix', 'e2e-rp-b', 'node01', '--', 'true'])).exitCode).toBe(0);
    expect((await run(['down', '--prefix', 'e2e-rp-b'])).exitCode).toBe(0);
    expect(qemuPids('e2e-rp-b')).toEqual([]);
  });

  it('up --timeout gives up, says where it was, and --cleanup-on-failure leaves nothing', async () => {
    const began = Date.now();
    const junit = join(STATE, 'timeout.xml');
    // The node is held at its reset vector (-S) and never reset, so up is still waiting for SSH when the
    // 10 s run out, however fast this machine boots a node.
    const r = await run(['up', '--prefix', 'e2e-timeout', '--timeout', '10s', '--cleanup-on-failure', '--junit', junit, '--memory', '1536M', '--hugepages-2m', '64', '--qemu-args=-S', '--boot-reset-after', '0']);
    expect(r.exitCode, String(r.all)).toBe(1);
    expect(String(r.stderr)).toMatch(/--timeout: up did not finish within 10s \(it was at "[^"]+"\)/);
    expect(Date.now() - began).toBeLessThan(60_000);
    expect(qemuPids('e2e-timeout')).toEqual([]);
    expect(existsSync(join(STATE, 'clusters', 'e2e-timeout'))).toBe(false);
    expect(readFileSync(junit, 'utf8')).toMatch(/<failure message="--timeout: up did not finish within 10s/);
  });

  it('a node stuck before its kernel is reset once, says so, and then boots', async () => {
    // QEMU's -S holds the vCPUs at the reset vector: a guest that never reaches its kernel, on demand.
    const r = await run(['up', '--prefix', 'e2e-reset', '--qemu-args=-S', '--boot-reset-after', '10', '--memory', '1536M', '--hugepages-2m', '64']);
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.stderr)).toMatch(/node01: not in its kernel 10 s after start \(stuck in firmware or the boot loader\); reset it once/);
    const saved = join(nodePaths(clusterPaths('e2e-reset', placesFrom({ ...process.env, ...ENV })), 'node01').dir, 'qemu-state-before-reset.txt');
    expect(readFileSync(saved, 'utf8')).toContain('"status":"prelaunch"');
    expect((await run(['ssh', '--prefix', 'e2e-reset', 'node01', '--', 'true'])).exitCode).toBe(0);
    expect((await run(['down', '--prefix', 'e2e-reset'])).exitCode).toBe(0);
  });

  it('--qemu-args QEMU will not take are refused up front; a QEMU that will not start, or that exits while booting, is quoted in the error', async () => {
    const dir = clusterPaths('e2e-badqemu', placesFrom({ ...process.env, ...ENV })).dir;
    const bad = await run(['up', '--prefix', 'e2e-badqemu', '--qemu-args=-device nonexistent-nic', '--memory', '1536M', '--hugepages-2m', '64']);
    expect(bad.exitCode, String(bad.all)).toBe(2);
    expect(String(bad.stderr)).toMatch(/--qemu-args: QEMU will not take "-device nonexistent-nic" on a node's machine \(.*'nonexistent-nic' is not a valid device model name\); correct it, or leave --qemu-args out/);
    expect(existsSync(dir)).toBe(false);
    // A clash with a device the node adds at boot (its disk is on slot 3) passes the check; QEMU refuses it
    // when the node starts, and a cluster none of whose nodes started is not kept.
    const clash = await run(['up', '--prefix', 'e2e-badqemu', '--qemu-args=-device virtio-net-pci,addr=0x3', '--memory', '1536M', '--hugepages-2m', '64']);
    expect(clash.exitCode, String(clash.all)).toBe(1);
    expect(String(clash.stderr)).toMatch(/QEMU would not start node01 \(exit 1\): .*PCI: slot 3 function 0 not available for virtio-net-pci/);
    expect(String(clash.stderr)).toMatch(/up failed before any node of the new cluster "e2e-badqemu" started; it is not kept/);
    expect(qemuPids('e2e-badqemu')).toEqual([]);
    expect(existsSync(dir)).toBe(false);

    const up = run(['up', '--prefix', 'e2e-quit', '--memory', '1536M', '--hugepages-2m', '64']);
    const qmp = nodePaths(clusterPaths('e2e-quit', placesFrom({ ...process.env, ...ENV })), 'node01').qmp;
    for (let i = 0; i < 600 && !existsSync(qmp); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    await qmpCommand(qmp, 'quit');
    const r = await up;
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/node01: QEMU exited while booting; QEMU's log \(\S+qemu\.log\) is empty: it was killed by a signal, or exited without a word/);
    expect((await run(['down', '--prefix', 'e2e-quit'])).exitCode).toBe(0);
  });
});
