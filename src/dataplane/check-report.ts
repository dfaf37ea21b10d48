import { formatTable } from '../core/table.js';
import type { ProgressStep } from '../core/progress.js';
import { steadyRxPps, type TestpmdRun } from './testpmd-stats.js';

/** What the dataplane check found: the result of each path, judged against the thresholds, and its table. */

export type PathKind = 'vhost-user loop' | 'node to node' | 'kernel';

/** One direction of one path, with what was sent, received and how fast. */
export interface PathResult {
  kind: PathKind;
  name: string;
  node: string;
  /** Packets that left: the generator's count, or for node to node what the sender's dpdk0 transmitted. */
  sent: number;
  /** Node to node: what the generator offered; above what the emulated NIC can send, OVS drops the rest. */
  offered?: number;
  received: number;
  /** Node to node: what reached the receiver's dpdk0 (its OVS counter). */
  arrived?: number;
  /** Node to node: lost between the sender's dpdk0 and the receiver's, on the emulated wire. */
  linkLossPct?: number;
  pps: number;
  /** Loss inside OVS-DPDK: of what entered (node to node: what reached dpdk0), what did not come out. */
  lossPct: number;
  ok: boolean;
  reason?: string;
  /** Last lines of OVS's and testpmd's logs, when the path failed. */
  logs?: string;
}

export interface CheckReport {
  ok: boolean;
  seconds: number;
  maxLossPct: number;
  maxLinkLossPct: number;
  peerRatePps: number;
  paths: PathResult[];
  /** vhost-user loop pps / kernel path pps, same generator and packet size (with --compare-kernel). */
  vhostToKernelRatio?: number;
  restart?: { node: string; gapSeconds: number; resumed: boolean; ok: boolean; reason?: string };
}

export interface CheckOptions {
  seconds: number;
  /** Node to node: police the sender to this many packets per second (0: as fast as it goes). */
  peerRatePps: number;
  maxLossPct: number;
  /** Node to node: loss on the emulated link between two QEMU processes, judged on its own. */
  maxLinkLossPct: number;
  compareKernel: boolean;
  restartOvs: boolean;
  /** Nodes of a cluster made by this very `up`: no earlier check can have left anything to clean first. */
  freshNodes?: boolean;
  progress?: ProgressStep;
}

/** A locally administered MAC for the check port of node index i. */
export function checkMac(index: number): string {
  return `02:dc:01:00:00:${index.toString(16).padStart(2, '0')}`;
}

/** dpdk0's transmitted and received packets during a run, from the "@@dpdk0 before/after" lines. */
export function dpdk0Delta(output: string): { tx: number; rx: number } | undefined {
  const read = (label: string) => {
    const m = new RegExp(`@@dpdk0 ${label} tx=(\\d+) rx=(\\d+)`).exec(output);
    return m ? { tx: Number(m[1]), rx: Number(m[2]) } : undefined;
  };
  const before = read('before');
  const after = read('after');
  return before && after ? { tx: after.tx - before.tx, rx: after.rx - before.rx } : undefined;
}

const pct = (lost: number, of: number) => (of > 0 ? Math.max(0, Math.round((lost / of) * 10_000) / 100) : 100);

/**
 * Judges one direction: traffic must have flowed and the loss stay under the threshold. For node to node,
 * `link` has what the sender's dpdk0 put on the wire and what reached the receiver's dpdk0: OVS-DPDK's own
 * loss is then from the receiver's dpdk0 to its vhost-user port, and the emulated wire between the two QEMU
 * processes (a userspace switch, starved of CPU under TCG) is judged on its own, more loosely.
 */
export function judge(
  kind: PathKind,
  name: string,
  node: string,
  run: TestpmdRun,
  txPort: number,
  rxRun: TestpmdRun,
  rxPort: number,
  maxLossPct: number,
  link?: { sent: number; arrived: number; maxLinkLossPct: number },
): PathResult {
  const generated = run.totals.get(txPort)?.txPackets ?? run.samples.get(txPort)?.at(-1)?.txPackets ?? 0;
  const sent = link?.sent ?? generated;
  const received = rxRun.totals.get(rxPort)?.rxPackets ?? rxRun.samples.get(rxPort)?.at(-1)?.rxPackets ?? 0;
  const pps = steadyRxPps(rxRun.samples.get(rxPort) ?? []);
  const entered = link ? link.arrived : sent;
  const lossPct = pct(entered - received, entered);
  const linkLossPct = link ? pct(link.sent - link.arrived, link.sent) : undefined;
  let reason: string | undefined;
  if (sent === 0) reason = 'nothing was sent: the vhost-user link never came up';
  else if (link && link.arrived === 0) reason = `${sent} packets left the sender's dpdk0, none reached the receiver's`;
  else if (received === 0) reason = `${sent} packets sent, none received`;
  else if (lossPct > maxLossPct) {
    reason = link
      ? `${lossPct}% of the ${entered} packets that reached dpdk0 were not delivered to the vhost-user port (threshold ${maxLossPct}%)`
      : `${lossPct}% of ${sent} packets lost (threshold ${maxLossPct}%)`;
  } else if (link && (linkLossPct as number) > link.maxLinkLossPct) {
    reason = `${linkLossPct}% of ${sent} packets lost on the emulated link between the nodes (threshold ${link.maxLinkLossPct}%, --max-link-loss)`;
  }
  return {
    kind,
    name,
    node,
    sent,
    ...(link ? { offered: generated, arrived: link.arrived, linkLossPct } : {}),
    received,
    pps,
    lossPct,
    ok: reason === undefined,
    ...(reason ? { reason } : {}),
  };
}

export function renderCheck(report: CheckReport): string {
  const rows = [
    ['PATH', 'OFFERED', 'SENT', 'ARRIVED', 'RECEIVED', 'PPS', 'LOSS', 'LINK LOSS', 'RESULT'],
    ...report.paths.map((p) => [
      p.name,
      String(p.offered ?? p.sent),
      String(p.sent),
      p.arrived === undefined ? '-' : String(p.arrived),
      String(p.received),
      String(p.pps),
      `${p.lossPct}%`,
      p.linkLossPct === undefined ? '-' : `${p.linkLossPct}%`,
      p.ok ? 'ok' : `FAIL: ${p.reason}`,
    ]),
  ];
  const lines = [formatTable(rows)];
  if (report.paths.some((p) => p.offered !== undefined)) {
    lines.push(
      `node to node: SENT is what the sender's dpdk0 put on the link` +
        (report.peerRatePps > 0 ? ` (policed to ${report.peerRatePps} pps, --peer-rate)` : ' (unpoliced, --peer-rate 0)') +
        `, ARRIVED what reached the receiver's dpdk0; LOSS is OVS-DPDK's (ARRIVED to RECEIVED, at most ${report.maxLossPct}%), ` +
        `LINK LOSS the emulated wire's (SENT to ARRIVED, at most ${report.maxLinkLossPct}%)`,
    );
  }
  if (report.vhostToKernelRatio !== undefined) lines.push(`vhost-user / kernel path: ${report.vhostToKernelRatio}x (same generator, 64-byte packets)`);
  if (report.restart) {
    lines.push(
      `ovs-vswitchd restart on ${report.restart.node}: ${report.restart.ok ? `traffic resumed after a ${report.restart.gapSeconds}s gap` : `FAIL: ${report.restart.reason}`}`,
    );
  }
  for (const p of report.paths.filter((x) => x.logs)) lines.push(`\n${p.name}:\n${p.logs}`);
  return lines.join('\n');
}
