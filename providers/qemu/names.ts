import type { ClusterRecord } from '../../src/core/cluster.js';
import { findProcesses } from './processes.js';

/** How a cluster's QEMU processes are named, and found again by that name in the process table. */

export function processName(prefix: string, node: string): string {
  return `dpdkci-${prefix}-${node}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** QEMU processes of a cluster, by node name, found in the process table (not trusted from pidfiles). */
export function nodeProcesses(prefix: string): Map<string, number> {
  const pattern = new RegExp(`^${escapeRegExp(`dpdkci-${prefix}-`)}(node\\d{2}),process=`);
  const out = new Map<string, number>();
  for (const p of findProcesses((argv) => /qemu-system/.test(argv[0] ?? ''))) {
    const i = p.argv.indexOf('-name');
    const m = i >= 0 ? pattern.exec(p.argv[i + 1] ?? '') : null;
    if (m?.[1]) out.set(m[1], p.pid);
  }
  return out;
}

/** The accelerator of a QEMU cluster's record; a record of machines dpdkci did not boot has none. */
export function qemuAccel(record: Pick<ClusterRecord, 'accel' | 'prefix'>): 'kvm' | 'tcg' {
  if (record.accel === 'none') throw new Error(`internal: cluster "${record.prefix}" has no QEMU nodes`);
  return record.accel;
}
