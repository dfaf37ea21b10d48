import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { writeClusterRecord } from '../../src/core/cluster.js';
import { artefactCache, clusterPaths } from '../../src/core/paths.js';
import { cachedPath } from '../../src/fetch/fetcher.js';
import { loadLock, lockFile } from '../../src/versions/lock.js';
import { placesFrom } from '../../src/core/places.js';

/**
 * cluster-up/ as KubeVirt's own scripts use it: sourced in a clean `bash -e` from a stand-in KubeVirt checkout
 * whose kubevirtci/cluster-up is a symlink to ours, with DPDKCI a stand-in dpdkci that records its arguments
 * and prints canned answers. The ways of sourcing are KubeVirt's (kubevirt/kubevirt@d923fdb8):
 *   hack/cluster-up.sh       source hack/config-kubevirtci.sh; source "${KUBEVIRTCI_PATH}up.sh"   (set -e, set -x)
 *   hack/cluster-deploy.sh   source hack/common.sh; source kubevirtci/cluster-up/cluster/$KUBEVIRT_PROVIDER/provider.sh;
 *                            source hack/config.sh, which sources kubevirtci/cluster-up/hack/config.sh
 *   Makefile cluster-down    ./kubevirtci/cluster-up/down.sh
 */
const ROOT = join(__dirname, '..', '..');
const CLUSTER_UP = join(ROOT, 'cluster-up');

// The stand-in KubeVirt files: only what decides how kubevirtci's scripts are found and sourced.
const KUBEVIRT_FILES: Record<string, string> = {
  // kubevirt/kubevirt@d923fdb8:hack/common.sh sources kubevirtci's common.sh by a path relative to the checkout.
  'hack/common.sh': 'if [ -f kubevirtci/cluster-up/hack/common.sh ]; then\n  source kubevirtci/cluster-up/hack/common.sh\nfi\n',
  // kubevirt/kubevirt@d923fdb8:hack/config.sh: its own defaults, then kubevirtci's config.sh; KUBEVIRT_PATH is empty there.
  'hack/config.sh': [
    'unset docker_tag image_pull_policy',
    'source ${KUBEVIRT_PATH}hack/config-default.sh',
    'source ${KUBEVIRT_PATH}kubevirtci/cluster-up/hack/config.sh',
    'export docker_tag image_pull_policy',
    '',
  ].join('\n'),
  // kubevirt/kubevirt@d923fdb8:hack/config-default.sh (two of its values).
  'hack/config-default.sh': 'docker_tag=${DOCKER_TAG:-latest}\nimage_pull_policy=${IMAGE_PULL_POLICY:-IfNotPresent}\n',
  // kubevirt/kubevirt@d923fdb8:hack/config-kubevirtci.sh: both paths under kubevirtci/, KUBEVIRTCI_PATH with a trailing /.
  'hack/config-kubevirtci.sh': [
    'BASE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"',
    'KUBEVIRTCI_PATH="${BASE_DIR}/kubevirtci/cluster-up/"',
    'KUBEVIRTCI_CONFIG_PATH="${BASE_DIR}/kubevirtci/_ci-configs"',
    '',
  ].join('\n'),
};

// Records every call (arguments, and what cluster-up/ gave it in the environment); answers like dpdkci.
const FAKE_DPDKCI = `#!/usr/bin/env bash
echo "dpdkci $* [prefix=$DPDKCI_PREFIX kubernetes=$DPDKCI_KUBERNETES dpdk=$DPDKCI_DPDK nics=\${KUBEVIRT_NUM_SECONDARY_NICS:-} nodes=\${KUBEVIRT_NUM_NODES:-}]" >>"$FAKE_LOG"
cluster_kubernetes=\${FAKE_CLUSTER_KUBERNETES:-$DPDKCI_KUBERNETES}
case "$*" in
  up* | down*) ;;
  "ports registry") echo 5001 ;;
  "ports k8s") echo 6444 ;;
  "ports ssh") echo 2201 ;;
  ports\\ *) echo "error: ports: dpdkci does not forward \\"$2\\"" >&2; exit 1 ;;
  "status -o json") printf '{\\n  "prefix": "%s",\\n  "options": {\\n    "nodes": 1,\\n    "kubernetes": "%s"\\n  }\\n}\\n' "$DPDKCI_PREFIX" "$cluster_kubernetes" ;;
  kubeconfig) printf 'apiVersion: v1\\nkind: Config\\n# fake kubeconfig\\n' ;;
  "kubectl --binary") echo "$FAKE_KUBECTL" ;;
  *) echo "fake dpdkci: unexpected $*" >&2; exit 3 ;;
esac
`;

// The "pinned kubectl": records its arguments and the KUBECONFIG it was given.
const FAKE_KUBECTL = `#!/usr/bin/env bash
echo "kubectl $* [KUBECONFIG=$KUBECONFIG]" >>"$FAKE_LOG"
`;

interface Checkout {
  dir: string;
  log: string;
  kubectl: string;
  env: Record<string, string>;
  configDir: (provider: string) => string;
  calls: () => string[];
}

/** A fresh stand-in KubeVirt checkout, and an environment with nothing of the test runner's KUBEVIRT_ or DPDKCI_ variables. */
function checkout(): Checkout {
  const top = mkdtempSync(join(tmpdir(), 'dpdkci-cluster-up-'));
  const dir = join(top, 'kubevirt');
  for (const [path, text] of Object.entries(KUBEVIRT_FILES)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  mkdirSync(join(dir, 'kubevirtci'));
  symlinkSync(CLUSTER_UP, join(dir, 'kubevirtci', 'cluster-up'));
  const bin = join(top, 'bin');
  mkdirSync(bin);
  const log = join(top, 'calls.log');
  writeFileSync(log, '');
  writeFileSync(join(bin, 'dpdkci'), FAKE_DPDKCI, { mode: 0o755 });
  const kubectl = join(bin, 'kubectl-v1.36.4');
  writeFileSync(kubectl, FAKE_KUBECTL, { mode: 0o755 });
  return {
    dir,
    log,
    kubectl,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: top, DPDKCI: join(bin, 'dpdkci'), FAKE_LOG: log, FAKE_KUBECTL: kubectl },
    configDir: (provider) => join(dir, 'kubevirtci', '_ci-configs', provider),
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
  };
}

/** A script run by `bash -e` in the checkout, as KubeVirt's own are (from its top directory). */
function bash(co: Checkout, script: string, env: Record<string, string> = {}) {
  return execa('bash', ['-e', '-c', script], { cwd: co.dir, env: { ...co.env, ...env }, extendEnv: false, reject: false });
}

const AS_CLUSTER_UP = 'set -x; source hack/config-kubevirtci.sh; KUBEVIRT_DEPLOY_CDI=${KUBEVIRT_DEPLOY_CDI:-true}; source "${KUBEVIRTCI_PATH}up.sh"';
const AS_CLUSTER_DEPLOY = (body: string) =>
  `source hack/common.sh\nsource kubevirtci/cluster-up/cluster/$KUBEVIRT_PROVIDER/provider.sh\nsource hack/config.sh\n${body}`;
const PRINT_VARIABLES = 'for v in master_ip kubeconfig kubectl docker_prefix manifest_docker_prefix network_provider docker_tag; do echo "$v=${!v-<unset>}"; done';

function variables(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('cluster-up/ as KubeVirt sources it', () => {
  it('before any up, hack/config.sh gives kubevirtci\'s defaults, calico as the network provider', async () => {
    const co = checkout();
    const r = await bash(co, AS_CLUSTER_DEPLOY(PRINT_VARIABLES));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(variables(r.stdout)).toEqual({
      master_ip: '127.0.0.1',
      kubeconfig: '<unset>',
      kubectl: '<unset>',
      docker_prefix: 'kubevirt',
      manifest_docker_prefix: '<unset>',
      network_provider: 'calico',
      docker_tag: 'latest',
    });
    // Sourcing runs nothing of dpdkci's; common.sh makes the provider's directory, as kubevirtci's does.
    expect(co.calls()).toEqual([]);
    expect(existsSync(co.configDir('k8s-1.36'))).toBe(true);
  });

  it('up.sh, sourced as hack/cluster-up.sh does, brings up k8s-1.36 and writes the kubeconfig, the pinned kubectl and config-provider', async () => {
    const co = checkout();
    const r = await bash(co, AS_CLUSTER_UP);
    expect(r.exitCode, r.stderr).toBe(0);
    const settings = '[prefix=k8s-1-36 kubernetes=1.36 dpdk=true nics= nodes=1]';
    const cfg = co.configDir('k8s-1.36');
    expect(co.calls()).toEqual([
      `dpdkci up ${settings}`,
      `dpdkci status -o json ${settings}`,
      `dpdkci kubeconfig ${settings}`,
      `dpdkci kubectl --binary ${settings}`,
      // One node: the control plane is the worker too.
      `kubectl label node -l node-role.kubernetes.io/control-plane node-role.kubernetes.io/worker= --overwrite [KUBECONFIG=${cfg}/.kubeconfig]`,
      `dpdkci ports registry ${settings}`,
    ]);
    expect(r.stderr).toMatch(/note: KUBEVIRT_DEPLOY_CDI=true is taken as false: dpdkci deploys no CDI/);
    expect(readFileSync(join(cfg, '.kubeconfig'), 'utf8')).toContain('# fake kubeconfig');
    expect(statSync(join(cfg, '.kubeconfig')).mode & 0o777).toBe(0o600);
    // A copy of the pinned kubectl, not a wrapper or a link.
    expect(readFileSync(join(cfg, '.kubectl'), 'utf8')).toBe(FAKE_KUBECTL);
    expect(statSync(join(cfg, '.kubectl')).mode & 0o777).toBe(0o755);
    const provider = readFileSync(join(cfg, 'config-provider-k8s-1.36.sh'), 'utf8');
    expect(provider.split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'master_ip=127.0.0.1',
      `kubeconfig=${cfg}/.kubeconfig`,
      `kubectl=${cfg}/.kubectl`,
      `gocli=${co.dir}/kubevirtci/cluster-up/cli.sh`,
      'docker_prefix=${DOCKER_PREFIX:-localhost:5001/kubevirt}',
      'manifest_docker_prefix=${DOCKER_PREFIX:-registry:5000/kubevirt}',
      '',
    ]);
  });

  it('after up, hack/config.sh has the provider\'s values, exported as kubevirtci exports them, and the functions work', async () => {
    const co = checkout();
    expect((await bash(co, AS_CLUSTER_UP)).exitCode).toBe(0);
    const cfg = co.configDir('k8s-1.36');
    writeFileSync(co.log, '');
    const r = await bash(
      co,
      AS_CLUSTER_DEPLOY(
        [
          PRINT_VARIABLES,
          // What a child process of the script sees: config.sh exports five of them (kubevirt/kubevirtci@39bd4947:cluster-up/hack/config.sh).
          'bash -c \'echo "child: docker_prefix=$docker_prefix manifest_docker_prefix=$manifest_docker_prefix kubeconfig=$kubeconfig kubectl=${kubectl-<unset>}"\'',
          '_kubectl get nodes -o wide',
          'echo "KUBECONFIG=$KUBECONFIG"',
          'echo "port=$(_port registry)"',
          'echo "main_ip=$(_main_ip)"',
        ].join('\n'),
      ),
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(variables(r.stdout)).toMatchObject({
      master_ip: '127.0.0.1',
      kubeconfig: `${cfg}/.kubeconfig`,
      kubectl: `${cfg}/.kubectl`,
      docker_prefix: 'localhost:5001/kubevirt',
      manifest_docker_prefix: 'registry:5000/kubevirt',
      network_provider: 'calico',
      KUBECONFIG: `${cfg}/.kubeconfig`,
      port: '5001',
      main_ip: '127.0.0.1',
    });
    expect(r.stdout).toContain(`child: docker_prefix=localhost:5001/kubevirt manifest_docker_prefix=registry:5000/kubevirt kubeconfig=${cfg}/.kubeconfig kubectl=<unset>`);
    expect(co.calls()).toEqual([
      `kubectl get nodes -o wide [KUBECONFIG=${cfg}/.kubeconfig]`,
      'dpdkci ports registry [prefix=k8s-1-36 kubernetes=1.36 dpdk=true nics= nodes=1]',
    ]);

    // DOCKER_PREFIX wins over both prefixes, as in kubevirtci's config-provider file.
    const own = await bash(co, AS_CLUSTER_DEPLOY(PRINT_VARIABLES), { DOCKER_PREFIX: 'quay.io/me' });
    expect(variables(own.stdout)).toMatchObject({ docker_prefix: 'quay.io/me', manifest_docker_prefix: 'quay.io/me' });

    // kubectl.sh goes through _kubectl; cli.sh ports asks dpdkci, whose refusals fail the script.
    writeFileSync(co.log, '');
    expect((await bash(co, './kubevirtci/cluster-up/kubectl.sh get pods -A')).exitCode).toBe(0);
    expect(co.calls()).toEqual([`kubectl get pods -A [KUBECONFIG=${cfg}/.kubeconfig]`]);
    const ports = await bash(co, 'echo "registry=$(./kubevirtci/cluster-up/cli.sh ports registry)"; ./kubevirtci/cluster-up/cli.sh ports uploadproxy');
    expect(ports.stdout).toContain('registry=5001');
    expect(ports.exitCode).toBe(1);
    expect(ports.stderr).toMatch(/dpdkci does not forward "uploadproxy"/);
    expect((await bash(co, './kubevirtci/cluster-up/kubeconfig.sh')).stdout).toBe(`${cfg}/.kubeconfig`);
  });

  it('down.sh, as make cluster-down runs it, removes the cluster and what up wrote', async () => {
    const co = checkout();
    expect((await bash(co, AS_CLUSTER_UP)).exitCode).toBe(0);
    const cfg = co.configDir('k8s-1.36');
    expect(readdirSync(cfg).sort()).toEqual(['.kubeconfig', '.kubectl', 'config-provider-k8s-1.36.sh']);
    writeFileSync(co.log, '');
    const r = await bash(co, './kubevirtci/cluster-up/down.sh');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(co.calls()).toEqual(['dpdkci down [prefix=k8s-1-36 kubernetes=1.36 dpdk=true nics= nodes=1]']);
    expect(readdirSync(cfg)).toEqual([]);
    // Back to the defaults.
    expect(variables((await bash(co, AS_CLUSTER_DEPLOY(PRINT_VARIABLES))).stdout)).toMatchObject({ docker_prefix: 'kubevirt', kubeconfig: '<unset>' });
  });

  it('KUBEVIRT_NUM_SECONDARY_NICS=1 and two nodes: dpdkci gets them, the workers get the worker role', async () => {
    const co = checkout();
    const r = await bash(co, AS_CLUSTER_UP, { KUBEVIRT_PROVIDER: 'k8s-1.35-dpdk', KUBEVIRT_NUM_SECONDARY_NICS: '1', KUBEVIRT_NUM_NODES: '2', JOB_NAME: 'Pull_KubeVirt', EXECUTOR_NUMBER: '3' });
    expect(r.exitCode, r.stderr).toBe(0);
    const calls = co.calls();
    expect(calls[0]).toBe('dpdkci up [prefix=pull-kubevirt3 kubernetes=1.35 dpdk=true nics=1 nodes=2]');
    expect(calls).toContain(
      `kubectl label node -l !node-role.kubernetes.io/control-plane node-role.kubernetes.io/worker= --overwrite [KUBECONFIG=${co.configDir('k8s-1.35-dpdk')}/.kubeconfig]`,
    );
    expect(existsSync(join(co.configDir('k8s-1.35-dpdk'), 'config-provider-k8s-1.35-dpdk.sh'))).toBe(true);
  });

  it('without Kubernetes (dpdk, or DPDKCI_KUBERNETES=none) there is no .kubectl, and _kubectl says why', async () => {
    for (const [provider, env] of [
      ['dpdk', {}],
      ['k8s-1.36-dpdk', { DPDKCI_KUBERNETES: 'none' }],
    ] as const) {
      const co = checkout();
      const r = await bash(co, AS_CLUSTER_UP, { KUBEVIRT_PROVIDER: provider, ...env });
      expect(r.exitCode, r.stderr).toBe(0);
      const settings = `[prefix=${provider.replace('.', '-')} kubernetes=none dpdk=true nics= nodes=1]`;
      expect(co.calls()).toEqual([`dpdkci up ${settings}`, `dpdkci status -o json ${settings}`, `dpdkci ports registry ${settings}`]);
      const cfg = co.configDir(provider);
      expect(readdirSync(cfg)).toEqual([`config-provider-${provider}.sh`]);
      const text = readFileSync(join(cfg, `config-provider-${provider}.sh`), 'utf8');
      expect(text).toMatch(/^# no kubeconfig or kubectl: the cluster has no Kubernetes$/m);
      expect(text).not.toMatch(/^kube/m);
      const k = await bash(co, AS_CLUSTER_DEPLOY('_kubectl get nodes'), { KUBEVIRT_PROVIDER: provider, ...env });
      expect(k.exitCode).toBe(1);
      expect(k.stderr).toMatch(/_kubectl: no \S+\/\.kubectl: the cluster has no Kubernetes/);
    }
  });

  it('DPDKCI_KUBERNETES=auto: what the cluster came up with decides', async () => {
    const co = checkout();
    const r = await bash(co, AS_CLUSTER_UP, { DPDKCI_KUBERNETES: 'auto', FAKE_CLUSTER_KUBERNETES: 'none' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(co.configDir('k8s-1.36'), '.kubectl'))).toBe(false);
  });

  it('DPDKCI_REGISTRY=false: config-provider leaves docker_prefix to the defaults', async () => {
    const co = checkout();
    expect((await bash(co, AS_CLUSTER_UP, { DPDKCI_REGISTRY: 'false' })).exitCode).toBe(0);
    expect(co.calls().some((c) => c.startsWith('dpdkci ports'))).toBe(false);
    const r = await bash(co, AS_CLUSTER_DEPLOY(PRINT_VARIABLES));
    expect(variables(r.stdout)).toMatchObject({ docker_prefix: 'kubevirt', manifest_docker_prefix: '<unset>', master_ip: '127.0.0.1' });
  });

  it.each([
    ['up.sh, as hack/cluster-up.sh sources it', AS_CLUSTER_UP],
    ['down.sh, as make cluster-down runs it', './kubevirtci/cluster-up/down.sh'],
    ['kubectl.sh', './kubevirtci/cluster-up/kubectl.sh get nodes'],
  ])('an unknown provider is refused with exit 2 naming the accepted ones: %s', async (_, script) => {
    for (const provider of ['kind-1.30', 'k8s-1.99', 'external', '../hack']) {
      const co = checkout();
      const r = await bash(co, script, { KUBEVIRT_PROVIDER: provider });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`KUBEVIRT_PROVIDER: "${provider}" is not a dpdkci provider; use one of dpdk k8s-1.35 k8s-1.35-dpdk k8s-1.36 k8s-1.36-dpdk`);
      expect(co.calls()).toEqual([]);
    }
  });

  it("sourcing hack/common.sh with another provider never ends the caller's shell (set -e, set -u): it warns and leaves dpdkci's variables unset (M10)", async () => {
    for (const provider of ['kind-1.30', 'external', '../hack']) {
      const co = checkout();
      const r = await bash(co, 'set -u; source hack/common.sh; echo "survived deploy_cdi=${KUBEVIRT_DEPLOY_CDI-<unset>} kubernetes=${DPDKCI_KUBERNETES-<unset>}"', { KUBEVIRT_PROVIDER: provider });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('survived deploy_cdi=<unset> kubernetes=<unset>');
      expect(r.stderr).toContain(`warning: KUBEVIRT_PROVIDER: "${provider}" is not a dpdkci provider`);
      expect(co.calls()).toEqual([]);
    }
  });

  // kubevirt/kubevirt@d923fdb8:hack/cluster-deploy.sh, its CDI decision (lines 23, 37-41, 78-88), with
  // _kubectl and cli.sh as the drop-in gives them: the testing manifests made without CDI's, and no cdi patch.
  const CDI_DECISION = [
    'if [[ "$KUBEVIRT_PROVIDER" =~ ^(kind.*|external|minikube)$ ]]; then export KUBEVIRT_DEPLOY_CDI=false; fi',
    'MANIFESTS_OUT_DIR=$PWD/_out/manifests',
    'if [[ "$KUBEVIRT_DEPLOY_CDI" == "false" ]]; then rm -f ${MANIFESTS_OUT_DIR}/testing/uploadproxy-nodeport.yaml ${MANIFESTS_OUT_DIR}/testing/disks-images-provider.yaml; fi',
    '_kubectl create -f ${MANIFESTS_OUT_DIR}/testing',
    'if [[ "$KUBEVIRT_DEPLOY_CDI" != "false" ]]; then',
    '  _kubectl patch cdi cdi --type merge -p \'{"spec": {"config": {"insecureRegistries": ["registry:5000"]}}}\'',
    '  host_port=$(${KUBEVIRT_PATH}kubevirtci/cluster-up/cli.sh ports uploadproxy | xargs)',
    'fi',
    'echo deployed',
  ].join('\n');

  it.each([['unset', {}], ['true, as a user gives it', { KUBEVIRT_DEPLOY_CDI: 'true' }]])(
    "KubeVirt's default make cluster-sync gets past cluster-deploy.sh's CDI step (KUBEVIRT_DEPLOY_CDI %s): no CDI manifests, no cdi patch (W4)",
    async (_, env) => {
      const co = checkout();
      expect((await bash(co, AS_CLUSTER_UP, env)).exitCode).toBe(0);
      writeFileSync(co.log, '');
      const testing = join(co.dir, '_out', 'manifests', 'testing');
      mkdirSync(testing, { recursive: true });
      for (const f of ['uploadproxy-nodeport.yaml', 'disks-images-provider.yaml', 'cdi-http-import-server.yaml']) writeFileSync(join(testing, f), '');
      const r = await bash(co, `set -o pipefail; KUBEVIRT_DEPLOY_CDI=\${KUBEVIRT_DEPLOY_CDI:-true}\n${AS_CLUSTER_DEPLOY(CDI_DECISION)}`, env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain('deployed');
      expect(readdirSync(testing)).toEqual(['cdi-http-import-server.yaml']);
      expect(co.calls().filter((c) => c.includes('cdi') || c.includes('uploadproxy'))).toEqual([]);
      expect(r.stderr).toMatch(/note: KUBEVIRT_DEPLOY_CDI=true is taken as false: dpdkci deploys no CDI/);
    },
  );
});

describe('the providers of cluster-up/cluster/', () => {
  it('are k8s-V and k8s-V-dpdk for each Kubernetes version the lock pins, and dpdk; the default is the lock\'s default', async () => {
    const lock = loadLock(lockFile(placesFrom(process.env)));
    const dirs = readdirSync(join(CLUSTER_UP, 'cluster'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    const expected = ['dpdk', ...Object.keys(lock.kubernetes.versions).flatMap((v) => [`k8s-${v}`, `k8s-${v}-dpdk`])];
    expect(dirs.sort()).toEqual(expected.sort());
    for (const d of dirs) expect(existsSync(join(CLUSTER_UP, 'cluster', d, 'provider.sh')), d).toBe(true);
    const co = checkout();
    const r = await bash(co, 'source hack/common.sh; echo "$KUBEVIRT_PROVIDER $DPDKCI_KUBERNETES"');
    // kubevirtci's default provider too (kubevirt/kubevirtci@39bd4947:cluster-up/hack/common.sh).
    expect(r.stdout).toBe(`k8s-${lock.kubernetes.default} ${lock.kubernetes.default}`);
    expect(lock.kubernetes.default).toBe('1.36');
  });

  it('sourced alone, provider.sh sources common.sh itself and defines the functions in the caller\'s shell', async () => {
    const co = checkout();
    const r = await bash(
      co,
      'source kubevirtci/cluster-up/cluster/k8s-1.36/provider.sh; declare -F up down prepare_config _kubectl _main_ip _port | wc -l; up; [[ $- != *u* ]] && ! shopt -qo pipefail && echo options-kept',
    );
    expect(r.exitCode, r.stderr).toBe(0);
    // up ran in a subshell of its own: its set -u and pipefail stayed there.
    expect(r.stdout).toBe('6\noptions-kept');
    expect(co.calls()[0]).toMatch(/^dpdkci up /);
  });
});

describe('dpdkci ports and kubectl --binary, for cluster-up/', () => {
  const output = { out: '', err: '' };
  afterEach(() => vi.restoreAllMocks());
  /** The CLI in this process, as `dpdkci ARGS` runs it: exit code, stdout and stderr. */
  async function dpdkci(args: string[], env: NodeJS.ProcessEnv) {
    output.out = output.err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((output.out += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((output.err += String(s)), true));
    const code = await main(args, env);
    vi.restoreAllMocks();
    return { code, stdout: output.out.trimEnd(), stderr: output.err };
  }

  function recordedCluster(kubernetes: string, nodes = 1) {
    const top = mkdtempSync(join(tmpdir(), 'dpdkci-kubectl-binary-'));
    const env = { DPDKCI_STATE_DIR: join(top, 'state'), DPDKCI_CACHE_DIR: join(top, 'cache'), DPDKCI_PREFIX: 'dropin' };
    const paths = clusterPaths('dropin', placesFrom(env));
    mkdirSync(paths.dir, { recursive: true });
    writeClusterRecord(paths.specFile, {
      prefix: 'dropin',
      provider: 'qemu',
      options: { kubernetes } as never,
      accel: 'tcg',
      accelReason: 'test',
      image: { hash: 'h', disk: '/d', kernel: '/k', initrd: '/i', kernelRelease: 'r' },
      createdAt: '2026-11-23T00:00:00Z',
      nodes: Array.from({ length: nodes }, (_, i) => ({
        name: `node0${i + 1}`,
        index: i + 1,
        role: i === 0 ? ('control-plane' as const) : ('worker' as const),
        sshPort: 2201 + i,
        ...(i === 0 && kubernetes !== 'none' ? { apiPort: 6444 } : {}),
        mgmtMac: 'm',
        secondaryMacs: [],
        hostKey: 'k',
      })),
      registryPort: 5001,
    });
    // A lock of the test's own, whose kubectl is a file the test made (the real one's sha256 is of the real binary).
    const kubectl = Buffer.from('#!/bin/sh\necho fake kubectl\n');
    const sha256 = createHash('sha256').update(kubectl).digest('hex');
    const lockFile = join(top, 'versions.lock.yaml');
    writeFileSync(
      lockFile,
      [
        'schema: 1',
        'kubernetes:',
        '  default: "1.36"',
        '  versions:',
        '    "1.36":',
        '      release: v1.36.4',
        '      podSubnet: 10.244.0.0/16',
        '      serviceSubnet: 10.96.0.0/12',
        '      files:',
        '        - name: kubectl-v1.36.4',
        '          url: https://dl.k8s.io/release/v1.36.4/bin/linux/amd64/kubectl',
        `          sha256: ${sha256}`,
        '          install: /usr/local/bin/kubectl',
        '      images: []',
        '',
      ].join('\n'),
    );
    return { top, env: { ...env, DPDKCI_LOCK_FILE: lockFile }, kubectl, sha256 };
  }

  it('kubectl --binary prints the pinned kubectl of the cluster\'s version from the artefact cache, or from a bundle', async () => {
    const c = recordedCluster('1.36');
    const cached = cachedPath(artefactCache(placesFrom(c.env)), { name: 'kubectl-v1.36.4', url: 'https://dl.k8s.io/release/v1.36.4/bin/linux/amd64/kubectl', sha256: c.sha256 });
    mkdirSync(join(cached, '..'), { recursive: true });
    writeFileSync(cached, c.kubectl);
    const r = await dpdkci(['kubectl', '--binary'], c.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(cached);

    const bundle = join(c.top, 'bundle');
    mkdirSync(join(bundle, 'files'), { recursive: true });
    writeFileSync(join(bundle, 'files', 'kubectl-v1.36.4'), c.kubectl);
    chmodSync(join(bundle, 'files', 'kubectl-v1.36.4'), 0o755);
    const b = await dpdkci(['kubectl', '--binary'], { ...c.env, DPDKCI_BUNDLE: bundle });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe(join(bundle, 'files', 'kubectl-v1.36.4'));

    // A bundle without it is an error naming the file, not a download.
    const empty = join(c.top, 'empty-bundle');
    mkdirSync(join(empty, 'files'), { recursive: true });
    const e = await dpdkci(['kubectl', '--binary', '--bundle', empty], c.env);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/kubectl-v1\.36\.4: not in the bundle .*empty-bundle/);
  });

  it('kubectl --binary without Kubernetes, or of a version no longer pinned, says why there is none', async () => {
    const none = recordedCluster('none');
    const r = await dpdkci(['kubectl', '--binary'], none.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cluster "dropin" has no Kubernetes \(it was brought up with --kubernetes none\), so there is no kubectl of its version/);
    const old = recordedCluster('1.31');
    const o = await dpdkci(['kubectl', '--binary'], old.env);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/cluster "dropin" runs Kubernetes 1\.31, which \S+ no longer pins \(it pins 1\.36\)/);
    const args = await dpdkci(['kubectl', '--binary', 'get', 'nodes'], none.env);
    expect(args.code).toBe(2);
    expect(args.stderr).toMatch(/kubectl --binary: takes no kubectl arguments/);
  });

  it('ports answers kubevirtci\'s port names: the forwarded ones print a port, the others fail saying dpdkci does not forward them', async () => {
    const c = recordedCluster('1.36', 2);
    for (const [name, port] of [['ssh', '2201'], ['ssh-worker', '2202'], ['k8s', '6444'], ['registry', '5001']]) {
      const r = await dpdkci(['ports', name!], c.env);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe(port);
    }
    for (const name of ['ocp', 'vnc', 'http', 'https', 'console', 'prometheus', 'grafana', 'uploadproxy', 'uploadproxy-lowerband', 'dns']) {
      const r = await dpdkci(['ports', name], c.env);
      expect(r.code, name).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`ports: dpdkci does not forward "${name}" \\(in kubevirtci, .+\\); it forwards ssh, ssh-worker, k8s, registry`));
    }
    expect((await dpdkci(['ports', 'ssh-worker'], recordedCluster('none').env)).stderr).toMatch(/has no worker node \(it has 1 node\)/);
    const unknown = await dpdkci(['ports', 'telnet'], c.env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/ports: "telnet" is not a forwarded port/);
  });
});
