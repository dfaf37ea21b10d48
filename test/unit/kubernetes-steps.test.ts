import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { resolveClusterOptions } from '../../src/core/config.js';
import type { ClusterRecord } from '../../src/core/cluster.js';
import { clusterPaths } from '../../src/core/paths.js';
import { runPipeline } from '../../src/core/pipeline.js';
import { createProgress } from '../../src/core/progress.js';
import { createFakeRunner, type FakeRunner } from '../../src/exec/fake-runner.js';
import type { UpContext } from '../../src/steps/context.js';
import { bootstrapToken, hostKubeconfig, kubernetesSteps } from '../../src/steps/kubernetes/index.js';
import { loadLock } from '../../src/versions/lock.js';
import { writeLock } from '../fixtures/lock.js';
import { placesFrom } from '../../src/core/places.js';

// Sequencing only: which commands the Kubernetes steps send to which node, in which order, with what on
// standard input. Nothing here shows that kubeadm or the add-ons work; no live Kubernetes ran them.
const K = '/usr/local/lib/dpdkci/kubernetes.sh';
const C = '/usr/local/lib/dpdkci/cni-netconf.sh';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
// Stand-ins for the upstream manifests, with the images the lock pins: what the steps do with them is tested
// here; the real manifests are rendered with a real kustomize in addons.test.ts.
const CALICO = 'kind: List # calico stand-in\n# image: quay.io/calico/node:v3.31.7\n';
const MULTUS = 'kind: List # multus stand-in\n';
const digest = (s: string) => `sha256:${sha(s)}`;
const ADMIN = 'apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://192.168.66.101:6443\n  name: dpdkci\n';
// What node01 says after a re-init: the same server, another CA.
const ADMIN_NEW = ADMIN.replace('Q0E=', 'TkVXQ0E=');
const CA = `sha256:${'a'.repeat(64)}`;
const CA_NEW = `sha256:${'b'.repeat(64)}`;

function setup(): { ctx: UpContext; runners: FakeRunner[]; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'dpdkci-k8s-steps-'));
  const bundle = join(root, 'bundle');
  mkdirSync(join(bundle, 'files'), { recursive: true });
  writeFileSync(join(bundle, 'files', 'calico.yaml'), CALICO);
  writeFileSync(join(bundle, 'files', 'multus.yml'), MULTUS);
  const lockFile = join(root, 'versions.lock.yaml');
  writeLock(
    {
      files: [{ name: 'kubeadm', url: 'https://dl.example/kubeadm', sha256: sha('kubeadm'), install: '/usr/local/bin/kubeadm' }],
      images: [{ ref: 'registry.k8s.io/pause:3.10', digest: `sha256:${sha('pause')}` }],
      addons: {
        calico: { version: 'v3.31.7', files: [{ name: 'calico.yaml', url: 'https://dl.example/calico.yaml', sha256: sha(CALICO) }], images: [{ ref: 'quay.io/calico/node:v3.31.7', digest: digest('node') }] },
        multus: { version: 'v4.2.2', files: [{ name: 'multus.yml', url: 'https://dl.example/multus.yml', sha256: sha(MULTUS) }], images: [{ ref: 'ghcr.io/k8snetworkplumbingwg/multus-cni:v4.2.2', digest: digest('multus') }] },
        'userspace-cni': { version: 'v24.02', files: [], images: [] },
      },
    },
    lockFile,
  );
  const env = { DPDKCI_STATE_DIR: join(root, 'state'), DPDKCI_CACHE_DIR: join(root, 'cache') };
  const options = resolveClusterOptions({ dpdk: true, nodes: '2', kubernetes: '1.31' }, {}, { memAvailableMiB: 100_000 });
  const paths = clusterPaths('dpdkci', placesFrom(env));
  mkdirSync(paths.dir, { recursive: true });
  const record = {
    prefix: 'dpdkci',
    nodes: [
      { name: 'node01', index: 1, role: 'control-plane', sshPort: 2201, apiPort: 2203 },
      { name: 'node02', index: 2, role: 'worker', sshPort: 2202 },
    ],
  } as unknown as ClusterRecord;
  const runners = [createFakeRunner('node01'), createFakeRunner('node02')];
  runners[0]?.on(/ ca-hash$/, { stdout: `${CA}\n` }).on(/admin-kubeconfig/, { stdout: ADMIN });
  const ctx = {
    options,
    places: placesFrom(env),
    paths,
    record,
    kubernetes: { lock: loadLock(lockFile), bundleDir: bundle },
    nodes: runners.map((runner, i) => ({ name: `node0${i + 1}`, role: i ? 'worker' : 'control-plane', address: '', runner })),
    progress: createProgress({ stream: { write: () => true }, live: false }),
  } as unknown as UpContext;
  return { ctx, runners, root };
}

const verbs = (r: FakeRunner) => r.calls.map((c) => (c[0] === K ? c.slice(1, 3).join(' ') : c[0] === C ? `netconf ${c[1]}` : c[0]));

describe('the Kubernetes steps of up', () => {
  it('on a new cluster: node network, init on node01, join with its credentials, kubeconfig, network files, add-ons, smoke', async () => {
    const { ctx, runners } = setup();
    const [n1, n2] = runners as [FakeRunner, FakeRunner];
    for (const r of runners) r.on(/ check /, { exitCode: 3 });
    n1.on(/join-credentials/, { stdout: `abcdef.0123456789abcdef sha256:${'1'.repeat(64)}\n` });
    n1.on(/ smoke /, { stdout: 'smoke port vhu1234\n' });
    const result = await runPipeline(kubernetesSteps, ctx, ctx.progress);
    // The smoke check only looks: it runs every time and is not a change.
    expect(result.applied).toEqual(['Kubernetes node network', 'kubeadm init', 'kubeadm join', 'kubeconfig', 'vhost-user network files', 'Kubernetes add-ons']);
    expect(verbs(n1)).toEqual([
      'check node-network',
      'apply node-network',
      'check init',
      'apply init',
      'ca-hash',
      'join-credentials',
      'admin-kubeconfig',
      'netconf check',
      'netconf apply',
      'check addons',
      'rm',
      ...Array(9).fill('install'),
      'apply addons',
      'smoke userspace-ovs-net-1',
    ]);
    expect(verbs(n2)).toEqual(['check node-network', 'apply node-network', 'check join', 'apply join', 'netconf check', 'netconf apply']);
    // Each node's file for thin multus, in its directory, with the node's own block of addresses.
    const netconf = (r: FakeRunner) => r.calls.map((c, i) => [c, r.inputs[i]] as const).filter(([c]) => c[0] === C && c[1] === 'apply');
    for (const [r, start, end] of [[n1, '10.56.217.16', '10.56.217.29'], [n2, '10.56.217.30', '10.56.217.43']] as const) {
      const [[argv, text]] = netconf(r) as [[string[], string]];
      expect(argv).toEqual([C, 'apply', '/etc/cni/multus/net.d/userspace-ovs-net-1.conf']);
      expect(JSON.parse(text)).toMatchObject({ name: 'userspace-ovs-net-1', type: 'userspace', ipam: { type: 'host-local', rangeStart: start, rangeEnd: end } });
    }
    // The second secondary NIC carries the node network; DPDK has the first.
    expect(n2.calls[1]).toEqual([K, 'apply', 'node-network', '0000:00:05.0', '192.168.66.102/24']);
    // The worker is checked against the CA node01 has; init is given kubeadm's own 4 min (not TCG) to come back.
    expect(n2.calls[2]).toEqual([K, 'check', 'join', CA]);
    expect(n1.calls[3]).toEqual([K, 'apply', 'init', '240']);
    // kubeadm gets its configuration on stdin: node01's address, and on node02 the token and CA hash node01 gave.
    expect(n1.inputs[3]).toMatch(/advertiseAddress: "192\.168\.66\.101"/);
    expect(n2.inputs[3]).toContain('token: "abcdef.0123456789abcdef"');
    expect(n2.inputs[3]).toContain(`sha256:${'1'.repeat(64)}`);
    expect(n2.inputs[3]).toMatch(/value: "192\.168\.66\.102"/);
    // The add-ons: labels, calico's and multus' upstream manifests from the bundle as kustomizations with
    // dpdkci's patch and the pinned images, the CRD wait, OVS's hugepage share, the NAD.
    const installs = n1.calls.map((c, i) => [c, n1.inputs[i]] as const).filter(([c]) => c[0] === 'install');
    expect(installs.map(([c]) => c.at(-1))).toEqual([
      '/etc/dpdkci/addons/05-labels.txt',
      '/etc/dpdkci/addons/10-calico/kustomization.yaml',
      '/etc/dpdkci/addons/10-calico/calico.yaml',
      '/etc/dpdkci/addons/10-calico/calico-node.yaml',
      '/etc/dpdkci/addons/20-multus/kustomization.yaml',
      '/etc/dpdkci/addons/20-multus/multus.yml',
      '/etc/dpdkci/addons/30-established.txt',
      '/etc/dpdkci/addons/35-ovs-hugepages.yaml',
      '/etc/dpdkci/addons/40-nad.yaml',
    ]);
    expect(installs[0]?.[1]).toBe('node01 dpdkci.io/dpdk=true dpdkci.io/hugepages-2Mi=896\nnode02 dpdkci.io/dpdk=true dpdkci.io/hugepages-2Mi=896\n');
    expect(installs[2]?.[1]).toBe(CALICO);
    expect(installs[1]?.[1]).toContain(`digest: ${digest('node')}`);
    expect(installs[4]?.[1]).toContain(`digest: ${digest('multus')}`);
    expect(n1.inputs.at(-1)).toContain('k8s.v1.cni.cncf.io/networks: "userspace-ovs-net-1"');
    // The kubeconfig on the host points at the forwarded port, and only its owner can read it.
    expect(readFileSync(ctx.paths.kubeconfig, 'utf8')).toContain('server: https://127.0.0.1:2203');
    expect(statSync(ctx.paths.kubeconfig).mode & 0o777).toBe(0o600);
  });

  it('on a converged cluster: checks only, then the smoke check', async () => {
    const { ctx, runners } = setup();
    const [n1, n2] = runners as [FakeRunner, FakeRunner];
    writeFileSync(ctx.paths.kubeconfig, hostKubeconfig(ADMIN, '127.0.0.1:2203'), { mode: 0o600 });
    const result = await runPipeline(kubernetesSteps, ctx, ctx.progress);
    expect(result.applied).toEqual([]);
    expect(verbs(n1)).toEqual(['check node-network', 'check init', 'ca-hash', 'admin-kubeconfig', 'netconf check', 'check addons', 'smoke userspace-ovs-net-1']);
    expect(verbs(n2)).toEqual(['check node-network', 'check join', 'netconf check']);
  });

  it('node01 restarted, its init complete: apply init waits for it (script says nothing reset); no join, no add-ons, the kubeconfig kept', async () => {
    const { ctx, runners } = setup();
    const [n1, n2] = runners as [FakeRunner, FakeRunner];
    writeFileSync(ctx.paths.kubeconfig, hostKubeconfig(ADMIN, '127.0.0.1:2203'), { mode: 0o600 });
    n1.on(/check init/, { exitCode: 3 }).on(/apply init/, { stdout: 'changed the control plane of the completed kubeadm init answers again (nothing reset)\n' });
    const result = await runPipeline(kubernetesSteps, ctx, ctx.progress);
    expect(result.applied).toEqual(['kubeadm init']);
    expect(verbs(n1)).toEqual(['check node-network', 'check init', 'apply init', 'ca-hash', 'admin-kubeconfig', 'netconf check', 'check addons', 'smoke userspace-ovs-net-1']);
    expect(verbs(n2)).toEqual(['check node-network', 'check join', 'netconf check']);
  });

  it('after a re-init (a new CA, same server): the worker re-joins with the new hash, the add-ons go on again, the kubeconfig is rewritten', async () => {
    const { ctx, runners } = setup();
    const [n1, n2] = runners as [FakeRunner, FakeRunner];
    writeFileSync(ctx.paths.kubeconfig, hostKubeconfig(ADMIN, '127.0.0.1:2203'), { mode: 0o600 });
    n1.on(/check init/, { exitCode: 3 })
      .on(/apply init/, { stdout: `changed kubeadm init done (a new cluster CA: ${CA_NEW})\n` })
      .on(/ ca-hash$/, { stdout: `${CA_NEW}\n` })
      .on(/admin-kubeconfig/, { stdout: ADMIN_NEW })
      .on(/check addons/, { exitCode: 3 })
      .on(/join-credentials/, { stdout: `abcdef.0123456789abcdef ${CA_NEW}\n` });
    // The worker's own check decides (kubernetes.sh compares its kubelet.conf's CA with the hash it is given).
    n2.on(new RegExp(`check join ${CA_NEW}`), { exitCode: 3 });
    const result = await runPipeline(kubernetesSteps, ctx, ctx.progress);
    expect(result.applied).toEqual(['kubeadm init', 'kubeadm join', 'kubeconfig', 'Kubernetes add-ons']);
    expect(n2.calls.find((c) => c[2] === 'join')).toEqual([K, 'check', 'join', CA_NEW]);
    expect(verbs(n2)).toEqual(['check node-network', 'check join', 'apply join', 'netconf check']);
    expect(n2.inputs[2]).toContain(`caCertHashes: ["${CA_NEW}"]`);
    expect(readFileSync(ctx.paths.kubeconfig, 'utf8')).toBe(hostKubeconfig(ADMIN_NEW, '127.0.0.1:2203'));
    expect(verbs(n1)).toContain('apply addons');
  });

  it('a failing kubeadm init names the node and carries the script\'s words', async () => {
    const { ctx, runners } = setup();
    const [n1] = runners as [FakeRunner];
    n1.on(/check init/, { exitCode: 3 });
    n1.on(/apply init/, { exitCode: 1, stderr: '[ERROR Mem]: the system RAM (1024 MB) is less than the minimum 1700 MB\nkubernetes: kubeadm init failed' });
    await expect(runPipeline(kubernetesSteps, ctx, ctx.progress)).rejects.toThrow(/node01: kubeadm init failed:\n\[ERROR Mem\]/);
    expect(existsSync(ctx.paths.kubeconfig)).toBe(false);
  });

  it('bootstrap tokens have kubeadm\'s form; the kubeconfig server is rewritten to the forwarded port', () => {
    expect(bootstrapToken()).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(bootstrapToken()).not.toBe(bootstrapToken());
    expect(hostKubeconfig(ADMIN, '127.0.0.1:40000')).toBe(ADMIN.replace('https://192.168.66.101:6443', 'https://127.0.0.1:40000'));
    expect(() => hostKubeconfig('apiVersion: v1\n', '127.0.0.1:1')).toThrow(/no "server: https/);
  });

  it("kubernetes.sh apply addons: labels, kustomizations, CRD waits and plain files, in name order", async () => {
    // The real script, with a kubectl that only records its arguments: this checks the script's own parsing.
    const root = mkdtempSync(join(tmpdir(), 'dpdkci-addons-'));
    const bin = join(root, 'bin');
    const addons = join(root, 'addons');
    mkdirSync(bin);
    mkdirSync(join(addons, '10-calico'), { recursive: true });
    writeFileSync(join(bin, 'kubectl'), `#!/bin/sh\necho "$*" >>${join(root, 'calls')}\n`, { mode: 0o755 });
    writeFileSync(join(root, 'admin.conf'), 'apiVersion: v1\n');
    writeFileSync(join(addons, '05-labels.txt'), 'node01 dpdkci.io/dpdk=true dpdkci.io/hugepages-2Mi=896\n');
    writeFileSync(join(addons, '10-calico', 'kustomization.yaml'), 'resources: [calico.yaml]\n');
    writeFileSync(join(addons, '30-established.txt'), 'network-attachment-definitions.k8s.cni.cncf.io\n');
    writeFileSync(join(addons, '40-nad.yaml'), 'x: 1\n');
    const script = join(__dirname, '..', '..', 'scripts', 'node', 'kubernetes.sh');
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DPDKCI_ADDONS_DIR: addons, DPDKCI_KUBECONFIG: join(root, 'admin.conf') };
    const r = await execa('bash', [script, 'apply', 'addons', 'abc123'], { env, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('changed add-ons applied (abc123)');
    expect(readFileSync(join(root, 'calls'), 'utf8').split('\n').filter(Boolean)).toEqual([
      'get --raw /readyz',
      'label node node01 --overwrite dpdkci.io/dpdk=true dpdkci.io/hugepages-2Mi=896',
      `apply -k ${addons}/10-calico`,
      'wait --for=condition=Established crd/network-attachment-definitions.k8s.cni.cncf.io --timeout=120s',
      `apply -f ${addons}/40-nad.yaml`,
    ]);
    // The check now finds the add-ons in place, and a different set pending.
    expect((await execa('bash', [script, 'check', 'addons', 'abc123'], { env, reject: false })).exitCode).toBe(0);
    expect((await execa('bash', [script, 'check', 'addons', 'other'], { env, reject: false })).exitCode).toBe(3);
    // A directory without a kustomization is refused, naming it.
    mkdirSync(join(addons, '20-stray'));
    const stray = await execa('bash', [script, 'apply', 'addons', 'abc124'], { env, reject: false });
    expect(stray.exitCode).toBe(1);
    expect(stray.stderr).toMatch(/unexpected entry 20-stray/);
  });
});
