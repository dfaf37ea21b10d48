import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Node } from '../../exec/runner.js';
import { DpdkciError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { renderInit, renderJoin, type ManifestInput } from '../../kubernetes/manifests.js';
import { need, type UpContext } from '../context.js';
import { apiReturnSeconds, apply, bootstrapToken, controlPlane, enabled, kubernetesNetwork, kubernetesNicPci, manifestInput, nodeIpOf, pending, plannedNames, SCRIPT, workers } from './common.js';

/**
 * Each node's kernel NIC for the node network gets its address (systemd-networkd, persistent), on a node
 * network the provider makes (QEMU's); hosts are on their lab's network already.
 */
export const kubernetesNodeNetwork: Step<UpContext, Node[]> = (() => {
  const args = (ctx: UpContext, name: string) => ['node-network', kubernetesNicPci(ctx.options), `${nodeIpOf(ctx, name)}/${kubernetesNetwork(ctx).cidr?.split('/')[1]}`];
  return {
    name: 'Kubernetes node network',
    enabled: (ctx) => enabled(ctx) && kubernetesNetwork(ctx).cidr !== undefined,
    async isDone(ctx) {
      const nodes = need(ctx.nodes, 'nodes');
      const states = await Promise.all(nodes.map((n) => pending(n, 'Kubernetes node network', args(ctx, n.name))));
      const todo = nodes.filter((_, i) => states[i]);
      return todo.length === 0 || { pending: todo };
    },
    async apply(ctx, _progress, todo) {
      const nodes = todo ?? need(ctx.nodes, 'nodes');
      await Promise.all(nodes.map((n) => apply(n, 'Kubernetes node network', args(ctx, n.name))));
      return `${nodes.map((n) => n.name).join(', ')} on ${kubernetesNetwork(ctx).cidr}`;
    },
    plan(ctx) {
      return plannedNames(ctx).flatMap((name) => [
        { on: name, verb: 'run' as const, what: remoteCommand([SCRIPT, 'check', ...args(ctx, name)]) },
        { on: name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'apply', ...args(ctx, name)])}   (only when check exits 3)` },
      ]);
    },
  };
})();

/**
 * kubeadm init on node01, with the rendered InitConfiguration, ClusterConfiguration and KubeletConfiguration.
 * A control plane whose init completed (kubernetes.sh keeps a marker) is only waited for, within a bound,
 * after its node restarted: only an init that never finished is reset and made again.
 */
export const kubeadmInit: Step<UpContext> = {
  name: 'kubeadm init',
  enabled,
  async isDone(ctx) {
    return !(await pending(controlPlane(ctx), 'kubeadm init', ['init']));
  },
  async apply(ctx) {
    // The init token is only for kubeadm's own bootstrap; workers join with one minted when they join.
    const init = renderInit(manifestInput(ctx, { token: bootstrapToken(), caCertHash: '' }));
    const waitS = apiReturnSeconds(ctx);
    const said = await apply(controlPlane(ctx), 'kubeadm init', ['init', String(waitS)], init.text, (waitS + 900) * 1000);
    if (/nothing reset/.test(said)) return `the control plane on ${controlPlane(ctx).name} answers again (its init had completed; nothing reset)`;
    return `control plane on ${controlPlane(ctx).name}`;
  },
  plan(ctx) {
    const node = plannedNames(ctx)[0] as string;
    const waitS = apiReturnSeconds(ctx);
    return [
      { on: node, verb: 'run', what: remoteCommand([SCRIPT, 'check', 'init']) },
      { on: node, verb: 'write', what: '/etc/dpdkci/kubeadm-init.yaml from manifests/kubeadm/init.yaml.hbs (with kubelet.yaml.hbs), on stdin' },
      {
        on: node,
        verb: 'run',
        what:
          `${remoteCommand([SCRIPT, 'apply', 'init', String(waitS)])}   (only when check exits 3: a completed init is waited for up to ${waitS} s, never reset; ` +
          'otherwise kubeadm init --config /etc/dpdkci/kubeadm-init.yaml, after a reset of what an unfinished one left)',
      },
    ];
  },
};

/** The control plane's CA as kubeadm's caCertHashes name it (sha256:HASH): what a joined worker must trust. */
async function controlPlaneCaHash(ctx: UpContext): Promise<string> {
  const r = await controlPlane(ctx).runner.run([SCRIPT, 'ca-hash'], { timeoutMs: 60_000 });
  const hash = r.stdout.trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(hash)) throw new DpdkciError(`${controlPlane(ctx).name}: kubernetes.sh ca-hash printed "${hash}", not "sha256:HASH"`);
  return hash;
}

/**
 * kubeadm join on every worker that has not joined the control plane node01 has now (a control plane made
 * anew has a new CA), in parallel, with a token minted on node01.
 */
export const kubeadmJoin: Step<UpContext, Node[]> = {
  // isDone returns the workers that have not joined; apply joins only those (every worker without).
  name: 'kubeadm join',
  enabled: (ctx) => enabled(ctx) && ctx.options.nodes > 1,
  async isDone(ctx) {
    const ca = await controlPlaneCaHash(ctx);
    const states = await Promise.all(workers(ctx).map((n) => pending(n, 'kubeadm join', ['join', ca])));
    const todo = workers(ctx).filter((_, i) => states[i]);
    return todo.length === 0 || { pending: todo };
  },
  async apply(ctx, _progress, todo) {
    const r = await controlPlane(ctx).runner.run([SCRIPT, 'join-credentials'], { timeoutMs: 120_000 });
    const [token, caCertHash] = r.stdout.trim().split(/\s+/);
    if (!token || !caCertHash) throw new DpdkciError(`${controlPlane(ctx).name}: kubernetes.sh join-credentials printed "${r.stdout.trim()}", not "TOKEN sha256:HASH"`);
    const input = manifestInput(ctx, { token, caCertHash });
    const nodes = todo ?? workers(ctx);
    await Promise.all(
      nodes.map((n) => apply(n, 'kubeadm join', ['join'], renderJoin(input, input.workers.find((w) => w.name === n.name) as ManifestInput['controlPlane']).text)),
    );
    return nodes.map((n) => n.name).join(', ');
  },
  plan(ctx) {
    const [first, ...rest] = plannedNames(ctx);
    return [
      { on: first as string, verb: 'run', what: `${remoteCommand([SCRIPT, 'ca-hash'])}   (the cluster CA's public key hash, sha256:HASH)` },
      ...rest.map((name) => ({ on: name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'check', 'join', 'sha256:HASH'])}   (joined, its kubelet.conf trusting that CA)` })),
      { on: first as string, verb: 'run', what: `${remoteCommand([SCRIPT, 'join-credentials'])}   (a 1 h token and the CA's public key hash; only when a check exits 3)` },
      ...rest.flatMap((name) => [
        { on: name, verb: 'write' as const, what: '/etc/dpdkci/kubeadm-join.yaml from manifests/kubeadm/join.yaml.hbs, on stdin' },
        { on: name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'apply', 'join'])}   (kubeadm join; workers in parallel; only when check exits 3)` },
      ]),
    ];
  },
};

/** The admin kubeconfig with the API server as this machine reaches it (HOST:PORT, from the provider). */
export function hostKubeconfig(adminConf: string, server: string): string {
  if (!/^\s*server: https:\/\/[^\s]+$/m.test(adminConf)) throw new DpdkciError('the admin kubeconfig from node01 has no "server: https://..." line');
  return adminConf.replace(/^(\s*server: )https:\/\/[^\s]+$/m, `$1https://${server}`);
}

function apiOf(ctx: UpContext): { server: string; via: string } {
  const api = kubernetesNetwork(ctx).api;
  if (!api) throw new DpdkciError(`cluster "${ctx.options.prefix}" has no API server address (it was created without Kubernetes); run dpdkci down first`);
  return { server: `${api.host}:${api.port}`, via: api.via };
}

/**
 * kubeconfig on the host (mode 0600): `dpdkci kubeconfig` prints it, `dpdkci kubectl` uses it. It is the
 * control plane's admin kubeconfig with the server as this machine reaches it, compared whole: a control
 * plane made anew names the same server with another CA and client certificate.
 */
export const writeKubeconfig: Step<UpContext, string> = {
  // isDone returns the kubeconfig it rendered from node01's, for apply.
  name: 'kubeconfig',
  enabled,
  async isDone(ctx) {
    const want = await renderedKubeconfig(ctx);
    return (existsSync(ctx.paths.kubeconfig) && readFileSync(ctx.paths.kubeconfig, 'utf8') === want) || { pending: want };
  },
  async apply(ctx, _progress, rendered) {
    writeFileSync(ctx.paths.kubeconfig, rendered ?? (await renderedKubeconfig(ctx)), { mode: 0o600 });
    return ctx.paths.kubeconfig;
  },
  plan(ctx) {
    return [
      { on: plannedNames(ctx)[0] as string, verb: 'run', what: remoteCommand([SCRIPT, 'admin-kubeconfig']) },
      { on: 'host', verb: 'write', what: `${ctx.paths.kubeconfig} (mode 0600), its server https://${apiOf(ctx).server} (${apiOf(ctx).via}); only when it differs from the one there (server, CA or client certificate)` },
    ];
  },
};

async function renderedKubeconfig(ctx: UpContext): Promise<string> {
  const r = await controlPlane(ctx).runner.run([SCRIPT, 'admin-kubeconfig']);
  return hostKubeconfig(r.stdout, apiOf(ctx).server);
}
