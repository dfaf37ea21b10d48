import { existsSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { loadInventory, requireNodeIps } from '../../../providers/hosts/inventory.js';
import { resolve } from 'node:path';
import { kubernetesVersion } from '../../versions/lock.js';
import { effectiveLock, lockForUse, WAYS_ON, lookupSources, resolveForUse } from './lock-use.js';
import { resolveClusterOptions, resolvePrefix } from '../../core/config.js';
import { writeJunit } from '../../core/junit.js';
import { currentOwner } from '../../core/owner.js';
import { collectLogs } from '../../logs/collect.js';
import { clusterKubernetes, readClusterRecord, writeClusterRecord, type ClusterRecord } from '../../core/cluster.js';
import { DpdkciError, ExitCode, InterruptedError, UsageError } from '../../core/errors.js';
import { requireHostTools, TOOLS_FOR_UP } from '../../core/host-tools.js';
import { clusterPaths } from '../../core/paths.js';
import { runPipeline } from '../../core/pipeline.js';
import { timingTable } from '../../core/progress.js';
import { providerFor, provisionerFor } from '../providers.js';
import type { UpContext } from '../../steps/context.js';
import type { Provider } from '../../provider/provider.js';
import { planFor } from '../../steps/dataplane/index.js';
import type { CommandContext } from '../context.js';
import { renderStatus, statusJson } from './status.js';
import { CHECK_STEP, checkCluster } from './check.js';
import { renderCheck, type CheckReport } from '../../dataplane/check.js';
import { checkOutputFormat } from '../output.js';
import { pick } from '../../core/option-table.js';
import { snapshotsOf } from './snapshot.js';
import { decideSnapshot, snapshotRequest } from './up-snapshot.js';
import { readSnapshot } from '../../snapshot/store.js';
import { finishUp, SaveInterrupted } from './up-finish.js';
import { checkCompatible, kubernetesNowLine, takeLock } from './up-guards.js';
import { recordHostState } from '../../../providers/hosts/steps/hosts.js';
import { createLocalRunner } from '../../exec/local-runner.js';
import { dryRunPlan, newUpContext, resolveUpSettings, restoreContext, type UpFlags } from './up-plan.js';
import { autoLeftOutLine, kubernetesPreflight, resolveAutoKubernetes } from './up-kubernetes.js';

export type { UpFlags } from './up-plan.js';


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

/** Whether any node of the recorded cluster runs, as its provider sees it. */
async function anyNodeRuns(provider: Provider, specFile: string, ctx: CommandContext): Promise<boolean> {
  const record = readClusterRecord(specFile);
  return record ? (await provider.listNodes(record, ctx.places)).some((n) => n.state === 'running') : false;
}

async function upOrThrow(flags: UpFlags, ctx: CommandContext, setNotReached: (names: string[]) => void): Promise<number> {
  // Everything that can be wrong with the input is found here, before anything starts.
  checkOutputFormat(flags.output);
  let options = resolveClusterOptions(flags, ctx.env);
  const request = snapshotRequest(flags, ctx.env);
  if (request.kind !== 'none') snapshotsOf(providerFor({ provider: options.provider }), request.option, options.prefix, `leave ${request.option} out`);
  // The inventory is read and validated here, once; a hosts cluster has as many nodes as it has hosts.
  const inventory = options.provider === 'hosts' ? loadInventory(options.inventory, homedir()) : undefined;
  if (inventory) {
    options = { ...options, nodes: inventory.hosts.length };
    if (options.kubernetes !== 'none') requireNodeIps(inventory, `--kubernetes ${options.kubernetes}`);
  }
  if (options.kubernetes === 'auto' && request.kind === 'named') {
    // The snapshot already holds what auto would look for: Kubernetes as it was saved, or none.
    const saved = readSnapshot(request.name, ctx.places, request.option).match.options.kubernetes;
    options = resolveClusterOptions({ ...flags, kubernetes: saved }, ctx.env);
    ctx.progress.info(`--kubernetes auto: ${saved === 'none' ? 'no Kubernetes' : `Kubernetes ${saved}`}, as snapshot "${request.name}" was saved`);
  }
  // Bad input is found before anything is looked up: up's settings, and where the lock's values come from.
  const settings = resolveUpSettings(flags, ctx.env);
  const sources = lookupSources(flags, ctx.env, ctx.places);
  // What the lock leaves null is looked up and recorded in the user lock first (dry run included).
  let effective = options.kubernetes !== 'none' ? effectiveLock(ctx) : undefined;
  if (effective && options.kubernetes === 'auto') {
    const auto = await resolveAutoKubernetes(effective, flags, ctx);
    options = auto.options;
    effective = auto.effective;
    if (auto.why) ctx.progress.warn(autoLeftOutLine(auto.why));
    const before = readClusterRecord(clusterPaths(options.prefix, ctx.places).specFile);
    if (!auto.why && before && clusterKubernetes(before) === 'none') {
      // M2: auto keeps a cluster that is up without Kubernetes as it is, and says how to get Kubernetes now.
      ctx.progress.warn(kubernetesNowLine(before.prefix, options.kubernetes));
      options = resolveClusterOptions({ ...flags, kubernetes: 'none' }, ctx.env);
    }
  } else if (effective && options.kubernetes !== 'none') {
    // A version the lock does not pin is bad input, named with the ones it pins, dry run or not.
    kubernetesVersion(effective.lock, options.kubernetes);
    if (request.kind === 'named') {
      // A restore needs no artefacts: its image has them.
    } else if (!flags.dryRun) effective = await lockForUse(effective, [options.kubernetes], sources, ctx, `--kubernetes ${options.kubernetes}`, WAYS_ON.up);
    else {
      // A dry run records what it can and plans the rest; the plan says the preflight would stop up.
      const first = await resolveForUse(effective, [options.kubernetes], sources, ctx);
      effective = first.effective;
      if (first.failed.length) ctx.progress.warn(`--kubernetes ${options.kubernetes}: ${first.failed.length} value(s) could not be looked up (first: ${first.failed[0]?.name}: ${first.failed[0]?.why}); up would stop before anything starts`);
    }
  }
  const lock = effective?.lock;
  const { timeoutS, artifacts } = settings;
  const owner = currentOwner(ctx.places);
  const paths = clusterPaths(options.prefix, ctx.places);
  // A snapshot is settled first: a restore needs no Kubernetes artefacts (its image has them).
  const decision = await decideSnapshot(request, options, readClusterRecord(paths.specFile), lock, ctx, flags.dryRun);
  if (flags.dryRun) {
    ctx.out(dryRunPlan(options, flags, settings, ctx, owner, decision.manifest, inventory));
    return ExitCode.ok;
  }
  const existing = decision.existing;
  const restoring = decision.manifest;
  const kubernetes = lock && options.kubernetes !== 'none' && !restoring ? await kubernetesPreflight(lock, options.kubernetes, flags, ctx) : undefined;
  if (!inventory) requireHostTools((existing ? existing.registryPort !== undefined : options.registry) ? [...TOOLS_FOR_UP, 'docker-registry'] : TOOLS_FOR_UP, ctx.env.PATH ?? '');
  if (existing) checkCompatible(existing, options);
  const provider = providerFor({ provider: options.provider });
  // What only the provider's tools can judge (QEMU reading --qemu-args) is refused before the lock and the record.
  const refusal = await provisionerFor(options.provider).inputRefusal?.(options);
  if (refusal) {
    const via = pick(refusal.option, flags, ctx.env).via;
    throw new UsageError(`${via}: ${refusal.reason}; correct it, or leave ${via} out`);
  }

  let release = takeLock(paths);
  if (decision.removeFirst) {
    // Only now, holding the lock: a restore still running keeps it, and this up stopped above.
    await provider.deleteCluster(options.prefix, { graceful: false, places: ctx.places });
    release = takeLock(paths);
  }
  // The whole up stops on Ctrl-C or when --timeout runs out; only Ctrl-C removes the cluster.
  const timer = new AbortController();
  const timeout = timeoutS === undefined ? undefined : setTimeout(() => timer.abort(), timeoutS * 1000);
  const signal = AbortSignal.any([ctx.signal, timer.signal]);
  const stepCtx: CommandContext = { ...ctx, signal };
  const upCtx: UpContext = newUpContext(options, settings, ctx, owner, {
    host: createLocalRunner(),
    signal,
    ...(existing ? { record: existing } : {}),
    ...(kubernetes ? { kubernetes } : {}),
    ...(restoring ? { restore: restoreContext(restoring, decision.contentsChecked) } : {}),
    ...(inventory ? { inventory } : {}),
  });
  ctx.progress.info(
    `dpdkci up: cluster "${options.prefix}", ${provisionerFor(options.provider).describe(upCtx)}, hugepages ${options.hugepages2m}x2M ${options.hugepages1g}x1G` +
      (options.dpdk ? ', OVS-DPDK' : ', no dataplane (add --dpdk for OVS-DPDK)') +
      (options.kubernetes !== 'none' ? `, Kubernetes ${options.kubernetes}` : ', no Kubernetes (--kubernetes none)') +
      (restoring ? `, restored from snapshot "${restoring.name}"` : ''),
  );
  const steps = provisionerFor(options.provider).upSteps(upCtx);
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
      check = await checkCluster(record, upCtx.nodes ?? [], { ...settings.check, freshNodes: result.applied.includes('prepare cluster') }, stepCtx, true);
      if (!check.ok) throw new DpdkciError(`the dataplane check failed:\n${renderCheck(check)}`);
      result.applied.push(CHECK_STEP);
    }
    // A restore is marked complete; --snapshot auto's full up is saved (after its check).
    const finished = await finishUp(upCtx, decision, stepCtx);
    if (flags.output === 'json') {
      ctx.out(
        JSON.stringify(
          {
            ...statusJson(record, await providerFor(record).listNodes(record, ctx.places), ctx.places),
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
    ctx.out(renderStatus(record, await providerFor(record).listNodes(record, ctx.places)));
    if (check) ctx.out(`\n${renderCheck(check)}`);
    ctx.out('\nwhere the time went:\n' + timingTable(ctx.progress.timings));
    for (const line of finished.lines) ctx.out(`\n${line}`);
    if (result.applied.length === 0) {
      ctx.out(`\ncluster "${options.prefix}" is up and healthy; nothing changed`);
    } else {
      ctx.out(`\ncluster "${options.prefix}" is up: dpdkci ssh ${record.nodes[0]?.name ?? 'node01'} --prefix ${options.prefix}`);
    }
    return ExitCode.ok;
  } catch (caught) {
    if (caught instanceof SaveInterrupted) throw caught;
    const ran = new Set(ctx.progress.timings.map((t) => t.name));
    setNotReached([...steps.filter((s) => !ran.has(s.name) && (!s.enabled || s.enabled(upCtx))).map((s) => s.name), ...(checking && !ran.has(CHECK_STEP) ? [CHECK_STEP] : [])]);
    if (inventory && !existing && caught instanceof UsageError && !ctx.signal.aborted) {
      // Refused before any host recorded (and so changed) anything: only the local record goes, since a
      // host that was refused may not even be reachable. Refused later: each host undoes what it recorded.
      if (!ran.has(recordHostState.name)) rmSync(clusterPaths(options.prefix, ctx.places).dir, { recursive: true, force: true });
      else await provider.deleteCluster(options.prefix, { graceful: false, places: ctx.places });
      throw caught;
    }
    if (ctx.signal.aborted || (restoring && caught instanceof UsageError)) {
      if (!ctx.signal.aborted) {
        ctx.progress.warn('the snapshot was refused: stopping the nodes that loaded it and removing the cluster');
        await provider.deleteCluster(options.prefix, { graceful: false, places: ctx.places });
        throw caught;
      }
      ctx.progress.warn(inventory ? 'interrupted: undoing on each host what was changed, as down does' : 'interrupted: stopping what was started and removing the cluster');
      await provider.deleteCluster(options.prefix, { graceful: false, places: ctx.places });
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
        const logs = await collectLogs(readClusterRecord(paths.specFile) as ClusterRecord, dir, ctx.places);
        step.end('done', logs.map((l) => `${l.node}: ${l.files.length} file(s)${l.missing ? ` (${l.missing})` : ''}`).join('; '));
      } catch (e) {
        step.end('failed', (e as Error).message);
      }
    }
    // A cluster this up made none of whose nodes started holds nothing to inspect, and its record would
    // only stand in the way of the next up (which compares its options with it). An inventory's machines
    // ran before this up and run after it: their failures keep the cluster, as above.
    const neverStarted = !inventory && !existing && !restoring && upCtx.booted.size === 0 && !(await anyNodeRuns(provider, paths.specFile, ctx));
    if (flags.cleanupOnFailure || !existsSync(paths.specFile) || neverStarted) {
      await provider.deleteCluster(options.prefix, { graceful: false, places: ctx.places });
      if (flags.cleanupOnFailure) ctx.progress.warn('up failed; the cluster was removed (--cleanup-on-failure)');
      else if (neverStarted) ctx.progress.warn(`up failed before any node of the new cluster "${options.prefix}" started; it is not kept, so the same up starts over`);
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
