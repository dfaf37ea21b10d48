import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Node } from '../../core/cluster.js';
import { CommandError, DpdkciError } from '../../core/errors.js';
import { artefactCache } from '../../core/paths.js';
import type { PlannedAction, Step } from '../../core/pipeline.js';
import { BRIDGE } from '../../dataplane/plan.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { fetchArtifact } from '../../fetch/fetcher.js';
import {
  cachedKubernetesImage,
  cachedKubernetesImageByHash,
  ensureKubernetesImage,
  installArgv,
  kubernetesImageDir,
  layerHash,
  layerInput,
} from '../../image/kubernetes-layer.js';
import { artefactSources, pinnedArtefacts } from '../../kubernetes/artefacts.js';
import { renderAddons, renderInit, renderJoin, renderSmokePod, userspaceNetworkConfig, type ManifestInput } from '../../kubernetes/manifests.js';
import { kubernetesVersion, pauseImage, type Lock } from '../../versions/lock.js';
import { secondaryNicPci } from '../../../providers/qemu/qemu-args.js';
import { nodeScriptPath } from '../push-node-scripts/index.js';
import { need, type UpContext } from '../context.js';

const SCRIPT = nodeScriptPath('kubernetes.sh');
const ADDONS_DIR = '/etc/dpdkci/addons';
export const NODE_NETWORK = '192.168.66.0/24';
export const NAD_NAME = 'userspace-ovs-net-1';
const SMOKE_TIMEOUT_S = 300;

const enabled = (ctx: UpContext) => ctx.options.kubernetes !== 'none';

/** A node's address on the Kubernetes node network: 192.168.66.101 for node01. */
export function nodeIp(index: number): string {
  return `192.168.66.${100 + index}`;
}

/** The kernel-owned secondary NIC that carries the node network: the one after DPDK's, or the first. */
export function kubernetesNicPci(options: UpContext['options']): string {
  return secondaryNicPci(options.dpdk ? 1 : 0);
}

function lockOf(ctx: UpContext): Lock {
  return need(ctx.kubernetes, 'Kubernetes sources').lock;
}

/** A kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}. */
export function bootstrapToken(bytes: Buffer = randomBytes(22)): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  return `${chars.slice(0, 6)}.${chars.slice(6, 22)}`;
}

/** What the templates in manifests/ are rendered from, for this cluster. */
export function manifestInput(ctx: UpContext, credentials: { token: string; caCertHash: string }): ManifestInput {
  const version = kubernetesVersion(lockOf(ctx), ctx.options.kubernetes);
  const record = need(ctx.record, 'cluster record');
  const nodes = record.nodes.map((n) => ({ name: n.name, ip: nodeIp(n.index) }));
  return {
    clusterName: ctx.options.prefix,
    kubernetes: version,
    controlPlane: nodes[0] as ManifestInput['controlPlane'],
    workers: nodes.slice(1),
    nodeNetwork: NODE_NETWORK,
    bootstrapToken: credentials.token,
    caCertHash: credentials.caCertHash,
    kubelet: { reservedSystemCpus: '0', topologyManagerPolicy: 'best-effort' },
    socketDir: ctx.options.vhostSocketDir,
    bridge: BRIDGE,
    pauseImage: pauseImage(version).ref,
    nad: { name: NAD_NAME, namespace: 'default', config: userspaceNetworkConfig(NAD_NAME, BRIDGE) },
  };
}

/** Runs a kubernetes.sh check: false when in place (exit 0), true when apply has work (exit 3). */
async function pending(node: Node, step: string, args: string[]): Promise<boolean> {
  const r = await node.runner.run([SCRIPT, 'check', ...args], { check: false, timeoutMs: 120_000 });
  if (r.exitCode === 0) return false;
  if (r.exitCode === 3) return true;
  throw new DpdkciError(`${node.name}: ${step}: ${(r.stderr || r.stdout).trim()}`);
}

async function apply(node: Node, step: string, args: string[], stdin?: string, timeoutMs = 600_000): Promise<string> {
  try {
    return (await node.runner.run([SCRIPT, 'apply', ...args], { timeoutMs, ...(stdin !== undefined ? { stdin } : {}) })).stdout;
  } catch (e) {
    if (e instanceof CommandError) throw new DpdkciError(`${node.name}: ${step} failed:\n${(e.stderr || e.stdout).trim()}`, { cause: e });
    throw e;
  }
}

const controlPlane = (ctx: UpContext): Node => need(ctx.nodes, 'nodes')[0] as Node;
const workers = (ctx: UpContext): Node[] => need(ctx.nodes, 'nodes').slice(1);
const plannedNames = (ctx: UpContext) => need(ctx.record, 'cluster record').nodes.map((n) => n.name);

/** The Kubernetes layer of the node image (after the accelerator is known: the build boots a VM). */
export const provisionKubernetesImage: Step<UpContext> = {
  name: 'provision Kubernetes layer',
  enabled,
  async isDone(ctx) {
    const base = need(ctx.image, 'image');
    const minor = ctx.options.kubernetes;
    const recorded = ctx.record ? cachedKubernetesImageByHash(ctx.cacheRoot, base, minor, ctx.record.image.hash) : undefined;
    const image = recorded ?? cachedKubernetesImage(ctx.cacheRoot, base, layerInput(lockOf(ctx), minor));
    if (image) ctx.image = image;
    return image !== undefined;
  },
  async apply(ctx, progress) {
    const k = need(ctx.kubernetes, 'Kubernetes sources');
    const { image, built } = await ensureKubernetesImage(
      need(ctx.image, 'image'),
      k.lock,
      ctx.options.kubernetes,
      { ...artefactSources(artefactCache(ctx.env), k), signal: ctx.signal },
      { cacheRoot: ctx.cacheRoot, accel: need(ctx.accel, 'accelerator').accel, env: ctx.env, progress, signal: ctx.signal },
    );
    ctx.image = image;
    return built ? `built ${image.hash} in ${image.buildSeconds}s` : `cache hit ${image.hash}`;
  },
  plan(ctx) {
    const base = need(ctx.image, 'image');
    let input;
    try {
      input = layerInput(lockOf(ctx), ctx.options.kubernetes);
    } catch (e) {
      return [{ on: 'host', verb: 'use', what: `nothing: the preflight stops up before this (${(e as Error).message.split('\n')[0]?.replace(/:$/, '')}; dpdkci versions lists them)` }];
    }
    const dir = kubernetesImageDir(ctx.cacheRoot, base, input.minor, layerHash(base, input));
    if (cachedKubernetesImage(ctx.cacheRoot, base, input)) return [{ on: 'host', verb: 'use', what: `the cached Kubernetes layer ${dir}` }];
    const builds = pinnedArtefacts(lockOf(ctx), ctx.options.kubernetes).builds;
    const fetched = input.files.length - builds.length;
    return [
      { on: 'host', verb: 'run', what: `fetch or take from the bundle ${fetched} file(s) and ${input.images.length} image(s), each checked against the lock` },
      ...builds.map(
        (b): PlannedAction => ({
          on: 'host',
          verb: 'run',
          what: `go build -trimpath ${b.package} in ${b.source.name} with ${b.toolchain.name} (GOTOOLCHAIN=local, CGO_ENABLED=0) into $CACHE/builds/, or take ${b.name} from the bundle; installed as ${b.install}`,
        }),
      ),
      { on: 'host', verb: 'run', what: 'boot a build VM (2 vCPU, 2048 MiB) from a new qcow2 over the base image disk, in a state directory of its own' },
      { on: 'build VM', verb: 'write', what: '/var/tmp/dpdkci-kubernetes/ (files/, images/, rootfs/ from images/kubernetes/files, install.list)' },
      { on: 'build VM', verb: 'run', what: remoteCommand(installArgv(input.pause)) },
      { on: 'host', verb: 'run', what: 'power the build VM off over QMP (ACPI), and keep its disk only if it powered off cleanly' },
      { on: 'host', verb: 'write', what: `${dir}/ (disk.qcow2 over the base disk, image.json)` },
    ];
  },
};

/** Each node's kernel NIC for the node network gets its address (systemd-networkd, persistent). */
export const kubernetesNodeNetwork: Step<UpContext> = (() => {
  const todo = new WeakMap<UpContext, Node[]>();
  const args = (ctx: UpContext, name: string) => {
    const n = need(ctx.record, 'cluster record').nodes.find((x) => x.name === name);
    return ['node-network', kubernetesNicPci(ctx.options), `${nodeIp(n?.index ?? 0)}/24`];
  };
  return {
    name: 'Kubernetes node network',
    enabled,
    async isDone(ctx) {
      const nodes = need(ctx.nodes, 'nodes');
      const states = await Promise.all(nodes.map((n) => pending(n, 'Kubernetes node network', args(ctx, n.name))));
      todo.set(ctx, nodes.filter((_, i) => states[i]));
      return states.every((s) => !s);
    },
    async apply(ctx) {
      const nodes = todo.get(ctx) ?? need(ctx.nodes, 'nodes');
      await Promise.all(nodes.map((n) => apply(n, 'Kubernetes node network', args(ctx, n.name))));
      return `${nodes.map((n) => n.name).join(', ')} on ${NODE_NETWORK}`;
    },
    plan(ctx) {
      return plannedNames(ctx).flatMap((name) => [
        { on: name, verb: 'run' as const, what: remoteCommand([SCRIPT, 'check', ...args(ctx, name)]) },
        { on: name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'apply', ...args(ctx, name)])}   (only when check exits 3)` },
      ]);
    },
  };
})();

/** kubeadm init on node01, with the rendered InitConfiguration, ClusterConfiguration and KubeletConfiguration. */
export const kubeadmInit: Step<UpContext> = {
  name: 'kubeadm init',
  enabled,
  async isDone(ctx) {
    return !(await pending(controlPlane(ctx), 'kubeadm init', ['init']));
  },
  async apply(ctx) {
    // The init token is only for kubeadm's own bootstrap; workers join with one minted when they join.
    const init = renderInit(manifestInput(ctx, { token: bootstrapToken(), caCertHash: '' }));
    await apply(controlPlane(ctx), 'kubeadm init', ['init'], init.text);
    return `control plane on ${controlPlane(ctx).name}`;
  },
  plan(ctx) {
    const node = plannedNames(ctx)[0] as string;
    return [
      { on: node, verb: 'run', what: remoteCommand([SCRIPT, 'check', 'init']) },
      { on: node, verb: 'write', what: '/etc/dpdkci/kubeadm-init.yaml from manifests/kubeadm/init.yaml.hbs (with kubelet.yaml.hbs), on stdin' },
      { on: node, verb: 'run', what: `${remoteCommand([SCRIPT, 'apply', 'init'])}   (kubeadm init --config /etc/dpdkci/kubeadm-init.yaml; only when check exits 3)` },
    ];
  },
};

/** kubeadm join on every worker that has not joined, in parallel, with a token minted on node01. */
export const kubeadmJoin: Step<UpContext> = (() => {
  const todo = new WeakMap<UpContext, Node[]>();
  return {
    name: 'kubeadm join',
    enabled: (ctx) => enabled(ctx) && ctx.options.nodes > 1,
    async isDone(ctx) {
      const states = await Promise.all(workers(ctx).map((n) => pending(n, 'kubeadm join', ['join'])));
      todo.set(ctx, workers(ctx).filter((_, i) => states[i]));
      return states.every((s) => !s);
    },
    async apply(ctx) {
      const r = await controlPlane(ctx).runner.run([SCRIPT, 'join-credentials'], { timeoutMs: 120_000 });
      const [token, caCertHash] = r.stdout.trim().split(/\s+/);
      if (!token || !caCertHash) throw new DpdkciError(`${controlPlane(ctx).name}: kubernetes.sh join-credentials printed "${r.stdout.trim()}", not "TOKEN sha256:HASH"`);
      const input = manifestInput(ctx, { token, caCertHash });
      const nodes = todo.get(ctx) ?? workers(ctx);
      await Promise.all(
        nodes.map((n) => apply(n, 'kubeadm join', ['join'], renderJoin(input, input.workers.find((w) => w.name === n.name) as ManifestInput['controlPlane']).text)),
      );
      return nodes.map((n) => n.name).join(', ');
    },
    plan(ctx) {
      const [first, ...rest] = plannedNames(ctx);
      return [
        { on: first as string, verb: 'run', what: `${remoteCommand([SCRIPT, 'join-credentials'])}   (a 1 h token and the CA's public key hash)` },
        ...rest.flatMap((name) => [
          { on: name, verb: 'run' as const, what: remoteCommand([SCRIPT, 'check', 'join']) },
          { on: name, verb: 'write' as const, what: '/etc/dpdkci/kubeadm-join.yaml from manifests/kubeadm/join.yaml.hbs, on stdin' },
          { on: name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'apply', 'join'])}   (kubeadm join; workers in parallel; only when check exits 3)` },
        ]),
      ];
    },
  };
})();

/** The admin kubeconfig with the forwarded API port as its server. */
export function hostKubeconfig(adminConf: string, apiPort: number): string {
  if (!/^\s*server: https:\/\/[^\s]+$/m.test(adminConf)) throw new DpdkciError('the admin kubeconfig from node01 has no "server: https://..." line');
  return adminConf.replace(/^(\s*server: )https:\/\/[^\s]+$/m, `$1https://127.0.0.1:${apiPort}`);
}

function apiPortOf(ctx: UpContext): number {
  const port = need(ctx.record, 'cluster record').nodes[0]?.apiPort;
  if (!port) throw new DpdkciError(`cluster "${ctx.options.prefix}" forwards no API port (it was created without Kubernetes); run dpdkci down first`);
  return port;
}

/** kubeconfig on the host (mode 0600): `dpdkci kubeconfig` prints it, `dpdkci kubectl` uses it. */
export const writeKubeconfig: Step<UpContext> = {
  name: 'kubeconfig',
  enabled,
  async isDone(ctx) {
    return existsSync(ctx.paths.kubeconfig) && readFileSync(ctx.paths.kubeconfig, 'utf8').includes(`server: https://127.0.0.1:${apiPortOf(ctx)}`);
  },
  async apply(ctx) {
    const r = await controlPlane(ctx).runner.run([SCRIPT, 'admin-kubeconfig']);
    writeFileSync(ctx.paths.kubeconfig, hostKubeconfig(r.stdout, apiPortOf(ctx)), { mode: 0o600 });
    return ctx.paths.kubeconfig;
  },
  plan(ctx) {
    return [
      { on: plannedNames(ctx)[0] as string, verb: 'run', what: remoteCommand([SCRIPT, 'admin-kubeconfig']) },
      { on: 'host', verb: 'write', what: `${ctx.paths.kubeconfig} (mode 0600), its server https://127.0.0.1:${apiPortOf(ctx)} (forwarded to node01:6443)` },
    ];
  },
};

/** The files of /etc/dpdkci/addons on node01, in the order kubernetes.sh applies them. */
export async function addonFiles(ctx: UpContext, fetch: boolean): Promise<{ name: string; text: string }[]> {
  const lock = lockOf(ctx);
  const k = need(ctx.kubernetes, 'Kubernetes sources');
  const upstream = async (addon: string) => {
    const f = lock.addons[addon]?.files[0];
    if (!f?.sha256) throw new DpdkciError(`the lock file pins no ${addon} manifest with a sha256`);
    if (!fetch) return `(${f.name}, sha256 ${f.sha256.slice(0, 12)}…)`;
    const path = await fetchArtifact(
      { name: f.name, url: f.url, sha256: f.sha256 },
      artefactSources(artefactCache(ctx.env), k),
    );
    return readFileSync(path, 'utf8');
  };
  const addons = renderAddons(manifestInput(ctx, { token: 'unused.0000000000000000', caCertHash: '' }));
  const hugepages = `dpdkci.io/hugepages-2Mi=${ctx.options.hugepages2m}`;
  const labels = need(ctx.record, 'cluster record')
    .nodes.map((n) => `${n.name} ${ctx.options.dpdk ? 'dpdkci.io/dpdk=true ' : ''}${hugepages}\n`)
    .join('');
  return [
    { name: '10-calico.yaml', text: await upstream('calico') },
    { name: '11-patch_kube-system_daemonset_calico-node.yaml', text: addons.calicoPatch.text },
    { name: '20-multus.yaml', text: await upstream('multus') },
    { name: '21-patch_kube-system_daemonset_kube-multus-ds.yaml', text: addons.multusPatch.text },
    { name: '40-nad.yaml', text: addons.nad.text },
    { name: '50-labels.txt', text: labels },
  ];
}

export function addonsSum(files: readonly { name: string; text: string }[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.name}\0${f.text}\0`);
  return h.digest('hex').slice(0, 16);
}

/** calico, multus, the userspace CNI, the NAD and the node labels, applied from node01. */
export const kubernetesAddons: Step<UpContext> = (() => {
  const files = new WeakMap<UpContext, { name: string; text: string }[]>();
  return {
    name: 'Kubernetes add-ons',
    enabled,
    async isDone(ctx) {
      const f = await addonFiles(ctx, true);
      files.set(ctx, f);
      return !(await pending(controlPlane(ctx), 'Kubernetes add-ons', ['addons', addonsSum(f)]));
    },
    async apply(ctx) {
      const node = controlPlane(ctx);
      const f = files.get(ctx) ?? (await addonFiles(ctx, true));
      await node.runner.run(['rm', '-rf', ADDONS_DIR]);
      for (const file of f) await node.runner.run(['install', '-D', '-m', '0600', '/dev/stdin', `${ADDONS_DIR}/${file.name}`], { stdin: file.text });
      await apply(node, 'Kubernetes add-ons', ['addons', addonsSum(f)]);
      return `${f.length} file(s) applied`;
    },
    plan(ctx): PlannedAction[] {
      const node = plannedNames(ctx)[0] as string;
      const described: PlannedAction[] = [
        { on: node, verb: 'write', what: `${ADDONS_DIR}/10-calico.yaml: calico's manifest, pinned in the lock, from the bundle, cache or network` },
        { on: node, verb: 'write', what: `${ADDONS_DIR}/11-patch_kube-system_daemonset_calico-node.yaml from manifests/calico/overrides.yaml.hbs` },
        { on: node, verb: 'write', what: `${ADDONS_DIR}/20-multus.yaml: multus' thick DaemonSet manifest, pinned in the lock` },
        { on: node, verb: 'write', what: `${ADDONS_DIR}/21-patch_kube-system_daemonset_kube-multus-ds.yaml from manifests/multus/overrides.yaml.hbs` },
        { on: node, verb: 'write', what: `${ADDONS_DIR}/40-nad.yaml from manifests/nad/userspace-ovs-net.yaml.hbs (${NAD_NAME} on ${BRIDGE})` },
        { on: node, verb: 'write', what: `${ADDONS_DIR}/50-labels.txt: every node ${ctx.options.dpdk ? 'dpdkci.io/dpdk=true ' : ''}dpdkci.io/hugepages-2Mi=${ctx.options.hugepages2m}` },
      ];
      return [
        { on: node, verb: 'run', what: remoteCommand([SCRIPT, 'check', 'addons', 'SUM']) + '   (SUM: a hash of the files below)' },
        ...described,
        { on: node, verb: 'run', what: `${remoteCommand([SCRIPT, 'apply', 'addons', 'SUM'])}   (kubectl apply, patch and label, in name order; only when check exits 3)` },
      ];
    },
  };
})();

/** up's last word on Kubernetes: nodes Ready, CNI pods Running, and a pod on the NAD gets its vhost-user port. */
export const kubernetesSmoke: Step<UpContext> = {
  name: 'Kubernetes smoke check',
  observes: true,
  enabled: (ctx) => enabled(ctx) && ctx.options.dpdk,
  async isDone() {
    return false;
  },
  async apply(ctx) {
    const node = controlPlane(ctx);
    const pod = renderSmokePod(manifestInput(ctx, { token: 'unused.0000000000000000', caCertHash: '' }), node.name);
    const r = await node.runner.run([SCRIPT, 'smoke', NAD_NAME, BRIDGE, String(SMOKE_TIMEOUT_S)], { stdin: pod.text, check: false, timeoutMs: (SMOKE_TIMEOUT_S * 5 + 60) * 1000 });
    if (r.exitCode !== 0) throw new DpdkciError(`${node.name}: the Kubernetes smoke check failed:\n${(r.stderr || r.stdout).trim()}`);
    const port = /^smoke port (\S+)/m.exec(r.stdout)?.[1];
    return `nodes Ready, CNI pods Running, ${NAD_NAME} gave the pod port ${port ?? '?'} on ${BRIDGE}`;
  },
  plan(ctx) {
    const node = plannedNames(ctx)[0] as string;
    return [
      { on: node, verb: 'run', what: `${remoteCommand([SCRIPT, 'smoke', NAD_NAME, BRIDGE, String(SMOKE_TIMEOUT_S)])}   (stdin: manifests/smoke/vhostuser-pod.yaml.hbs)` },
      { on: node, verb: 'wait', what: `every node Ready; calico-node and kube-multus-ds rolled out; the userspace CNI plugin (built into the node image) answers on node01; the pod Ready with a new port on ${BRIDGE}; then the pod deleted` },
    ];
  },
};

export const kubernetesSteps: Step<UpContext>[] = [kubernetesNodeNetwork, kubeadmInit, kubeadmJoin, writeKubeconfig, kubernetesAddons, kubernetesSmoke];
