import type { Node } from '../exec/runner.js';
import { judge, dpdk0Delta, checkMac, type CheckOptions, type CheckReport, type PathResult } from './check-report.js';
import { nodeScriptPath } from '../node-scripts/scripts.js';
import type { DataplanePlan } from '../core/dataplane-limits.js';
import type { PlannedAction } from '../core/pipeline.js';
import { remoteCommand } from '../exec/ssh-runner.js';
import { longestGapSeconds, parseTestpmd, type TestpmdRun } from './testpmd-stats.js';

const CHECK = nodeScriptPath('dpdk-check.sh');

async function logsOf(node: Node, output: string): Promise<string> {
  const ovs = await node.runner.run(['tail', '-n', '6', '/var/log/openvswitch/ovs-vswitchd.log'], { check: false });
  const testpmd = output.trimEnd().split('\n').slice(-6).join('\n');
  return `${node.name} ovs-vswitchd.log:\n${ovs.stdout.trimEnd()}\n${node.name} testpmd:\n${testpmd}`;
}

interface NodeRun {
  output: string;
  run: TestpmdRun;
  /** Why the run itself failed (the script's exit and last words), if it did. */
  failure?: string;
}

async function runOn(node: Node, argv: string[], seconds: number): Promise<NodeRun> {
  const r = await node.runner.run([CHECK, ...argv], { check: false, timeoutMs: (seconds + 90) * 1000 });
  const output = `${r.stdout}${r.stderr}`;
  const failure = r.exitCode === 0 ? undefined : `${node.name}: dpdk-check.sh ${argv[0]} exited ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''}`;
  return { output, run: parseTestpmd(output), ...(failure ? { failure } : {}) };
}

/** Both directions of a node's vhost-user loop (ports 0 and 1 of the run). */
async function loopResults(node: Node, nr: NodeRun, options: CheckOptions): Promise<PathResult[]> {
  const results: PathResult[] = [];
  for (const [tx, rx, label] of [[0, 1, 'a->b'], [1, 0, 'b->a']] as const) {
    const r = withFailure(judge('vhost-user loop', `${node.name} vhost-user ${label} via OVS-DPDK`, node.name, nr.run, tx, nr.run, rx, options.maxLossPct), nr);
    if (!r.ok) r.logs = await logsOf(node, nr.output);
    results.push(r);
  }
  return results;
}

/** A run that failed fails its paths, whatever the counters say. */
function withFailure(result: PathResult, ...runs: NodeRun[]): PathResult {
  const failure = runs.map((r) => r.failure).filter(Boolean).join('; ');
  return failure ? { ...result, ok: false, reason: result.reason ? `${failure}; ${result.reason}` : failure } : result;
}

/**
 * Waits until an OVS interface on the node reports link_state up (a vhost-user peer connected); gives up
 * early when `gone()` says the run that would bring it up has ended.
 */
async function waitForLink(node: Node, iface: string, timeoutMs: number, gone: () => boolean = () => false): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gone()) {
    const r = await node.runner.run(['ovs-vsctl', '--if-exists', 'get', 'Interface', iface, 'link_state'], { check: false });
    if (r.stdout.trim() === 'up') return true;
    await new Promise((res) => setTimeout(res, 1_000));
  }
  return false;
}

/** Ends a running check testpmd the way Ctrl-C would: it prints its totals and frees its hugepages. */
async function stopTestpmd(node: Node): Promise<void> {
  await node.runner.run([CHECK, 'stop'], { check: false });
}

export async function cleanupCheck(nodes: readonly Node[], plan: DataplanePlan): Promise<void> {
  await Promise.all(nodes.map((n) => n.runner.run([CHECK, 'cleanup', plan.socketDir, plan.bridge], { check: false, timeoutMs: 60_000 })));
}

/**
 * The arguments of dpdk-check.sh for each kind of run. A run stops on the node once its ports have seen
 * `seconds` of traffic; EAL start-up under TCG takes a varying few seconds before that, so the limit
 * (runSeconds) leaves a minute for it. Nodes by index (MACs).
 */
export function checkArgv(plan: DataplanePlan, options: Pick<CheckOptions, 'seconds' | 'peerRatePps'>) {
  const runSeconds = options.seconds + 60;
  const flow = String(options.seconds);
  return {
    runSeconds,
    loop: ['loop', plan.socketDir, String(runSeconds), flow],
    peer: (self: number, other: number) => ['peer', plan.socketDir, plan.bridge, String(runSeconds + 60), checkMac(self + 1), checkMac(other + 1), String(options.peerRatePps), flow],
    /** The loop (ports 0 and 1) and the peer (port 2) in one run: a cluster of exactly two nodes. */
    both: (self: number, other: number) => ['both', plan.socketDir, plan.bridge, String(runSeconds + 60), checkMac(self + 1), checkMac(other + 1), String(options.peerRatePps), flow],
    openGate: ['gate', plan.bridge, 'open'],
    kernel: ['kernel', String(runSeconds), flow],
    cleanup: ['cleanup', plan.socketDir, plan.bridge],
  };
}

/**
 * What the check does, in order: the one schedule runCheck follows and planCheck shows. With exactly two
 * nodes, each node's loop and the pair run together (one testpmd per node, one EAL start-up, not two).
 */
export type CheckPhase =
  | { kind: 'cleanup' }
  | { kind: 'loops' }
  | { kind: 'pair'; i: number; j: number; withLoops: boolean }
  | { kind: 'kernel' }
  | { kind: 'restart' };

export function checkSchedule(count: number, options: Pick<CheckOptions, 'compareKernel' | 'freshNodes'> & { restartOvs?: boolean }): CheckPhase[] {
  const pairs: CheckPhase[] = [];
  for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) pairs.push({ kind: 'pair', i, j, withLoops: count === 2 });
  return [
    ...(options.freshNodes ? [] : [{ kind: 'cleanup' } as const]),
    ...(count === 2 ? [] : [{ kind: 'loops' } as const]),
    ...pairs,
    ...(options.compareKernel && count > 0 ? [{ kind: 'kernel' } as const] : []),
    ...(options.restartOvs && count > 0 ? [{ kind: 'restart' } as const] : []),
  ];
}

/** For `up --dry-run`: the commands runCheck runs, node by node, in its schedule's order. */
export function planCheck(names: readonly string[], plan: DataplanePlan, options: Pick<CheckOptions, 'seconds' | 'peerRatePps' | 'compareKernel' | 'freshNodes'> & { restartOvs?: boolean }): PlannedAction[] {
  const argv = checkArgv(plan, options);
  const run = (on: string, args: string[], note = '') => ({ on, verb: 'run' as const, what: `${remoteCommand([CHECK, ...args])}${note}` });
  const first = names[0] as string;
  const actions = checkSchedule(names.length, options).flatMap((phase): PlannedAction[] => {
    switch (phase.kind) {
      case 'cleanup':
        return names.map((n) => run(n, argv.cleanup));
      case 'loops':
        return names.map((n) => run(n, argv.loop, '   (all nodes at once)'));
      case 'pair': {
        const [a, b] = [names[phase.i] as string, names[phase.j] as string];
        const pair = phase.withLoops ? `each node's loop, and ${a} <-> ${b} both ways, all at once` : `${a} <-> ${b}, both ways at once`;
        const peer = phase.withLoops ? argv.both : argv.peer;
        return [
          run(a, peer(phase.i, phase.j), `   (${pair})`),
          run(b, peer(phase.j, phase.i), `   (${pair})`),
          { on: a, verb: 'wait', what: 'ovs-vsctl get Interface dpdkci-chk-p link_state is up' },
          { on: b, verb: 'wait', what: 'ovs-vsctl get Interface dpdkci-chk-p link_state is up' },
          run(a, argv.openGate, '   (both gates together; each node closes its own after the traffic time and stops once nothing more arrives)'),
          run(b, argv.openGate),
        ];
      }
      case 'kernel':
        return [run(first, argv.kernel)];
      case 'restart':
        return [{ on: first, verb: 'run', what: 'the vhost-user loop, and systemctl restart ovs-vswitchd in the middle of it' }];
    }
  });
  return [...actions, ...names.map((n) => run(n, argv.cleanup, '   (also on failure and Ctrl-C)'))];
}

/**
 * Both directions between two nodes at once (withLoops: and, in the same testpmd, each node's vhost-user
 * loop, for a cluster of two nodes). Each node runs one generator on its check port that also counts
 * what the other sends. Nothing leaves for dpdk0 until both ports are up and the host opens both gates: a
 * frame that reached a node before its port could take it would count as loss. Each node then closes its
 * own gate after the traffic time and stops once nothing more arrives, so every frame still in flight on the
 * emulated link is counted. The host stops both if they run far past that (a peer that never sent).
 */
async function runPair(a: Node, b: Node, i: number, j: number, argv: ReturnType<typeof checkArgv>, options: CheckOptions, withLoops = false): Promise<PathResult[]> {
  options.progress?.update(withLoops ? `the vhost-user loop inside each node, and ${a.name} <-> ${b.name} over dpdk0, at once` : `${a.name} <-> ${b.name} over dpdk0`);
  // In a run with the loops, the loop's ports are 0 and 1 and the peer port is 2.
  const port = withLoops ? 2 : 0;
  const peer = withLoops ? argv.both : argv.peer;
  let ended = false;
  const runs = Promise.all([runOn(a, peer(i, j), argv.runSeconds), runOn(b, peer(j, i), argv.runSeconds)]);
  void runs.finally(() => {
    ended = true;
  });
  const up = await Promise.all([a, b].map((n) => waitForLink(n, 'dpdkci-chk-p', 90_000, () => ended)));
  let backstop: NodeJS.Timeout | undefined;
  if (up.every(Boolean)) {
    await Promise.all([a, b].map((n) => n.runner.run([CHECK, ...argv.openGate], { check: false, timeoutMs: 60_000 })));
    backstop = setTimeout(() => void Promise.all([a, b].map(stopTestpmd)), (options.seconds + 45) * 1000);
  } else {
    await Promise.all([a, b].map(stopTestpmd));
  }
  const [ra, rb] = await runs.finally(() => clearTimeout(backstop));
  const results: PathResult[] = [];
  if (withLoops) {
    for (const [node, nr] of [[a, ra], [b, rb]] as const) results.push(...(await loopResults(node, nr, options)));
  }
  for (const [from, to, rf, rt] of [[a, b, ra, rb], [b, a, rb, ra]] as const) {
    const wire = dpdk0Delta(rf.output);
    const arrival = dpdk0Delta(rt.output);
    const link = { sent: wire?.tx ?? 0, arrived: arrival?.rx ?? 0, maxLinkLossPct: options.maxLinkLossPct };
    let r = withFailure(judge('node to node', `${from.name} -> ${to.name} over dpdk0`, from.name, rf.run, port, rt.run, port, options.maxLossPct, link), rf, rt);
    const missing = [!wire && from.name, !arrival && to.name].filter(Boolean);
    if (missing.length) r = { ...r, ok: false, reason: `${r.reason ? `${r.reason}; ` : ''}no dpdk0 counters from ${missing.join(' and ')}` };
    if (!up.every(Boolean)) r = { ...r, ok: false, reason: `${r.reason ? `${r.reason}; ` : ''}the check port of ${[a, b].filter((_, k) => !up[k]).map((n) => n.name).join(' and ')} never came up` };
    if (!r.ok) r.logs = `${await logsOf(from, rf.output)}\n${await logsOf(to, rt.output)}`;
    results.push(r);
  }
  return results;
}

/**
 * Passes traffic (a) inside each node, vhost-user -> OVS-DPDK -> vhost-user, and (b) between every pair of
 * nodes over dpdk0, both ways at once (one pair after another; with exactly two nodes, (a) and (b) run
 * together, one testpmd per node); optionally (c) the same generator over a
 * kernel path, and an OVS restart in the middle of traffic. Ports, processes and sockets are removed
 * afterwards, also on failure.
 */
export async function runCheck(nodes: readonly Node[], plan: DataplanePlan, options: CheckOptions): Promise<CheckReport> {
  const paths: PathResult[] = [];
  const report: CheckReport = { ok: false, seconds: options.seconds, maxLossPct: options.maxLossPct, maxLinkLossPct: options.maxLinkLossPct, peerRatePps: options.peerRatePps, paths };
  const argv = checkArgv(plan, options);
  const { runSeconds } = argv;
  try {
    for (const phase of checkSchedule(nodes.length, options)) {
      const first = nodes[0] as Node;
      switch (phase.kind) {
        case 'cleanup':
          await cleanupCheck(nodes, plan);
          break;
        case 'loops': {
          options.progress?.update('vhost-user loop inside each node');
          const loops = await Promise.all(nodes.map(async (node) => loopResults(node, await runOn(node, argv.loop, runSeconds), options)));
          paths.push(...loops.flat());
          break;
        }
        case 'pair':
          paths.push(...(await runPair(nodes[phase.i] as Node, nodes[phase.j] as Node, phase.i, phase.j, argv, options, phase.withLoops)));
          break;
        case 'kernel': {
          options.progress?.update(`${first.name}: the same traffic over veth and OVS's kernel datapath`);
          const nr = await runOn(first, argv.kernel, runSeconds);
          for (const [tx, rx, label] of [[0, 1, 'k0->k1'], [1, 0, 'k1->k0']] as const) {
            const r = withFailure(judge('kernel', `${first.name} kernel ${label} via veth + OVS kernel datapath`, first.name, nr.run, tx, nr.run, rx, options.maxLossPct), nr);
            if (!r.ok) r.logs = await logsOf(first, nr.output);
            paths.push(r);
          }
          const vhost = paths.filter((p) => p.kind === 'vhost-user loop' && p.node === first.name).map((p) => p.pps);
          const kernel = paths.filter((p) => p.kind === 'kernel').map((p) => p.pps);
          const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
          if (mean(kernel) > 0) report.vhostToKernelRatio = Math.round((mean(vhost) / mean(kernel)) * 100) / 100;
          break;
        }
        case 'restart':
          report.restart = await restartDuringTraffic(first, plan, options);
          break;
      }
    }
    report.ok = paths.every((p) => p.ok) && (report.restart?.ok ?? true);
    return report;
  } finally {
    await cleanupCheck(nodes, plan);
  }
}

/**
 * Restarts ovs-vswitchd in the middle of a vhost-user loop and measures how long traffic stopped. The loop
 * runs until the host stops it: a few seconds after both client-mode ports are up again (OVS's DPDK
 * re-initialisation takes about 10 s under TCG, and longer on a loaded host), or at its limit.
 */
async function restartDuringTraffic(node: Node, plan: DataplanePlan, options: CheckOptions): Promise<NonNullable<CheckReport['restart']>> {
  options.progress?.update(`${node.name}: restarting ovs-vswitchd in the middle of traffic`);
  const limit = 150;
  const traffic = runOn(node, ['loop', plan.socketDir, String(limit), '0'], limit);
  let ended = false;
  void traffic.finally(() => {
    ended = true;
  });
  // Traffic first: both ports up, then a few seconds of it.
  const before = (await waitForLink(node, 'dpdkci-chk-a', 60_000)) && (await waitForLink(node, 'dpdkci-chk-b', 30_000));
  if (before && !ended) {
    await new Promise((r) => setTimeout(r, 5_000));
    await node.runner.run(['systemctl', 'restart', 'ovs-vswitchd'], { timeoutMs: 120_000 });
    // The ports come back once OVS has re-initialised DPDK and its vhost-user clients have reconnected.
    if ((await waitForLink(node, 'dpdkci-chk-a', 90_000)) && (await waitForLink(node, 'dpdkci-chk-b', 30_000)) && !ended) {
      await new Promise((r) => setTimeout(r, 6_000));
    }
  }
  if (!ended) await stopTestpmd(node);
  const { output, run, failure } = await traffic;
  const samples = run.samples.get(1) ?? [];
  const { gap, resumed } = longestGapSeconds(samples);
  const flowedBefore = samples.some((s) => s.rxPps > 0);
  let reason: string | undefined;
  if (failure) reason = failure;
  else if (!flowedBefore) reason = 'no traffic flowed before the restart';
  else if (!resumed) reason = 'traffic did not resume after ovs-vswitchd restarted (client-mode ports did not reconnect)';
  if (reason) reason += `\n${await logsOf(node, output)}`;
  return { node: node.name, gapSeconds: gap, resumed, ok: reason === undefined, ...(reason ? { reason } : {}) };
}

export * from './check-report.js';
