import type { ClusterRecord } from '../../core/cluster.js';
import type { Node } from '../../exec/runner.js';
import { writeClusterRecord } from '../../core/cluster.js';
import { DpdkciError, ExitCode, InterruptedError, UsageError } from '../../core/errors.js';
import { clusterPaths } from '../../core/paths.js';
import { cleanupCheck, renderCheck, runCheck, type CheckOptions, type CheckReport } from '../../dataplane/check.js';
import { connectNodes } from '../../provider/connect.js';
import { pushScriptsTo } from '../../node-scripts/scripts.js';
import type { CommandContext } from '../context.js';
import { requireCluster } from './node-access.js';
import { checkOutputFormat } from '../output.js';

export interface CheckFlags {
  prefix?: string;
  output?: string;
  seconds?: string;
  maxLoss?: string;
  maxLinkLoss?: string;
  peerRate?: string;
  compareKernel?: boolean;
  restartOvs?: boolean;
}

/** The traffic check as a step: in `up --dpdk`'s timings and JUnit report, and `check`'s progress line. */
export const CHECK_STEP = 'check dataplane traffic';

/** `dpdkci check` measures: each path carries traffic this long by default. */
export const CHECK_SECONDS = 6;

export function checkOptions(flags: CheckFlags, secondsFlag = '--seconds', defaultSeconds = CHECK_SECONDS): Omit<CheckOptions, 'progress'> {
  const seconds = flags.seconds === undefined ? defaultSeconds : Number(flags.seconds);
  if (!Number.isInteger(seconds) || seconds < 2 || seconds > 600) {
    const example = secondsFlag.startsWith('--') ? `${secondsFlag} 10` : `${secondsFlag}=10`;
    throw new UsageError(`${secondsFlag}: "${flags.seconds}" is not a traffic time from 2 to 600 seconds (e.g. ${example})`);
  }
  const maxLossPct = flags.maxLoss === undefined ? 5 : Number(flags.maxLoss);
  if (!Number.isFinite(maxLossPct) || maxLossPct < 0 || maxLossPct > 100) {
    throw new UsageError(`--max-loss: "${flags.maxLoss}" is not a percentage from 0 to 100 (e.g. --max-loss 5)`);
  }
  const maxLinkLossPct = flags.maxLinkLoss === undefined ? 20 : Number(flags.maxLinkLoss);
  if (!Number.isFinite(maxLinkLossPct) || maxLinkLossPct < 0 || maxLinkLossPct > 100) {
    throw new UsageError(`--max-link-loss: "${flags.maxLinkLoss}" is not a percentage from 0 to 100 (e.g. --max-link-loss 20)`);
  }
  const peerRatePps = flags.peerRate === undefined ? 2000 : Number(flags.peerRate);
  if (!Number.isInteger(peerRatePps) || peerRatePps < 0 || peerRatePps > 100_000_000) {
    throw new UsageError(`--peer-rate: "${flags.peerRate}" is not a packet rate (packets per second, 0 for no limit; e.g. --peer-rate 2000)`);
  }
  return { seconds, maxLossPct, maxLinkLossPct, peerRatePps, compareKernel: Boolean(flags.compareKernel), restartOvs: Boolean(flags.restartOvs) };
}

/**
 * Runs the traffic check on connected nodes, records the outcome in the cluster record, and removes the
 * check's traces from the nodes on Ctrl-C too (through fresh connections, so the runs in flight end).
 */
export async function checkCluster(
  record: ClusterRecord,
  nodes: Node[],
  options: Omit<CheckOptions, 'progress'>,
  ctx: CommandContext,
  /** `up` has just pushed them: no need to ask each node for their hashes again. */
  scriptsCurrent = false,
): Promise<CheckReport> {
  const plan = record.dataplane;
  if (!plan) throw new DpdkciError(`cluster "${record.prefix}" has no OVS-DPDK dataplane; bring it up with --dpdk`);
  const step = ctx.progress.start(CHECK_STEP);
  const onAbort = () => {
    void connectNodes({ record, places: ctx.places }).then(async (fresh) => {
      await cleanupCheck(fresh, plan);
      await Promise.all(fresh.map((n) => n.runner.close()));
    });
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (!scriptsCurrent) await pushScriptsTo(nodes);
    const report = await runCheck(nodes, plan, { ...options, progress: step });
    if (ctx.signal.aborted) throw new InterruptedError('check interrupted; its ports and processes were removed');
    const loop = report.paths.filter((p) => p.kind === 'vhost-user loop').map((p) => p.pps);
    const failed = report.paths.filter((p) => !p.ok).map((p) => `${p.name}: ${p.reason}`);
    if (report.restart && !report.restart.ok) failed.push(`ovs-vswitchd restart on ${report.restart.node}: ${report.restart.reason}`);
    step.end(
      report.ok ? 'done' : 'failed',
      `${report.paths.filter((p) => p.ok).length}/${report.paths.length} paths ok, vhost-user loop ${Math.min(...loop)} pps`,
      failed.length ? failed.join('\n') : undefined,
    );
    record.lastCheck = { at: new Date().toISOString(), ok: report.ok };
    writeClusterRecord(clusterPaths(record.prefix, ctx.places).specFile, record);
    return report;
  } catch (e) {
    step.end('failed', ctx.signal.aborted ? 'interrupted' : undefined, ctx.signal.aborted ? 'interrupted' : (e as Error).message);
    if (ctx.signal.aborted) throw new InterruptedError('check interrupted; its ports and processes were removed');
    throw e;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

export async function runCheckCommand(flags: CheckFlags, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  const options = checkOptions(flags);
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  const nodes = await connectNodes({ record, places: ctx.places });
  try {
    const report = await checkCluster(record, nodes, options, ctx);
    ctx.out(flags.output === 'json' ? JSON.stringify(report, null, 2) : renderCheck(report));
    return report.ok ? ExitCode.ok : ExitCode.failure;
  } finally {
    await Promise.all(nodes.map((n) => n.runner.close()));
  }
}
