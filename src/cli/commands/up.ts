import { existsSync, mkdirSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadLock, lockFile, kubernetesVersion } from '../../versions/lock.js';
import { parseDuration, resolveClusterOptions, resolvePrefix, type ClusterOptions, type RawFlags } from '../../core/config.js';
import { writeJunit } from '../../core/junit.js';
import { currentOwner } from '../../core/owner.js';
import { collectLogs } from '../../logs/collect.js';
import { clusterKubernetes, readClusterRecord, type ClusterRecord } from '../../core/cluster.js';
import { DpdkciError, ExitCode, InterruptedError, UsageError } from '../../core/errors.js';
import { requireHostTools, TOOLS_FOR_UP } from '../../core/host-tools.js';
import { cacheRoot, clusterPaths, PROJECT_ROOT, stateRoot, type ClusterPaths } from '../../core/paths.js';
import { planPipeline, renderPlan, runPipeline, type Step } from '../../core/pipeline.js';
import type { Runner } from '../../exec/runner.js';
import { timingTable } from '../../core/progress.js';
import { cachedImage, imageDir, imageInfo, nodeImageRecipe } from '../../image/provision.js';
import { recipeHash } from '../../image/recipe.js';
import { plannedRecord } from '../../steps/prepare-cluster/index.js';
import { planCheck } from '../../dataplane/check.js';
import { liveHolder } from '../../../providers/qemu/processes.js';
import { deleteCluster, listNodes, BEFORE_KERNEL_RESET_MS } from '../../../providers/qemu/provider.js';
import { bootNodes } from '../../steps/boot-nodes/index.js';
import { chooseAcceleratorStep } from '../../steps/choose-accelerator/index.js';
import type { UpContext } from '../../steps/context.js';
import { prepareCluster } from '../../steps/prepare-cluster/index.js';
import { provisionImage } from '../../steps/provision-image/index.js';
import { startSwitchStep } from '../../steps/start-switch/index.js';
import { startRegistryStep } from '../../steps/start-registry/index.js';
import { waitForSshStep } from '../../steps/wait-for-ssh/index.js';
import { connectNodesStep } from '../../steps/connect-nodes/index.js';
import { pushNodeScripts } from '../../steps/push-node-scripts/index.js';
import { dataplaneSteps, planFor } from '../../steps/dataplane/index.js';
import { kubernetesSteps, provisionKubernetesImage } from '../../steps/kubernetes/index.js';
import { kubernetesImageDir, layerHash, layerInput } from '../../image/kubernetes-layer.js';
import { writeClusterRecord } from '../../core/cluster.js';
import type { CommandContext } from '../context.js';
import { renderStatus, statusJson } from './status.js';
import { CHECK_STEP, UP_CHECK_SECONDS, checkCluster, checkOptions } from './check.js';
import { renderCheck, type CheckReport } from '../../dataplane/check.js';
import type { Owner } from '../../core/owner.js';
import { checkOutputFormat } from '../output.js';
import { decideSnapshot, snapshotRequest, type SnapshotFlags } from './up-snapshot.js';
import { finishUp, restoreContext, upStepsFor } from './up-finish.js';
import { autoLeftOutLine, kubernetesPreflight, plannedKubernetes, resolveAutoKubernetes } from './up-kubernetes.js';

export interface UpFlags extends RawFlags, SnapshotFlags {
  debianMirror?: string;
  rebuild?: boolean;
  bootTimeout?: string;
  bootResetAfter?: string;
  cleanupOnFailure?: boolean;
  output?: string;
  skipCheck?: boolean;
  checkSeconds?: string;
  junit?: string;
  artifacts?: string;
  timeout?: string;
  bundle?: string;
  mirror?: string;
  dryRun?: boolean;
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
export function dryRunPlan(options: ClusterOptions, flags: UpFlags, ctx: Pick<CommandContext, 'env' | 'progress'>, owner: Owner, bootTimeoutS: number): string {
  const env = ctx.env;
  const recipe = nodeImageRecipe();
  const root = cacheRoot(env);
  const hash = recipeHash(recipe);
  const dir = imageDir(root, recipe, hash);
  // An image still to be built is shown as the build makes it from Debian's kernel: unpacked for PVH boot.
  const image = (!flags.rebuild && cachedImage(root, recipe)) || {
    ...imageInfo(recipe, hash, dir, { kernelRelease: '(from the build)', mirror: '', builtAt: '', buildSeconds: 0 }),
    pvhKernel: join(dir, 'vmlinux'),
  };
  const paths = clusterPaths(options.prefix, env);
  const upCtx: UpContext = {
    options,
    env,
    paths,
    cacheRoot: root,
    recipe,
    mirrorFlag: flags.debianMirror,
    rebuild: Boolean(flags.rebuild),
    bootTimeoutMs: bootTimeoutS * 1000,
    beforeKernelResetMs: bootResetAfterS(flags, env) * 1000,
    owner,
    signal: new AbortController().signal,
    progress: ctx.progress,
    image,
    bootSeconds: {},
    booted: new Set(),
    ...(options.kubernetes !== 'none' ? { kubernetes: plannedKubernetes(flags, env) } : {}),
  };
  upCtx.record = plannedRecord(upCtx);
  upCtx.created = new Set(upCtx.record.nodes.map((n) => n.name));
  if (upCtx.kubernetes) {
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
  const plan = planPipeline(upSteps(), upCtx);
  if (options.dpdk && !flags.skipCheck) {
    plan.push({ step: CHECK_STEP, actions: planCheck(upCtx.nodes.map((n) => n.name), planFor(upCtx), { ...upCheckOptions(flags), compareKernel: false, freshNodes: true }) });
  }
  if (options.kubernetes !== 'none') {
    plan.unshift({
      step: `preflight: Kubernetes ${options.kubernetes} artefacts`,
      actions: [{ on: 'host', verb: 'run', what: 'check that every artefact pinned in versions.lock.yaml can be had from --bundle, the cache or the network; else stop before anything boots' }],
    });
  }
  const existing = readClusterRecord(paths.specFile) ? ` Cluster "${options.prefix}" exists: up would skip every step whose check finds it done.` : '';
  const title =
    `dpdkci up --dry-run: cluster "${options.prefix}", ${options.nodes} node(s), ${options.cpus} vCPU, ${options.memoryMiB} MiB, hugepages ${options.hugepages2m}x2M ${options.hugepages1g}x1G` +
    `${options.dpdk ? ', OVS-DPDK' : ''}, Kubernetes ${options.kubernetes}, accelerator ${options.accel} (shown as ${upCtx.record.accel}).\n` +
    `Nothing was started, written or run. Each step runs only when its check finds work.${existing}`;
  return renderPlan(title, plan, [
    [image.dir, '$IMAGE'],
    [paths.dir, '$CLUSTER'],
    [PROJECT_ROOT, '$DPDKCI'],
    [stateRoot(env), '$STATE'],
    [root, '$CACHE'],
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

const COMPARED: (keyof ClusterOptions)[] = ['kubernetes', 'memoryMiB', 'cpus', 'hugepages2m', 'hugepages1g', 'secondaryNics', 'kernelArgs', 'qemuArgs', 'vhostSocketDir'];

/** An existing cluster can grow by nodes; any other difference needs a `down` first. */
export function checkCompatible(record: ClusterRecord, options: ClusterOptions): void {
  const recorded = { ...record.options, kubernetes: clusterKubernetes(record) };
  for (const key of COMPARED) {
    const was = JSON.stringify(recorded[key]);
    const now = JSON.stringify(options[key]);
    if (was !== now) {
      throw new UsageError(
        `cluster "${record.prefix}" is already up with ${key} ${was}, not ${now}; run \`dpdkci down --prefix ${record.prefix}\` first, or pick another --prefix`,
      );
    }
  }
  if (options.nodes < record.nodes.length) {
    throw new UsageError(
      `--nodes: cluster "${record.prefix}" has ${record.nodes.length} nodes and cannot shrink to ${options.nodes}; run \`dpdkci down --prefix ${record.prefix}\` first`,
    );
  }
}

/** One `up` at a time per cluster. A lock left by a process that died is taken over. */
function takeLock(paths: ClusterPaths): () => void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(paths.lockFile, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(paths.lockFile, { force: true });
    } catch {
      const holder = liveHolder(paths.lockFile);
      if (holder) {
        throw new UsageError(`another dpdkci (pid ${holder}) is working on this cluster; wait for it or stop it`);
      }
      rmSync(paths.lockFile, { force: true });
    }
  }
  throw new DpdkciError(`could not take the lock ${paths.lockFile}`);
}

export async function runUp(flags: UpFlags, ctx: CommandContext): Promise<number> {
  const junit = flags.junit;
  let failure: unknown;
  let notReached: string[] = [];
  try {
    return await upOrThrow(flags, ctx, (names) => (notReached = names));
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    if (junit) {
      const prefix = (() => {
        try {
          return resolvePrefix(typeof flags.prefix === 'string' ? flags.prefix : undefined, ctx.env);
        } catch {
          return String(flags.prefix);
        }
      })();
      writeJunit(junit, {
        suite: `dpdkci up ${prefix}`,
        timings: ctx.progress.timings,
        notReached,
        ...(failure ? { error: (failure as Error).message } : {}),
      });
    }
  }
}

/** --boot-reset-after (DPDKCI_BOOT_RESET_AFTER): seconds a booting node may spend before its kernel until it is reset, once. */
export function bootResetAfterS(flags: Pick<UpFlags, 'bootResetAfter'>, env: NodeJS.ProcessEnv): number {
  const [name, value] = flags.bootResetAfter !== undefined ? ['--boot-reset-after', flags.bootResetAfter] : ['DPDKCI_BOOT_RESET_AFTER', env.DPDKCI_BOOT_RESET_AFTER];
  if (value === undefined || value === '') return BEFORE_KERNEL_RESET_MS / 1000;
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || (seconds !== 0 && seconds < 5)) {
    throw new UsageError(`${name}: "${value}" is not a number of seconds (0 to never reset, else at least 5); e.g. ${name === '--boot-reset-after' ? '--boot-reset-after 120' : 'DPDKCI_BOOT_RESET_AFTER=120'}`);
  }
  return seconds;
}

async function upOrThrow(flags: UpFlags, ctx: CommandContext, setNotReached: (names: string[]) => void): Promise<number> {
  // Everything that can be wrong with the input is found here, before anything starts.
  checkOutputFormat(flags.output);
  let options = resolveClusterOptions(flags, ctx.env);
  // The lock is read once, and only when Kubernetes may be wanted.
  const lock = options.kubernetes !== 'none' ? loadLock(lockFile(ctx.env)) : undefined;
  if (lock && options.kubernetes === 'auto') {
    const auto = await resolveAutoKubernetes(lock, flags, ctx);
    options = auto.options;
    if (auto.why) ctx.progress.warn(autoLeftOutLine(auto.why));
  }
  // A version the lock does not pin is bad input, named with the ones it pins, dry run or not.
  if (lock && options.kubernetes !== 'none') kubernetesVersion(lock, options.kubernetes);
  const bootTimeoutS = flags.bootTimeout === undefined ? 600 : Number(flags.bootTimeout);
  if (!Number.isInteger(bootTimeoutS) || bootTimeoutS < 10) {
    throw new UsageError(`--boot-timeout: "${flags.bootTimeout}" is not a number of seconds (at least 10); e.g. --boot-timeout 300`);
  }
  const timeoutS = parseDuration(flags.timeout ?? ctx.env.DPDKCI_TIMEOUT, flags.timeout !== undefined ? '--timeout' : 'DPDKCI_TIMEOUT');
  const artifacts = flags.artifacts ?? (ctx.env.ARTIFACTS || undefined);
  const beforeKernelResetMs = bootResetAfterS(flags, ctx.env) * 1000;
  // Checked before anything starts, although the check comes last.
  upCheckOptions(flags);
  const request = snapshotRequest(flags, ctx.env);
  const owner = currentOwner(ctx.env);
  if (flags.dryRun) {
    ctx.out(dryRunPlan(options, flags, ctx, owner, bootTimeoutS));
    return ExitCode.ok;
  }
  const paths = clusterPaths(options.prefix, ctx.env);
  // A snapshot is settled first: a restore needs no Kubernetes artefacts (its image has them).
  const decision = await decideSnapshot(request, options, readClusterRecord(paths.specFile), lock, ctx);
  const existing = decision.existing;
  const restoring = decision.manifest;
  const kubernetes = lock && options.kubernetes !== 'none' && !restoring ? await kubernetesPreflight(lock, options.kubernetes, flags, ctx) : undefined;
  requireHostTools((existing ? existing.registryPort !== undefined : options.registry) ? [...TOOLS_FOR_UP, 'docker-registry'] : TOOLS_FOR_UP);
  if (existing) checkCompatible(existing, options);

  const release = takeLock(paths);
  // The whole up stops on Ctrl-C or when --timeout runs out; only Ctrl-C removes the cluster.
  const timer = new AbortController();
  const timeout = timeoutS === undefined ? undefined : setTimeout(() => timer.abort(), timeoutS * 1000);
  const signal = AbortSignal.any([ctx.signal, timer.signal]);
  const stepCtx: CommandContext = { ...ctx, signal };
  const upCtx: UpContext = {
    options,
    env: ctx.env,
    paths,
    cacheRoot: cacheRoot(ctx.env),
    recipe: nodeImageRecipe(),
    mirrorFlag: flags.debianMirror,
    rebuild: Boolean(flags.rebuild),
    bootTimeoutMs: bootTimeoutS * 1000,
    beforeKernelResetMs,
    owner,
    signal,
    progress: ctx.progress,
    record: existing,
    bootSeconds: {},
    booted: new Set(),
    ...(kubernetes ? { kubernetes } : {}),
    ...(restoring ? { restore: restoreContext(restoring) } : {}),
  };
  ctx.progress.info(
    `dpdkci up: cluster "${options.prefix}", ${options.nodes} node(s), ${options.cpus} vCPU, ${options.memoryMiB} MiB, hugepages ${options.hugepages2m}x2M ${options.hugepages1g}x1G` +
      (options.dpdk ? ', OVS-DPDK' : ', no dataplane (add --dpdk for OVS-DPDK)') +
      (options.kubernetes !== 'none' ? `, Kubernetes ${options.kubernetes}` : ', no Kubernetes (--kubernetes none)') +
      (restoring ? `, restored from snapshot "${restoring.name}"` : ''),
  );
  const steps = upStepsFor(upCtx);
  // A restored cluster is the saved one, checked before it was saved; `dpdkci check` checks it again.
  const checking = options.dpdk && !flags.skipCheck && !restoring;
  try {
    const result = await runPipeline(steps, upCtx, ctx.progress, signal);
    const record = upCtx.record as ClusterRecord;
    if (!restoring && options.dpdk && JSON.stringify(record.dataplane) !== JSON.stringify(planFor(upCtx))) {
      record.dataplane = planFor(upCtx);
      writeClusterRecord(paths.specFile, record);
    }
    if (JSON.stringify(record.owner) !== JSON.stringify(owner)) {
      record.owner = owner;
      writeClusterRecord(paths.specFile, record);
    }
    // Traffic proves the dataplane; an unchanged cluster whose last check passed is not checked again.
    let check: CheckReport | undefined;
    if (checking && (result.applied.length > 0 || !record.lastCheck?.ok)) {
      // A cluster this `up` made has never been checked: nothing of an earlier check to clean up first.
      check = await checkCluster(record, upCtx.nodes ?? [], { ...upCheckOptions(flags), freshNodes: result.applied.includes('prepare cluster') }, stepCtx, true);
      if (!check.ok) throw new DpdkciError(`the dataplane check failed:\n${renderCheck(check)}`);
      result.applied.push(CHECK_STEP);
    }
    // A restore is marked complete; --snapshot auto's full up is saved (after its check).
    const finished = await finishUp(upCtx, decision, stepCtx);
    if (flags.output === 'json') {
      ctx.out(
        JSON.stringify(
          {
            ...statusJson(record, listNodes(record), ctx.env),
            changed: result.applied.length > 0,
            applied: result.applied,
            timings: ctx.progress.timings,
            bootSeconds: upCtx.bootSeconds,
            check: check ?? null,
            ...finished.json,
          },
          null,
          2,
        ),
      );
      return ExitCode.ok;
    }
    ctx.out(renderStatus(record, listNodes(record)));
    if (check) ctx.out(`\n${renderCheck(check)}`);
    ctx.out('\nwhere the time went:\n' + timingTable(ctx.progress.timings));
    for (const line of finished.lines) ctx.out(`\n${line}`);
    if (result.applied.length === 0) {
      ctx.out(`\ncluster "${options.prefix}" is up and healthy; nothing changed`);
    } else {
      ctx.out(`\ncluster "${options.prefix}" is up: dpdkci ssh node01 --prefix ${options.prefix}`);
    }
    return ExitCode.ok;
  } catch (caught) {
    const ran = new Set(ctx.progress.timings.map((t) => t.name));
    setNotReached([...steps.filter((s) => !ran.has(s.name) && (!s.enabled || s.enabled(upCtx))).map((s) => s.name), ...(checking && !ran.has(CHECK_STEP) ? [CHECK_STEP] : [])]);
    if (ctx.signal.aborted || (restoring && caught instanceof UsageError)) {
      if (!ctx.signal.aborted) {
        ctx.progress.warn('the snapshot was refused: stopping the nodes that loaded it and removing the cluster');
        await deleteCluster(options.prefix, { graceful: false, env: ctx.env });
        throw caught;
      }
      ctx.progress.warn('interrupted: stopping what was started and removing the cluster');
      await deleteCluster(options.prefix, { graceful: false, env: ctx.env });
      throw new InterruptedError('up interrupted; the cluster was removed');
    }
    let error = caught;
    if (timer.signal.aborted) {
      const at = ctx.progress.timings.at(-1);
      error = new DpdkciError(`--timeout: up did not finish within ${timeoutS}s${at ? ` (it was at "${at.name}")` : ''}`);
      if (at?.outcome === 'failed') at.message = (error as Error).message;
    }
    if (artifacts && existsSync(paths.specFile)) {
      const dir = resolve(artifacts, `dpdkci-${options.prefix}`);
      const step = ctx.progress.start(`collect logs into ${dir}`);
      try {
        const logs = await collectLogs(readClusterRecord(paths.specFile) as ClusterRecord, dir, ctx.env);
        step.end('done', logs.map((l) => `${l.node}: ${l.files.length} file(s)${l.missing ? ` (${l.missing})` : ''}`).join('; '));
      } catch (e) {
        step.end('failed', (e as Error).message);
      }
    }
    if (flags.cleanupOnFailure || !existsSync(paths.specFile)) {
      await deleteCluster(options.prefix, { graceful: false, env: ctx.env });
      if (flags.cleanupOnFailure) ctx.progress.warn('up failed; the cluster was removed (--cleanup-on-failure)');
    } else if (restoring) {
      ctx.progress.warn(`the restore failed; the cluster is left for inspection (dpdkci status --prefix ${options.prefix}); the same up removes it and restores again`);
    } else {
      ctx.progress.warn(
        `up failed; the cluster is left as it is for inspection (dpdkci status/ssh --prefix ${options.prefix}); remove it with dpdkci down --prefix ${options.prefix}`,
      );
    }
    throw error;
  } finally {
    if (timeout) clearTimeout(timeout);
    await Promise.all((upCtx.nodes ?? []).map((n) => n.runner.close()));
    release();
  }
}
