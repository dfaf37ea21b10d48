import type { ClusterOptions, RawFlags } from '../../core/config.js';
import { readClusterRecord } from '../../core/cluster.js';
import { DpdkciError } from '../../core/errors.js';
import { pick } from '../../core/option-table.js';
import { resolveArtifacts, resolveBootResetAfterS, resolveBootTimeoutS, resolveDebianMirrorOption, resolveTimeoutS } from '../../core/run-options.js';
import { cacheRoot, clusterPaths } from '../../core/paths.js';
import { planPipeline, renderPlan, type PlannedStep } from '../../core/pipeline.js';
import type { Runner } from '../../exec/runner.js';
import { planCheck, type CheckOptions } from '../../dataplane/check.js';
import { need, type UpContext } from '../../steps/context.js';
import { providerFor, provisionerFor } from '../providers.js';
import { nodeImageRecipe } from '../../image/provision.js';
import { planFor } from '../../steps/dataplane/index.js';
import type { RestoreState } from '../../snapshot/store.js';
import type { Inventory } from '../../core/inventory.js';
import type { SnapshotManifest } from '../../snapshot/store.js';
import type { Owner } from '../../core/owner.js';
import type { CommandContext } from '../context.js';
import { CHECK_STEP, checkOptions } from './check.js';
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
  /** The closing check of `up --dpdk`: `check`'s thresholds, traffic for --check-seconds. */
  check: Omit<CheckOptions, 'progress'>;
}

export function resolveUpSettings(flags: UpFlags, env: NodeJS.ProcessEnv): UpSettings {
  return {
    bootTimeoutS: resolveBootTimeoutS(flags, env),
    beforeKernelResetMs: resolveBootResetAfterS(flags, env) * 1000,
    timeoutS: resolveTimeoutS(flags, env),
    artifacts: resolveArtifacts(flags, env),
    debianMirror: resolveDebianMirrorOption(flags, env),
    rebuild: Boolean(flags.rebuild),
    // Checked before anything starts, although the check comes last.
    check: upCheckOptions(flags, env),
  };
}

/** What only some runs of `up` have: the host's runner and the stop signal always, the rest when known. */
export type UpParts = { host: Runner; signal: AbortSignal } & Partial<Pick<UpContext, 'record' | 'image' | 'kubernetes' | 'restore' | 'inventory'>>;

/** The one way `up` and both its dry runs make the steps' context: the same fields from the same settings. */
export function newUpContext(options: ClusterOptions, settings: UpSettings, ctx: Pick<CommandContext, 'places' | 'progress'>, owner: Owner, parts: UpParts): UpContext {
  const places = ctx.places;
  return {
    ...parts,
    options,
    places: ctx.places,
    paths: clusterPaths(options.prefix, places),
    cacheRoot: cacheRoot(places),
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
 * the nodes, so on an existing cluster `up` skips what its checks find done. The provider fills in what
 * its steps would find or make (the image, the record); the rest is the same for every provider.
 */
export function dryRunPlan(options: ClusterOptions, flags: UpFlags, settings: UpSettings, ctx: Pick<CommandContext, 'env' | 'places' | 'progress'>, owner: Owner, restoring?: SnapshotManifest, inventory?: Inventory): string {
  const paths = clusterPaths(options.prefix, ctx.places);
  // The dry run's host is a runner that refuses, as its nodes' are: nothing is run here either.
  const upCtx = newUpContext(options, settings, ctx, owner, {
    host: refusingRunner('host'),
    signal: new AbortController().signal,
    ...(options.kubernetes !== 'none' && !restoring ? { kubernetes: plannedKubernetes(flags, ctx.env, ctx.places) } : {}),
    ...(restoring ? { restore: restoreContext(restoring) } : {}),
    ...(inventory ? { inventory } : {}),
  });
  const provisioner = provisionerFor(options.provider);
  const frame = provisioner.planContext(upCtx, restoring);
  const record = need(upCtx.record, 'record');
  const provider = providerFor(record);
  upCtx.nodes = record.nodes.map((n) => {
    const at = provider.endpoint(record, n);
    return { name: n.name, role: n.role, address: `${at.host}:${at.port}`, runner: refusingRunner(n.name) };
  });
  const plan = planPipeline(provisioner.upSteps(upCtx), upCtx);
  if (options.dpdk && !flags.skipCheck && !restoring) {
    plan.push({ step: CHECK_STEP, actions: planCheck(upCtx.nodes.map((n) => n.name), planFor(upCtx), { ...settings.check, compareKernel: false, freshNodes: frame.freshNodes }) });
  }
  if (options.kubernetes !== 'none' && !restoring) plan.unshift(preflightPlan(options.kubernetes));
  const existing = readClusterRecord(paths.specFile) ? ` Cluster "${options.prefix}" exists: up would skip every step whose check finds it done.` : '';
  const title = [
    `dpdkci up --dry-run: cluster "${options.prefix}", ${provisioner.describe(upCtx)}, hugepages ${options.hugepages2m}x2M ${options.hugepages1g}x1G` +
      `${options.dpdk ? ', OVS-DPDK' : ''}, Kubernetes ${options.kubernetes}${frame.extra}` +
      `${restoring ? `, restored from snapshot "${restoring.name}"` : ''}.`,
    `Nothing was connected to, started, written or run. Each step runs only when its check finds work.${existing}`,
    ...frame.notes,
  ].join('\n');
  return renderPlan(title, plan, frame.names);
}

function preflightPlan(minor: string): PlannedStep {
  return {
    step: `preflight: Kubernetes ${minor} artefacts`,
    actions: [{ on: 'host', verb: 'run', what: 'check that every artefact pinned in versions.lock.yaml can be had from --bundle, the cache or the network; else stop before anything boots' }],
  };
}

/** The check at the end of `up --dpdk`: `check`'s thresholds, traffic for --check-seconds (DPDKCI_CHECK_SECONDS, default 3). */
export function upCheckOptions(flags: Pick<UpFlags, 'checkSeconds'>, env: NodeJS.ProcessEnv): Omit<CheckOptions, 'progress'> {
  const { value, via } = pick('checkSeconds', flags, env);
  return checkOptions({ seconds: value }, via);
}

export function restoreContext(manifest: SnapshotManifest, contentsChecked = false): RestoreState {
  return { manifest, contentsChecked, loadSeconds: {}, clockSkew: {} };
}
