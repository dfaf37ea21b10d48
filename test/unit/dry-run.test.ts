import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { pinnedLockFile, unreachableLockFile } from '../fixtures/kubernetes-context.js';

/**
 * `up --dry-run` through the CLI, as a user runs it: for a 2-node --dpdk cluster its output is a golden file
 * a reviewer reads top to bottom (UPDATE_GOLDEN=1 rewrites it), and it leaves nothing behind. The commands in
 * it come from the same argv builders the steps run, so a change to what `up` does shows up here.
 */
const REPO = join(__dirname, '..', '..');
const bin = join(REPO, 'bin', 'dpdkci.js');
const GOLDEN = join(__dirname, '..', 'golden', 'up-dry-run-2-nodes-dpdk.txt');
const GOLDEN_K8S = join(__dirname, '..', 'golden', 'up-dry-run-2-nodes-dpdk-kubernetes.txt');
/** versions.lock.yaml with made-up values where the real one has none yet, so every step has a plan. */
const PINNED_LOCK = pinnedLockFile();
let root: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'dpdkci-dry-'));
  env = { ...process.env, DPDKCI_STATE_DIR: join(root, 'state'), DPDKCI_CACHE_DIR: join(root, 'cache'), CI: 'true' };
  for (const k of Object.keys(env)) if (k.startsWith('KUBEVIRT_') || (k.startsWith('DPDKCI_') && !k.endsWith('_DIR'))) delete env[k];
});

// Tests that are not about Kubernetes say so (as KubeVirt's none provider would): the shipped lock and the
// network of the machine running them then change nothing.
const dryRun = (...args: string[]) =>
  execa('node', [bin, 'up', '--dry-run', '--debian-mirror', 'http://deb.debian.org/debian', ...args], { reject: false, env: { ...env, DPDKCI_KUBERNETES: 'none' } });
/** A lock whose missing values cannot be looked up from anywhere (test/fixtures/kubernetes-context.ts). */
const dryRunUnreachable = (...args: string[]) =>
  execa('node', [bin, 'up', '--dry-run', '--debian-mirror', 'http://deb.debian.org/debian', ...args], { reject: false, env: { ...env, DPDKCI_LOCK_FILE: unreachableLockFile() } });
const dryRunPinned = (...args: string[]) =>
  execa('node', [bin, 'up', '--dry-run', '--debian-mirror', 'http://deb.debian.org/debian', ...args], { reject: false, env: { ...env, DPDKCI_LOCK_FILE: PINNED_LOCK } });

/** A missing golden file fails; UPDATE_GOLDEN=1 writes it, for review. */
function golden(file: string, text: string): void {
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  }
  expect(existsSync(file), `${file} is missing; UPDATE_GOLDEN=1 writes it`).toBe(true);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** The checkout, the temporary directories and the recipe hash change from run to run; nothing else may. */
const normalise = (text: string) => text.split(REPO).join('<checkout>').split(root).join('<tmp>').replace(/node-bookworm-[0-9a-f]{16}/g, 'node-bookworm-<recipe hash>');

/** Two lab hosts for the hosts provider's plan: a real key pair (the inventory checks the key file) and its public key as the pinned host key. */
async function labInventory(): Promise<string> {
  const key = join(root, 'lab_key');
  const file = join(root, 'lab.yaml');
  if (existsSync(file)) return file;
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab', '-f', key]);
  const hostKey = readFileSync(`${key}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  writeFileSync(
    file,
    ['hosts:', '  - name: lab1', '    address: 192.0.2.10', `    keyFile: ${key}`, `    hostKey: "${hostKey}"`, '    nic: "0000:03:00.1"', '  - name: lab2', '    address: 192.0.2.11', '    port: 2222', `    keyFile: ${key}`, `    hostKey: "${hostKey}"`, '    nic: ens1f1', ''].join('\n'),
  );
  return file;
}

describe('up --dry-run', () => {
  it('prints the plan of a 2-node --dpdk cluster, matching the golden file', async () => {
    const r = await dryRun('--prefix', 'golden', '--nodes', '2', '--dpdk', '--kubernetes', 'none');
    expect(r.exitCode, r.stderr).toBe(0);
    golden(GOLDEN, normalise(r.stdout));
  });

  it('prints the plan of a hosts cluster: the hosts checked and recorded before the dataplane steps, nothing connected to', async () => {
    const inventory = await labInventory();
    const r = await dryRun('--prefix', 'golden-lab', '--provider', 'hosts', '--inventory', inventory, '--dpdk');
    expect(r.exitCode, r.stderr).toBe(0);
    golden(join(__dirname, '..', 'golden', 'up-dry-run-hosts.txt'), normalise(r.stdout));
    const steps = [...r.stdout.matchAll(/^\[\d+\] (.+)$/gm)].map((m) => m[1]);
    expect(steps.slice(0, 4)).toEqual(['record hosts cluster', 'connect to nodes', 'check hosts', 'record what each host had']);
    expect(existsSync(join(root, 'state', 'clusters', 'golden-lab'))).toBe(false);
  });

  it('prints the plan of a hosts cluster with Kubernetes: installed on each host after the dataplane, the API on the control plane\'s node IP', async () => {
    const inventory = await labInventory();
    const r = await dryRunPinned('--prefix', 'lab-k8s', '--provider', 'hosts', '--inventory', inventory, '--dpdk', '--kubernetes', '1.36');
    expect(r.exitCode, r.stderr).toBe(0);
    const steps = [...r.stdout.matchAll(/^\[\d+\] (.+)$/gm)].map((m) => m[1]);
    expect(steps[0]).toBe('preflight: Kubernetes 1.36 artefacts');
    // No node network of dpdkci's making: the hosts are on their lab's.
    expect(steps.slice(steps.indexOf('install Kubernetes'))).toEqual(['install Kubernetes', 'kubeadm init', 'kubeadm join', 'kubeconfig', 'vhost-user network files', 'Kubernetes add-ons', 'Kubernetes smoke check', 'check dataplane traffic']);
    expect(steps.indexOf('install Kubernetes')).toBeGreaterThan(steps.indexOf('reserve hugepages'));
    expect(r.stdout).toMatch(/lab2 +run +\/usr\/local\/lib\/dpdkci\/host-kubernetes.sh apply record lab-k8s +\(stdin: every file the install writes, \/etc\/crictl.yaml, /);
    expect(r.stdout).toMatch(/lab1 +run +bash \/var\/tmp\/dpdkci-kubernetes\/install-kubernetes.sh \/var\/tmp\/dpdkci-kubernetes registry.k8s.io\/pause:\S+ host/);
    expect(r.stdout).toMatch(/its server https:\/\/192\.0\.2\.10:6443 \(lab1's node IP\)/);
    // Each host its own block of the vhost-user network, in the inventory's order.
    expect(r.stdout).toMatch(/lab1 +write +\/etc\/cni\/multus\/net\.d\/userspace-ovs-net-1\.conf: .* host-local 10\.56\.217\.16-10\.56\.217\.29 /);
    expect(r.stdout).toMatch(/lab2 +write +\/etc\/cni\/multus\/net\.d\/userspace-ovs-net-1\.conf: .* host-local 10\.56\.217\.30-10\.56\.217\.43 /);
    expect(r.stdout).toMatch(/lab2 +run +\/usr\/local\/lib\/dpdkci\/host-state.sh check packages .*\brunc\b.*\bsocat\b/);
    expect(existsSync(join(root, 'state', 'clusters', 'lab-k8s'))).toBe(false);
  });

  it('prints the plan of a 2-node --dpdk cluster with Kubernetes, matching its golden file', async () => {
    const r = await dryRunPinned('--prefix', 'golden', '--nodes', '2', '--dpdk', '--kubernetes', '1.36');
    expect(r.exitCode, r.stderr).toBe(0);
    const text = normalise(r.stdout).replace(/node-bookworm-k8s1\.36-[0-9a-f]{16}/g, 'node-bookworm-k8s1.36-<layer hash>');
    golden(GOLDEN_K8S, text);
    const steps = [...text.matchAll(/^\[\d+\] (.+)$/gm)].map((m) => m[1]);
    // The preflight first; the layer after the accelerator (its build boots a VM); Kubernetes after the dataplane.
    expect(steps.slice(0, 5)).toEqual(['preflight: Kubernetes 1.36 artefacts', 'provision node image', 'choose accelerator', 'provision Kubernetes layer', 'prepare cluster']);
    expect(steps.slice(-8)).toEqual(['Kubernetes node network', 'kubeadm init', 'kubeadm join', 'kubeconfig', 'vhost-user network files', 'Kubernetes add-ons', 'Kubernetes smoke check', 'check dataplane traffic']);
    // The nodes boot from the layer; node01 also forwards the API server, on 127.0.0.1 only.
    const overlays = text.split('\n').filter((l) => l.includes('qemu-img create'));
    expect(overlays).toHaveLength(2);
    for (const l of overlays) expect(l).toContain('-b $CACHE/images/node-bookworm-k8s1.36-<layer hash>/disk.qcow2');
    const qemu = text.split('\n').filter((l) => l.includes('qemu-system-x86_64 -name'));
    expect(qemu[0]).toMatch(/hostfwd=tcp:127\.0\.0\.1:\d+-:22,hostfwd=tcp:127\.0\.0\.1:\d+-:6443/);
    expect(qemu[1]).not.toContain(':6443');
    // Without --dpdk the nodes are still connected to, and the smoke check (a vhost-user port) is left out.
    const plain = await dryRunPinned('--prefix', 'k8s-plain', '--nodes', '2', '--kubernetes', '1.36');
    const plainSteps = [...plain.stdout.matchAll(/^\[\d+\] (.+)$/gm)].map((m) => m[1]);
    expect(plainSteps.slice(-9)).toEqual(['wait for SSH', 'connect to nodes', 'push node scripts', 'Kubernetes node network', 'kubeadm init', 'kubeadm join', 'kubeconfig', 'vhost-user network files', 'Kubernetes add-ons']);
    expect(plain.stdout).toMatch(/kubernetes.sh apply node-network 0000:00:04.0 192.168.66.101\/24/);
    // Two secondary NICs each: the first for DPDK, the second the kernel's, for the node network.
    expect(text).toMatch(/kubernetes.sh apply node-network 0000:00:05.0 192.168.66.102\/24/);
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
      'start registry',
      'boot nodes',
      'wait for SSH',
      'connect to nodes',
      'push node scripts',
      'prepare OVS in the background',
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
    // The cluster registry's port reaches each node in its seed, on the port after the nodes'.
    for (const l of qemu) expect(l).toContain('-fw_cfg $\'name=opt/dpdkci/registry,file=');
    expect(text).toMatch(/docker-registry serve \S+\/registry\/config.yml/);
    expect(text).toMatch(/listen on 127\.0\.0\.1:2203\)/);
    // The dataplane scripts run on both nodes: the OVS preparation started in the background first; new nodes
    // have everything to do, so no check comes before apply.
    const ovs = text.split('\n').filter((l) => l.includes('dpdk-setup.sh') && l.includes(' ovs '));
    expect(ovs.map((l) => `${l.trim().split(/\s+/)[0]} ${/dpdk-setup.sh (\w+)/.exec(l)?.[1]}`)).toEqual(['node01 prewarm', 'node02 prewarm', 'node01 apply', 'node02 apply']);
    // The nodes boot the kernel the image build unpacks, and so does the KVM probe.
    for (const l of qemu) expect(l).toMatch(/-kernel \S+\/vmlinux /);
    expect(text).toMatch(/-no-reboot -kernel \$IMAGE\/vmlinux /);
    // Both directions between the nodes at once: a run on each, then, once both ports are up, both gates.
    const lines = text.split('\n');
    // With two nodes, each node's loop runs in the same testpmd as the pair ("both"), and no loop run comes first.
    const peers = lines.filter((l) => /dpdk-check.sh (loop|peer|both|gate) /.test(l)).map((l) => `${l.trim().split(/\s+/)[0]} ${/dpdk-check.sh (\w+)/.exec(l)?.[1]}`);
    expect(peers).toEqual(['node01 both', 'node02 both', 'node01 gate', 'node02 gate']);
    const firstGate = lines.findIndex((l) => l.includes('dpdk-check.sh gate'));
    const linkWaits = lines.map((l, i) => (l.includes('dpdkci-chk-p link_state is up') ? i : -1)).filter((i) => i >= 0);
    expect(linkWaits).toHaveLength(2);
    for (const i of linkWaits) expect(i).toBeLessThan(firstGate);
  });

  it('leaves the check out with --skip-check, and says when the lock stops Kubernetes', async () => {
    const skip = await dryRun('--prefix', 'skip', '--dpdk', '--skip-check');
    expect(skip.stdout).not.toContain('check dataplane traffic');
    // A lock with values missing that cannot be looked up: the dry run plans, and says the preflight stops up.
    const k8s = await dryRunUnreachable('--prefix', 'k8s', '--kubernetes', '1.36');
    expect(k8s.exitCode, k8s.stderr).toBe(0);
    expect(k8s.stderr).toMatch(/--kubernetes 1.36: 2 value\(s\) could not be looked up \(first: .*127\.0\.0\.1:1.*\); up would stop before anything starts/);
    expect(k8s.stdout).toMatch(/\[1\] preflight: Kubernetes 1.36 artefacts/);
    expect(k8s.stdout).toMatch(/nothing: the preflight stops up before this \(Kubernetes 1.36: \d+ artefact\(s\) have no checksum or digest/);
    // --kubernetes auto (the default) with that lock: the dataplane alone, and one line saying why and a way that works.
    const auto = await dryRunUnreachable('--prefix', 'auto', '--dpdk');
    expect(auto.exitCode, auto.stderr).toBe(0);
    expect(auto.stdout).toMatch(/Kubernetes none/);
    expect(auto.stderr.split('\n').filter((l) => l.includes('Kubernetes left out'))).toHaveLength(1);
    expect(auto.stderr).toMatch(/Kubernetes left out \(--kubernetes auto\): 2 value\(s\) of Kubernetes 1.36 could not be looked up .*--registry-mirror HOST=URL.*dpdkci bundle DIR/);
    expect(auto.stderr).not.toMatch(/versions --resolve --write/);
  });

  it('still refuses bad input, naming the option', async () => {
    const r = await dryRun('--nodes', '0');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--nodes: 0 is out of range/);
  });

  it.each([
    [['--kubernetes', '1.31'], /--kubernetes: 1.31 is not a version this dpdkci pins; pinned: 1.36, 1.35 \(or none\)/],
    [['--kubernetes', '1.36', '--dpdk', '--cpu', '2'], /--cpu: 2 vCPU is too few for Kubernetes with OVS-DPDK: .* request 1210m/],
    [['--kubernetes', '1.36', '--dpdk', '--memory', '3072M'], /--memory: 3072 MiB is too little for Kubernetes: 1792 MiB of hugepages/],
    [['--kubernetes', '1.36', '--vhost-socket-dir', '/run/vhu'], /--vhost-socket-dir: "\/run\/vhu" cannot be used with --kubernetes 1.36: the userspace CNI puts every pod's vhost-user sockets under its fixed \/var\/lib\/vhost_sockets/],
  ])('Kubernetes bad input %j: exit 2, nothing started', async (args, message) => {
    const r = await dryRunPinned('--prefix', 'bad', ...(args as string[]));
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(existsSync(join(root, 'state', 'clusters', 'bad'))).toBe(false);
  });
});
