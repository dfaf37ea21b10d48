import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * `up --dry-run` through the CLI, as a user runs it: for a 2-node --dpdk cluster its output is a golden file
 * a reviewer reads top to bottom (UPDATE_GOLDEN=1 rewrites it), and it leaves nothing behind. The commands in
 * it come from the same argv builders the steps run, so a change to what `up` does shows up here.
 */
const REPO = join(__dirname, '..', '..');
const bin = join(REPO, 'bin', 'dpdkci.js');
const GOLDEN = join(__dirname, '..', 'golden', 'up-dry-run-2-nodes-dpdk.txt');
let root: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'dpdkci-dry-'));
  env = { ...process.env, DPDKCI_STATE_DIR: join(root, 'state'), DPDKCI_CACHE_DIR: join(root, 'cache'), CI: 'true' };
  for (const k of Object.keys(env)) if (k.startsWith('KUBEVIRT_') || (k.startsWith('DPDKCI_') && !k.endsWith('_DIR'))) delete env[k];
});

const dryRun = (...args: string[]) =>
  execa('node', [bin, 'up', '--dry-run', '--debian-mirror', 'http://deb.debian.org/debian', ...args], { reject: false, env });

/** The checkout, the temporary directories and the recipe hash change from run to run; nothing else may. */
const normalise = (text: string) => text.split(REPO).join('<checkout>').split(root).join('<tmp>').replace(/node-bookworm-[0-9a-f]{16}/g, 'node-bookworm-<recipe hash>');

describe('up --dry-run', () => {
  it('prints the plan of a 2-node --dpdk cluster, matching the golden file', async () => {
    const r = await dryRun('--prefix', 'golden', '--nodes', '2', '--dpdk');
    expect(r.exitCode, r.stderr).toBe(0);
    const text = normalise(r.stdout);
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(GOLDEN)) {
      mkdirSync(join(GOLDEN, '..'), { recursive: true });
      writeFileSync(GOLDEN, text);
    }
    expect(text).toBe(readFileSync(GOLDEN, 'utf8'));
  });

  it('starts, writes and runs nothing', async () => {
    const r = await dryRun('--prefix', 'nothing', '--nodes', '2', '--dpdk');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(root, 'state', 'clusters', 'nothing'))).toBe(false);
    expect(existsSync(join(root, 'cache', 'images'))).toBe(false);
  });

  it('lists every step in order, node by node, with the commands the steps run', async () => {
    const text = (await dryRun('--prefix', 'order', '--nodes', '2', '--dpdk')).stdout;
    const steps = [...text.matchAll(/^\[\d+\] (.+)$/gm)].map((m) => m[1]);
    expect(steps).toEqual([
      'provision node image',
      'choose accelerator',
      'prepare cluster',
      'start secondary network switch',
      'boot nodes',
      'wait for SSH',
      'connect to nodes',
      'push node scripts',
      'check hugepages',
      'bind DPDK NIC to vfio-pci',
      'vhost-user socket directory',
      'OVS-DPDK and br-dpdk0',
      'check dataplane traffic',
    ]);
    // Each node gets its own QEMU, with the kernel args and the vIOMMU of the foundation.
    const qemu = text.split('\n').filter((l) => l.includes('qemu-system-x86_64 -name'));
    expect(qemu.map((l) => /dpdkci-order-(node\d\d)/.exec(l)?.[1])).toEqual(['node01', 'node02']);
    for (const l of qemu) expect(l).toMatch(/intel-iommu.*intel_iommu=on iommu=pt/);
    // The dataplane scripts run on both nodes, check before apply.
    const ovs = text.split('\n').filter((l) => l.includes('dpdk-setup.sh') && l.includes(' ovs '));
    expect(ovs.map((l) => `${l.trim().split(/\s+/)[0]} ${/dpdk-setup.sh (\w+)/.exec(l)?.[1]}`)).toEqual(['node01 check', 'node01 apply', 'node02 check', 'node02 apply']);
    // Both directions between the nodes, each with a receiver before its sender.
    const peers = text.split('\n').filter((l) => /\((receiver|sender) for/.test(l)).map((l) => /\((receiver|sender) for (.+)\)/.exec(l)?.slice(1).join(' '));
    expect(peers).toEqual(['receiver node01 -> node02', 'sender node01 -> node02', 'receiver node02 -> node01', 'sender node02 -> node01']);
  });

  it('leaves the check out with --skip-check and says what it would not do for Kubernetes', async () => {
    const skip = await dryRun('--prefix', 'skip', '--dpdk', '--skip-check');
    expect(skip.stdout).not.toContain('check dataplane traffic');
    const k8s = await dryRun('--prefix', 'k8s', '--kubernetes', '1.31');
    expect(k8s.exitCode, k8s.stderr).toBe(0);
    expect(k8s.stdout).toMatch(/\[1\] preflight: Kubernetes 1.31 artefacts/);
    expect(k8s.stdout).toContain('does not install Kubernetes');
  });

  it('still refuses bad input, naming the option', async () => {
    const r = await dryRun('--nodes', '0');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--nodes: 0 is out of range/);
  });
});
