import { join } from 'node:path';
import type { ClusterOptions, RawFlags } from '../../core/config.js';
import { readClusterRecord } from '../../core/cluster.js';
import { DpdkciError, UsageError } from '../../core/errors.js';
import { resolveArtifacts, resolveBootResetAfterS, resolveDebianMirrorOption, resolveTimeoutS } from '../../core/run-options.js';
import { cacheRoot, clusterPaths, PROJECT_ROOT, stateRoot } from '../../core/paths.js';
import { planPipeline, renderPlan, type PlannedStep, type Step } from '../../core/pipeline.js';
import type { Runner } from '../../exec/runner.js';
import { cachedImage, imageDir, imageInfo, nodeImageRecipe } from '../../image/provision.js';
import { recipeHash } from '../../image/recipe.js';
import { planCheck } from '../../dataplane/check.js';
import { bootNodes } from '../../../providers/qemu/steps/boot-nodes.js';
import { chooseAcceleratorStep } from '../../../providers/qemu/steps/choose-accelerator.js';
import type { UpContext } from '../../steps/context.js';
import { plannedRecord, prepareCluster } from '../../../providers/qemu/steps/prepare-cluster.js';
import { provisionImage } from '../../../providers/qemu/steps/provision-image.js';
import { startSwitchStep } from '../../../providers/qemu/steps/start-switch.js';
import { startRegistryStep } from '../../../providers/qemu/steps/start-registry.js';
import { waitForSshStep } from '../../../providers/qemu/steps/wait-for-ssh.js';
import { connectNodesStep } from '../../steps/connect-nodes/index.js';
import { pushNodeScripts } from '../../steps/push-node-scripts/index.js';
import { dataplaneSteps, planFor } from '../../steps/dataplane/index.js';
import { kubernetesSteps, provisionKubernetesImage } from '../../steps/kubernetes/index.js';
import { restoreSteps, type RestoreState } from '../../../providers/qemu/steps/restore-snapshot.js';
import { installHostKubernetes } from '../../../providers/hosts/steps/install-kubernetes.js';
import { checkHosts, hostsRecord, installHostPackages, recordHostState, recordHostsCluster, reserveHugepages } from '../../../providers/hosts/steps/hosts.js';
import type { Inventory } from '../../../providers/hosts/inventory.js';
import { kubernetesImageDir, layerHash, layerInput } from '../../image/kubernetes-layer.js';
import type { SnapshotManifest } from '../../snapshot/store.js';
import type { Owner } from '../../core/owner.js';
import type { CommandContext } from '../context.js';
import { CHECK_STEP, UP_CHECK_SECONDS, checkOptions } from './check.js';
import type { SnapshotFlags } from './up-snapshot.js';
import { plannedKubernetes } from './up-kubernetes.js';

/** What `up` runs, in order, and its --dry-run plan from the same steps; the flags `up` takes. */

export interface UpFlags extends RawFlags, SnapshotFlags {
  rebuild?: boolean;
  bootTimeout?: string;
  cleanupOnFailure?: boolean;
  output?: string;
  skipCheck?: boolean;
  checkSeconds?: string;
  junit?: string;
  dryRun?: boolean;
}

/** up's settings besides the cluster's options, resolved once from its flags and the environment. */
export interface UpSettings {
  bootTimeoutS: number;
  beforeKernelResetMs: number;
  /** The whole up's limit; undefined: none. */
  timeoutS: number | undefined;
  /** Where a failed up collects its logs; undefined: nowhere. */
  artifacts: string | undefined;
  /** undefined: the host's own apt sources. */
  debianMirror: string | undefined;
  rebuild: boolean;
}

export function resolveUpSettings(flags: UpFlags, env: NodeJS.ProcessEnv): UpSettings {
  const bootTimeoutS = flags.bootTimeout === undefined ? 600 : Number(flags.bootTimeout);
  if (!Number.isInteger(bootTimeoutS) || bootTimeoutS < 10) {
    throw new UsageError(`--boot-timeout: "${flags.bootTimeout}" is not a number of seconds (at least 10); e.g. --boot-timeout 300`);
  }
  return {
    bootTimeoutS,
    beforeKernelResetMs: resolveBootResetAfterS(flags, env) * 1000,
    timeoutS: resolveTimeoutS(flags, env),
    artifacts: resolveArtifacts(flags, env),
    debianMirror: resolveDebianMirrorOption(flags, env),
    rebuild: Boolean(flags.rebuild),
  };
}

/** What only some runs of `up` have: the host's runner and the stop signal always, the rest when known. */
export type UpParts = { host: Runner; signal: AbortSignal } & Partial<Pick<UpContext, 'record' | 'image' | 'kubernetes' | 'restore' | 'inventory'>>;

/** The one way `up` and both its dry runs make the steps' context: the same fields from the same settings. */
export function newUpContext(options: ClusterOptions, settings: UpSettings, ctx: Pick<CommandContext, 'env' | 'progress'>, owner: Owner, parts: UpParts): UpContext {
  const env = ctx.env;
  return {
    ...parts,
    options,
    env,
    paths: clusterPaths(options.prefix, env),
    cacheRoot: cacheRoot(env),
    recipe: nodeImageRecipe(),
    debianMirror: settings.debianMirror,
    rebuild: settings.rebuild,
    bootTimeoutMs: settings.bootTimeoutS * 1000,
    beforeKernelResetMs: settings.beforeKernelResetMs,
    owner,
    progress: ctx.progress,
    bootSeconds: {},
    booted: new Set(),
  };
}

/** A runner for --dry-run nodes: running anything there is a bug, and says so. */
function refusingRunner(host: string): Runner {
  return {
    host,
    run: async (argv) => {
      throw new DpdkciError(`internal: --dry-run tried to run ${argv.join(' ')} on ${host}`);
    },
    close: async () => {},
  };
}

/**
 * `up --dry-run`: the plan of every step for a new cluster with these options, per node and in order,
 * from the same argv builders the steps use. Nothing is started, written or run; nothing is read from
 * the nodes, so on an existing cluster `up` skips what its checks find done.
 */
export function dryRunPlan(options: ClusterOptions, flags: UpFlags, settings: UpSettings, ctx: Pick<CommandContext, 'env' | 'progress'>, owner: Owner, restoring?: SnapshotManifest, inventory?: Inventory): string {
  const env = ctx.env;
  if (inventory) return hostsDryRun(options, flags, settings, ctx, owner, inventory);
  const recipe = nodeImageRecipe();
  const root = cacheRoot(env);
  const hash = recipeHash(recipe);
  const dir = imageDir(root, recipe, hash);
  // An image still to be built is shown as the build makes it from Debian's kernel: unpacked for PVH boot.
  const image = (!settings.rebuild && cachedImage(root, recipe)) || {
    ...imageInfo(recipe, hash, dir, { kernelRelease: '(from the build)', mirror: '', builtAt: '', buildSeconds: 0 }),
    pvhKernel: join(dir, 'vmlinux'),
  };
  const paths = clusterPaths(options.prefix, env);
  // The dry run's host is a runner that refuses, as its nodes' are: nothing is run here either.
  const upCtx = newUpContext(options, settings, ctx, owner, {
    host: refusingRunner('host'),
    signal: new AbortController().signal,
    image,
    ...(options.kubernetes !== 'none' && !restoring ? { kubernetes: plannedKubernetes(flags, env) } : {}),
    ...(restoring ? { restore: restoreContext(restoring) } : {}),
  });
  upCtx.record = plannedRecord(upCtx);
  if (restoring) {
    // A restore keeps the saved nodes' names, roles and MACs (the saved state has them); ports are new.
    const planned = upCtx.record.nodes;
    upCtx.record.nodes = restoring.record.nodes.map((n, i) => ({ ...n, sshPort: planned[i]?.sshPort ?? n.sshPort, hostKey: 'ssh-ed25519 (generated-by-up)' }));
    upCtx.record.accel = options.accel === 'auto' ? restoring.record.accel : options.accel;
  }
  upCtx.created = new Set(upCtx.record.nodes.map((n) => n.name));
  if (upCtx.kubernetes && !restoring) {
    // The nodes boot from the Kubernetes layer over the base image, when the lock pins all of it.
    try {
      const input = layerInput(upCtx.kubernetes.lock, options.kubernetes);
      const layer = kubernetesImageDir(root, image, options.kubernetes, layerHash(image, input));
      upCtx.record.image = { ...upCtx.record.image, hash: layerHash(image, input), disk: join(layer, 'disk.qcow2') };
    } catch {
      // provisionKubernetesImage's plan says why there is no layer
    }
  }
  upCtx.nodes = upCtx.record.nodes.map((n) => ({ name: n.name, role: n.role, address: `127.0.0.1:${n.sshPort}`, runner: refusingRunner(n.name) }));
  const plan = planPipeline(upStepsFor(upCtx), upCtx);
  if (options.dpdk && !flags.skipCheck && !restoring) {
    plan.push({ step: CHECK_STEP, actions: planCheck(upCtx.nodes.map((n) => n.name), planFor(upCtx), { ...upCheckOptions(flags), compareKernel: false, freshNodes: true }) });
  }
  if (options.kubernetes !== 'none' && !restoring) plan.unshift(preflightPlan(options.kubernetes));
  const existing = readClusterRecord(paths.specFile) ? ` Cluster "${options.prefix}" exists: up would skip every step whose check finds it done.` : '';
  const title =
    `dpdkci up --dry-run: cluster "${options.prefix}", ${options.nodes} node(s), ${options.cpus} vCPU, ${options.memoryMiB} MiB, hugepages ${options.hugepages2m}x2M ${options.hugepages1g}x1G` +
    `${options.dpdk ? ', OVS-DPDK' : ''}, Kubernetes ${options.kubernetes}, accelerator ${options.accel} (shown as ${upCtx.record.accel})` +
    `${restoring ? `, restored from snapshot "${restoring.name}"` : ''}.\n` +
    `Nothing was started, written or run. Each step runs only when its check finds work.${existing}`;
  return renderPlan(title, plan, [
    [image.dir, '$IMAGE'],
    [paths.dir, '$CLUSTER'],
    [PROJECT_ROOT, '$DPDKCI'],
    [stateRoot(env), '$STATE'],
    [root, '$CACHE'],
  ]);
}

function preflightPlan(minor: string): PlannedStep {
  return {
    step: `preflight: Kubernetes ${minor} artefacts`,
    actions: [{ on: 'host', verb: 'run', what: 'check that every artefact pinned in versions.lock.yaml can be had from --bundle, the cache or the network; else stop before anything boots' }],
  };
}

/** `up --provider hosts --dry-run`: the same steps' plans, on the inventory's hosts; nothing is connected to. */
function hostsDryRun(options: ClusterOptions, flags: UpFlags, settings: UpSettings, ctx: Pick<CommandContext, 'env' | 'progress'>, owner: Owner, inventory: Inventory): string {
  const env = ctx.env;
  const paths = clusterPaths(options.prefix, env);
  const upCtx = newUpContext(options, settings, ctx, owner, {
    host: refusingRunner('host'),
    signal: new AbortController().signal,
    inventory,
    ...(options.kubernetes !== 'none' ? { kubernetes: plannedKubernetes(flags, env) } : {}),
  });
  upCtx.record = hostsRecord(upCtx, inventory, '(at up)');
  upCtx.nodes = upCtx.record.nodes.map((n) => ({ name: n.name, role: n.role, address: `${n.host?.address}:${n.sshPort}`, runner: refusingRunner(n.name) }));
  const plan = planPipeline(hostsUpSteps(), upCtx);
  if (!flags.skipCheck) plan.push({ step: CHECK_STEP, actions: planCheck(upCtx.nodes.map((n) => n.name), planFor(upCtx), { ...upCheckOptions(flags), compareKernel: false, freshNodes: false }) });
  if (options.kubernetes !== 'none') plan.unshift(preflightPlan(options.kubernetes));
  const existing = readClusterRecord(paths.specFile) ? ` Cluster "${options.prefix}" exists: up would skip every step whose check finds it done.` : '';
  const title =
    `dpdkci up --dry-run: cluster "${options.prefix}" on ${inventory.hosts.length} host(s) of ${inventory.file} (provider hosts), hugepages ${options.hugepages2m}x2M ${options.hugepages1g}x1G, OVS-DPDK` +
    `${options.kubernetes !== 'none' ? `, Kubernetes ${options.kubernetes}` : ''}.\n` +
    `Nothing was connected to, started, written or run. Each step runs only when its check finds work.${existing}\n` +
    `PCI_OF_<interface> and LAST_CPU_MASK stand for what check hosts finds on each host: the NIC's PCI address, the mask of its last CPU (the PMD's).`;
  return renderPlan(title, plan, [
    [paths.dir, '$CLUSTER'],
    [PROJECT_ROOT, '$DPDKCI'],
    [stateRoot(env), '$STATE'],
  ]);
}

/** The check at the end of `up --dpdk`: `check`'s thresholds, traffic for --check-seconds (default 3). */
export function upCheckOptions(flags: Pick<UpFlags, 'checkSeconds'>) {
  return checkOptions(flags.checkSeconds === undefined ? {} : { seconds: flags.checkSeconds }, '--check-seconds', UP_CHECK_SECONDS);
}

export function upSteps(): Step<UpContext>[] {
  return [
    provisionImage,
    chooseAcceleratorStep,
    provisionKubernetesImage,
    prepareCluster,
    startSwitchStep,
    startRegistryStep,
    bootNodes,
    waitForSshStep,
    connectNodesStep,
    pushNodeScripts,
    ...dataplaneSteps,
    ...kubernetesSteps,
  ];
}

export function restoreContext(manifest: SnapshotManifest, contentsChecked = false): RestoreState {
  return { manifest, contentsChecked, loadSeconds: {}, clockSkew: {} };
}

/**
 * `up --provider hosts`: the machines of the inventory, checked before any is changed, then the same node
 * steps as QEMU nodes get (scripts, the dataplane's parts), and with --kubernetes what the QEMU image's
 * layer holds, installed on each host, then the same Kubernetes steps.
 */
export function hostsUpSteps(): Step<UpContext>[] {
  return [recordHostsCluster, connectNodesStep, checkHosts, recordHostState, pushNodeScripts, installHostPackages, reserveHugepages, ...dataplaneSteps, installHostKubernetes, ...kubernetesSteps];
}

/** A restore's steps, with the host-side ones it shares with a full up; a hosts cluster's; otherwise the full up's. */
export function upStepsFor(ctx: UpContext): Step<UpContext>[] {
  if (ctx.options.provider === 'hosts') return hostsUpSteps();
  return ctx.restore ? restoreSteps([startSwitchStep, startRegistryStep]) : upSteps();
}
