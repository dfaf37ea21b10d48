import { existsSync, mkdirSync, openSync, closeSync, writeSync, readFileSync, rmSync } from 'node:fs';
import { resolveClusterOptions, type ClusterOptions, type RawFlags } from '../../core/config.js';
import { readClusterRecord, type ClusterRecord } from '../../core/cluster.js';
import { DpdkciError, ExitCode, InterruptedError, UsageError } from '../../core/errors.js';
import { requireHostTools, TOOLS_FOR_UP } from '../../core/host-tools.js';
import { cacheRoot, clusterPaths, type ClusterPaths } from '../../core/paths.js';
import { runPipeline, type Step } from '../../core/pipeline.js';
import { timingTable } from '../../core/progress.js';
import { nodeImageRecipe } from '../../image/provision.js';
import { isAlive } from '../../../providers/qemu/processes.js';
import { deleteCluster, listNodes } from '../../../providers/qemu/provider.js';
import { bootNodes } from '../../steps/boot-nodes/index.js';
import { chooseAcceleratorStep } from '../../steps/choose-accelerator/index.js';
import type { UpContext } from '../../steps/context.js';
import { prepareCluster } from '../../steps/prepare-cluster/index.js';
import { provisionImage } from '../../steps/provision-image/index.js';
import { startSwitchStep } from '../../steps/start-switch/index.js';
import { waitForSshStep } from '../../steps/wait-for-ssh/index.js';
import { connectNodesStep } from '../../steps/connect-nodes/index.js';
import { pushNodeScripts } from '../../steps/push-node-scripts/index.js';
import { dataplaneSteps, planFor } from '../../steps/dataplane/index.js';
import { writeClusterRecord } from '../../core/cluster.js';
import type { CommandContext } from '../context.js';
import { renderStatus, statusJson } from './status.js';
import { checkCluster, checkOptions } from './check.js';
import { renderCheck, type CheckReport } from '../../dataplane/check.js';

export interface UpFlags extends RawFlags {
  debianMirror?: string;
  rebuild?: boolean;
  bootTimeout?: string;
  cleanupOnFailure?: boolean;
  output?: string;
  skipCheck?: boolean;
}

export function upSteps(): Step<UpContext>[] {
  return [
    provisionImage,
    chooseAcceleratorStep,
    prepareCluster,
    startSwitchStep,
    bootNodes,
    waitForSshStep,
    connectNodesStep,
    pushNodeScripts,
    ...dataplaneSteps,
  ];
}

const COMPARED: (keyof ClusterOptions)[] = ['memoryMiB', 'cpus', 'hugepages2m', 'hugepages1g', 'secondaryNics', 'kernelArgs', 'qemuArgs', 'vhostSocketDir'];

/** An existing cluster can grow by nodes; any other difference needs a `down` first. */
export function checkCompatible(record: ClusterRecord, options: ClusterOptions): void {
  for (const key of COMPARED) {
    const was = JSON.stringify(record.options[key]);
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
      const holder = Number(readFileSync(paths.lockFile, 'utf8'));
      if (holder && isAlive(holder)) {
        throw new UsageError(`another dpdkci (pid ${holder}) is working on this cluster; wait for it or stop it`);
      }
      rmSync(paths.lockFile, { force: true });
    }
  }
  throw new DpdkciError(`could not take the lock ${paths.lockFile}`);
}

export async function runUp(flags: UpFlags, ctx: CommandContext): Promise<number> {
  // Everything that can be wrong with the input is found here, before anything starts.
  if (flags.output !== undefined && flags.output !== 'json' && flags.output !== 'table') {
    throw new UsageError(`-o/--output: "${flags.output}" is not an output format; use json or table`);
  }
  const options = resolveClusterOptions(flags, ctx.env);
  const bootTimeoutS = flags.bootTimeout === undefined ? 600 : Number(flags.bootTimeout);
  if (!Number.isInteger(bootTimeoutS) || bootTimeoutS < 10) {
    throw new UsageError(`--boot-timeout: "${flags.bootTimeout}" is not a number of seconds (at least 10); e.g. --boot-timeout 300`);
  }
  requireHostTools(TOOLS_FOR_UP);
  const paths = clusterPaths(options.prefix, ctx.env);
  const existing = readClusterRecord(paths.specFile);
  if (existing) checkCompatible(existing, options);

  const release = takeLock(paths);
  const upCtx: UpContext = {
    options,
    env: ctx.env,
    paths,
    cacheRoot: cacheRoot(ctx.env),
    recipe: nodeImageRecipe(),
    mirrorFlag: flags.debianMirror,
    rebuild: Boolean(flags.rebuild),
    bootTimeoutMs: bootTimeoutS * 1000,
    signal: ctx.signal,
    progress: ctx.progress,
    record: existing,
    bootSeconds: {},
    booted: new Set(),
  };
  ctx.progress.info(
    `dpdkci up: cluster "${options.prefix}", ${options.nodes} node(s), ${options.cpus} vCPU, ${options.memoryMiB} MiB, hugepages ${options.hugepages2m}x2M ${options.hugepages1g}x1G` +
      (options.dpdk ? ', OVS-DPDK' : ', no dataplane (add --dpdk for OVS-DPDK)'),
  );
  try {
    const result = await runPipeline(upSteps(), upCtx, ctx.progress, ctx.signal);
    const record = upCtx.record as ClusterRecord;
    if (options.dpdk && JSON.stringify(record.dataplane) !== JSON.stringify(planFor(upCtx))) {
      record.dataplane = planFor(upCtx);
      writeClusterRecord(paths.specFile, record);
    }
    // Traffic proves the dataplane; an unchanged cluster whose last check passed is not checked again.
    let check: CheckReport | undefined;
    if (options.dpdk && !flags.skipCheck && (result.applied.length > 0 || !record.lastCheck?.ok)) {
      check = await checkCluster(record, upCtx.nodes ?? [], checkOptions({}), ctx);
      if (!check.ok) throw new DpdkciError(`the dataplane check failed:\n${renderCheck(check)}`);
      result.applied.push('check dataplane traffic');
    }
    if (flags.output === 'json') {
      ctx.out(
        JSON.stringify(
          { ...statusJson(record, listNodes(record), ctx.env), changed: result.applied.length > 0, applied: result.applied, timings: ctx.progress.timings, bootSeconds: upCtx.bootSeconds, check: check ?? null },
          null,
          2,
        ),
      );
      return ExitCode.ok;
    }
    ctx.out(renderStatus(record, listNodes(record)));
    if (check) ctx.out(`\n${renderCheck(check)}`);
    ctx.out('\nwhere the time went:\n' + timingTable(ctx.progress.timings));
    if (result.applied.length === 0) {
      ctx.out(`\ncluster "${options.prefix}" is up and healthy; nothing changed`);
    } else {
      ctx.out(`\ncluster "${options.prefix}" is up: dpdkci ssh node01 --prefix ${options.prefix}`);
    }
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof InterruptedError || ctx.signal.aborted) {
      ctx.progress.warn('interrupted: stopping what was started and removing the cluster');
      await deleteCluster(options.prefix, { graceful: false, env: ctx.env });
      throw new InterruptedError('up interrupted; the cluster was removed');
    }
    if (flags.cleanupOnFailure || !existsSync(paths.specFile)) {
      await deleteCluster(options.prefix, { graceful: false, env: ctx.env });
      if (flags.cleanupOnFailure) ctx.progress.warn('up failed; the cluster was removed (--cleanup-on-failure)');
    } else {
      ctx.progress.warn(
        `up failed; the cluster is left as it is for inspection (dpdkci status/ssh --prefix ${options.prefix}); remove it with dpdkci down --prefix ${options.prefix}`,
      );
    }
    throw error;
  } finally {
    await Promise.all((upCtx.nodes ?? []).map((n) => n.runner.close()));
    release();
  }
}
