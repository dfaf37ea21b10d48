import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, beforeAll } from 'vitest';

// The compiled CLI, run as a user runs it: exit codes and messages on stderr.
const bin = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  const state = mkdtempSync(join(tmpdir(), 'dpdkci-cli-'));
  env = { ...process.env, DPDKCI_STATE_DIR: join(state, 'state'), DPDKCI_CACHE_DIR: join(state, 'cache'), CI: 'true' };
});

const run = (...args: string[]) => execa('node', [bin, ...args], { reject: false, env });

describe('dpdkci CLI', () => {
  it('--help exits 0 and lists the commands', async () => {
    const r = await run('--help');
    expect(r.exitCode).toBe(0);
    for (const c of ['up|run', 'down|rm', 'status', 'ssh', 'scp', 'ports', 'provision']) expect(r.stdout).toContain(c);
  });
  it.each([
    [['up', '--nodes', '0'], /--nodes: 0 is out of range/],
    [['up', '--nodes', '100'], /--nodes: 100 is out of range/],
    [['up', '--memory', '12'], /--memory: 12 is 12 MiB, too little/],
    [['up', '--hugepages-2m', '4096'], /--hugepages-2m: 4096 x 2M/],
    [['up', '--nodes', '16', '--memory', '64G'], /this host has only \d+ MiB available/],
    [['up', '--prefix', 'a/b'], /--prefix: "a\/b" cannot name a cluster/],
    [['up', '--nodez', '2'], /unknown option '--nodez'\n\(Did you mean --nodes\?\)/],
    [['up', '--boot-timeout', 'soon'], /--boot-timeout: "soon"/],
    [['up', '--boot-reset-after', '2'], /--boot-reset-after: "2" is not a number of seconds \(0 to never reset, else at least 5\); e.g. --boot-reset-after 120/],
    [['up', '--dpdk', '--check-seconds', '1'], /--check-seconds: "1" is not a traffic time from 2 to 600 seconds \(e.g. --check-seconds 10\)/],
    [['status', '-o', 'yaml'], /-o\/--output: "yaml" is not an output format/],
    [['up', '--kubernetes', 'latest'], /--kubernetes: "latest" is not a Kubernetes version; give a minor version such as 1.36, auto .* or none/],
  ])('%j exits 2 with a message naming the option', async (args, message) => {
    const r = await run(...args);
    expect(r.stderr).toMatch(message);
    expect(r.exitCode).toBe(2);
  });
  it('bad input starts nothing and writes no state', async () => {
    await run('up', '--nodes', '0', '--prefix', 'nothing');
    const status = await run('status', '--prefix', 'nothing', '-o', 'json');
    expect(JSON.parse(status.stdout)).toEqual({ prefix: 'nothing', exists: false, nodes: [] });
  });
  it('names DPDKCI_BOOT_RESET_AFTER when that is what is wrong', async () => {
    const r = await execa('node', [bin, 'up'], { reject: false, env: { ...env, DPDKCI_BOOT_RESET_AFTER: '1m' } });
    expect(r.stderr).toMatch(/DPDKCI_BOOT_RESET_AFTER: "1m" is not a number of seconds/);
    expect(r.exitCode).toBe(2);
  });
  it('reads KUBEVIRT_NUM_NODES and names it in the error', async () => {
    const r = await execa('node', [bin, 'up'], { reject: false, env: { ...env, KUBEVIRT_NUM_NODES: '0' } });
    expect(r.stderr).toMatch(/KUBEVIRT_NUM_NODES: 0 is out of range/);
    expect(r.exitCode).toBe(2);
  });
  it('a missing host tool is a usage error naming the package', async () => {
    const r = await execa(process.execPath, [bin, 'up'], { reject: false, env: { ...env, PATH: '/nonexistent' } });
    expect(r.stderr).toMatch(/missing host tools: qemu-system-x86_64 \(package qemu-system-x86\)/);
    expect(r.exitCode).toBe(2);
  });
  it('down with nothing to remove exits 0, twice', async () => {
    expect((await run('down', '--prefix', 'absent')).exitCode).toBe(0);
    expect((await run('down', '--prefix', 'absent')).exitCode).toBe(0);
  });
  it.each([
    ['ssh', ['ssh', 'node01', '--prefix', 'absent', '--', 'true']],
    ['check', ['check', '--prefix', 'absent']],
  ])('%s on a cluster that does not exist is bad input: exit 2, naming the prefix and the fix', async (_name, argv) => {
    const r = await run(...argv);
    expect(r.stderr).toMatch(/--prefix: cluster "absent" does not exist; create it with dpdkci up --prefix absent, or name a cluster that exists/);
    expect(r.exitCode).toBe(2);
  });
});

describe('ports of a recorded cluster', () => {
  const record = (prefix: string, registryPort?: number) => ({
    prefix,
    provider: 'qemu',
    options: { kubernetes: 'none' },
    accel: 'tcg',
    accelReason: 'test',
    image: { hash: 'h', disk: '/d', kernel: '/k', initrd: '/i', kernelRelease: 'r' },
    createdAt: '2026-11-23T00:00:00Z',
    nodes: [{ name: 'node01', index: 1, role: 'control-plane', sshPort: 2201, mgmtMac: 'm', secondaryMacs: [], hostKey: 'k' }],
    ...(registryPort ? { registryPort } : {}),
  });
  const write = async (r: ReturnType<typeof record>) => {
    const { writeClusterRecord } = await import('../../src/core/cluster.js');
    const { mkdirSync } = await import('node:fs');
    const dir = join(env.DPDKCI_STATE_DIR as string, 'clusters', r.prefix);
    mkdirSync(dir, { recursive: true });
    writeClusterRecord(join(dir, 'cluster.json'), r as never);
  };
  it('ports registry prints the cluster registry port, and ports lists it', async () => {
    await write(record('withreg', 2202));
    expect((await run('ports', 'registry', '--prefix', 'withreg')).stdout).toBe('2202');
    expect((await run('ports', '--prefix', 'withreg')).stdout).toContain('cluster registry 127.0.0.1:2202 (the nodes pull it as registry:5000)');
  });
  it('ports registry on a cluster without one says why and exits 1', async () => {
    await write(record('noreg'));
    const r = await run('ports', 'registry', '--prefix', 'noreg');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/cluster "noreg" runs no registry \(it was brought up with --no-registry/);
  });
});
