import { readFileSync } from 'node:fs';
import type { Node } from '../../../src/exec/runner.js';
import { CommandError, DpdkciError } from '../../../src/core/errors.js';
import { artefactCache } from '../../../src/core/paths.js';
import type { Step } from '../../../src/core/pipeline.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import { checkInstallReport, installArgv, installHash, layerInput, rootfsTargets, stageArtefacts, STAGING } from '../../../src/image/kubernetes-layer.js';
import { artefactSources, gatherArtefacts, pinnedArtefacts, type LocalArtefacts } from '../../../src/kubernetes/artefacts.js';
import type { Runner } from '../../../src/exec/runner.js';
import { reservedCpus } from '../../../src/core/kubernetes-budget.js';
import { hostOf } from '../access.js';
import { nodeScriptPath } from '../../../src/node-scripts/scripts.js';
import { KUBELET_PATCH_FILE, lockOf, NAD_NAME } from '../../../src/steps/kubernetes/common.js';
import { netConfPath } from '../../../src/kubernetes/vhostuser-network.js';
import { need, type UpContext } from '../../../src/steps/context.js';

/**
 * Kubernetes on machines dpdkci did not boot: what the QEMU nodes get in their image's layer, installed on
 * each host by the same install-kubernetes.sh from the same verified artefacts, after host-kubernetes.sh has
 * recorded what the host had where it goes (down takes it all away). Then the same kubeadm steps.
 */
const SCRIPT = nodeScriptPath('host-kubernetes.sh');
const enabled = (ctx: UpContext) => ctx.options.kubernetes !== 'none';

/**
 * Every file the install writes on a host, known here before it runs: each binary, each file an archive
 * unpacks into a directory (/usr/local/, /opt/cni/bin/), the recipe's rootfs, containerd's configuration
 * and the vhost-user network's file for multus. The host's record keeps a copy of those it has, and down removes or restores each one.
 */
export async function installTargets(artefacts: LocalArtefacts, host: Runner): Promise<string[]> {
  const out: string[] = [];
  for (const f of artefacts.files.filter((f) => f.install)) {
    const dest = f.install as string;
    if (!dest.endsWith('/')) {
      out.push(dest);
      continue;
    }
    const listing = await host.run(['tar', '-tzf', f.path]);
    for (const line of listing.stdout.split('\n')) {
      const entry = line.replace(/^\.\//, '');
      if (entry && !entry.endsWith('/')) out.push(`${dest}${entry}`);
    }
  }
  // Not the install's but the vhost-user network step's, listed here so that down takes it away or puts back the host's own.
  return [...out, ...rootfsTargets(), CONTAINERD_CONFIG, netConfPath(NAD_NAME)];
}

const CONTAINERD_CONFIG = '/etc/containerd/config.toml';

/** The install's key on a host: every pinned input, the recipe and the script (the layer's hash, onto a host). */
function installKey(ctx: UpContext): string {
  return installHash(layerInput(lockOf(ctx), ctx.options.kubernetes), 'onto=host\n');
}

/** The host's own kubelet settings: its reserved CPUs (CPU 0 and OVS's PMD on its last CPU), as kubeadm merges them. */
export function kubeletPatch(cpus: number): string {
  return `# Written by dpdkci: this host's kubelet settings, merged by kubeadm into the cluster's KubeletConfiguration.\nreservedSystemCPUs: "${reservedCpus({ cpus, dpdk: true }).join(',')}"\n`;
}

async function pendingOn(node: Node, args: string[]): Promise<boolean> {
  const r = await node.runner.run([SCRIPT, 'check', ...args], { check: false, timeoutMs: 60_000 });
  if (r.exitCode === 0) return false;
  if (r.exitCode === 3) return true;
  throw new DpdkciError(`${node.name}: host-kubernetes.sh check ${args[0]}: ${(r.stderr || r.stdout).trim()}`);
}

async function installOn(ctx: UpContext, node: Node, targets: string[], stage: (node: Node) => Promise<void>): Promise<string> {
  const run = (argv: string[], stdin?: Buffer | string, timeoutMs = 600_000) => node.runner.run(argv, { timeoutMs, ...(stdin !== undefined ? { stdin } : {}) });
  try {
    // Recorded before anything is written, so that down also cleans up after an install that failed half-way.
    await run([SCRIPT, 'apply', 'record', ctx.options.prefix], `${targets.join('\n')}\n`);
    await stage(node);
    const input = layerInput(lockOf(ctx), ctx.options.kubernetes);
    const report = checkInstallReport((await run(installArgv(input.pause, 'host'), undefined, 1_800_000)).stdout, input);
    const n = need(ctx.record, 'cluster record').nodes.find((x) => x.name === node.name);
    await run(['install', '-D', '-m', '0644', '/dev/stdin', KUBELET_PATCH_FILE], kubeletPatch(hostOf(need(n, `${node.name}'s record`)).cpus ?? 2));
    await run([SCRIPT, 'apply', 'installed', installKey(ctx)]);
    return `${node.name}: ${report.installed.length} binaries, ${report.images.length} images, containerd 2 with systemd cgroups`;
  } catch (e) {
    if (e instanceof CommandError) throw new DpdkciError(`${node.name}: installing Kubernetes failed:\n${(e.stderr || e.stdout).trim().split('\n').slice(-20).join('\n')}`, { cause: e });
    throw e;
  }
}

export const installHostKubernetes: Step<UpContext, Node[]> = {
  // isDone returns the hosts without this install; apply installs on those (on every host without).
  name: 'install Kubernetes',
  enabled,
  async isDone(ctx) {
    const nodes = need(ctx.nodes, 'nodes');
    const states = await Promise.all(nodes.map((n) => pendingOn(n, ['installed', installKey(ctx)])));
    const todo = nodes.filter((_, i) => states[i]);
    return todo.length === 0 || { pending: todo };
  },
  async apply(ctx, progress, todo) {
    const k = need(ctx.kubernetes, 'Kubernetes sources');
    progress.update('gathering the pinned artefacts');
    const artefacts = await gatherArtefacts(k.lock, ctx.options.kubernetes, { ...artefactSources(artefactCache(ctx.places), k), signal: ctx.signal, onProgress: (what) => progress.update(`artefact ${what}`) });
    // Every host gets its own copy over its own connection; install -D through the runner works for a
    // login user with sudo as for root.
    const stage = (node: Node) =>
      stageArtefacts(artefacts, {
        run: (argv) => node.runner.run(argv, { timeoutMs: 60_000 }),
        put: async (local, remote) => void (await node.runner.run(['install', '-D', '-m', '0644', '/dev/stdin', remote], { stdin: readFileSync(local), timeoutMs: 900_000 })),
        write: async (text, remote) => void (await node.runner.run(['install', '-D', '-m', '0644', '/dev/stdin', remote], { stdin: text, timeoutMs: 60_000 })),
        progress,
      });
    const targets = await installTargets(artefacts, ctx.host);
    const done = await Promise.all((todo ?? need(ctx.nodes, 'nodes')).map((n) => installOn(ctx, n, targets, stage)));
    return done.join('; ');
  },
  plan(ctx) {
    let key: string;
    let pause: string;
    let counts: string;
    try {
      const input = layerInput(lockOf(ctx), ctx.options.kubernetes);
      key = installKey(ctx);
      pause = input.pause;
      counts = `${input.files.length - pinnedArtefacts(lockOf(ctx), ctx.options.kubernetes).builds.length} file(s), ${input.images.length} image(s)`;
    } catch (e) {
      return [{ on: 'host', verb: 'use', what: `nothing: the preflight stops up before this (${(e as Error).message.split('\n')[0]?.replace(/:$/, '')}; dpdkci versions lists them)` }];
    }
    return [
      { on: 'host', verb: 'run', what: `fetch or take from the bundle ${counts}, each checked against the lock; build what the lock builds (as for the QEMU layer)` },
      ...need(ctx.record, 'cluster record').nodes.flatMap((n) => [
        { on: n.name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'check', 'installed', key])}   (exit 0: in place, nothing below)` },
        { on: n.name, verb: 'run' as const, what: `${remoteCommand([SCRIPT, 'apply', 'record', ctx.options.prefix])}   (stdin: every file the install writes, ${rootfsTargets().join(', ')}, ${CONTAINERD_CONFIG} and each binary and archive member; what the host had of them and where Kubernetes goes)` },
        { on: n.name, verb: 'write' as const, what: `${STAGING}/ (files/, images/, rootfs/ from images/kubernetes/files, install.list, images.list, install-kubernetes.sh)` },
        { on: n.name, verb: 'run' as const, what: `${remoteCommand(installArgv(pause, 'host'))}   (then the report is checked against the lock)` },
        { on: n.name, verb: 'write' as const, what: `${KUBELET_PATCH_FILE} (reservedSystemCPUs: CPU 0 and the host's last CPU, OVS's PMD)` },
        { on: n.name, verb: 'run' as const, what: remoteCommand([SCRIPT, 'apply', 'installed', key]) },
      ]),
    ];
  },
};
