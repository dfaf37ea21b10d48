import { writeClusterRecord, type ClusterRecord } from '../../core/cluster.js';
import { InterruptedError } from '../../core/errors.js';
import { providerFor } from '../providers.js';
import { snapshotsOf } from './snapshot.js';
import { rmSync } from 'node:fs';
import { snapshotDir } from '../../snapshot/store.js';
import type { UpContext } from '../../steps/context.js';
import type { CommandContext } from '../context.js';
import type { SnapshotDecision } from './up-snapshot.js';

/** Ctrl-C (or --timeout) while --snapshot auto saved a cluster that is up: up stops, and keeps the cluster. */
export class SaveInterrupted extends InterruptedError {
  constructor() {
    super('interrupted while saving the snapshot; the cluster is up and kept, and no snapshot was saved');
  }
}

export interface Finished {
  /** Added to `up -o json`. */
  json: { restored: { snapshot: string; loadSeconds: Record<string, number>; clockSkewSeconds: Record<string, number> } | null; snapshotSaved: string | null };
  /** Said after the timing table. */
  lines: string[];
}

/**
 * After the steps and the check: a restored cluster is marked complete (from now on it is a cluster like
 * any other), and under --snapshot auto a full up's cluster is saved. A save that fails leaves the
 * cluster up and says why: the next run then does a full up again.
 */
export async function finishUp(ctx: UpContext, decision: SnapshotDecision, cmd: CommandContext): Promise<Finished> {
  const record = ctx.record as ClusterRecord;
  const finished: Finished = { json: { restored: null, snapshotSaved: null }, lines: [] };
  if (ctx.restore && record.restoredFrom) {
    record.restoredFrom.complete = true;
    writeClusterRecord(ctx.paths.specFile, record);
    finished.json.restored = { snapshot: ctx.restore.manifest.name, loadSeconds: ctx.restore.loadSeconds, clockSkewSeconds: ctx.restore.clockSkew };
    const saved = ctx.restore.manifest.record.lastCheck;
    finished.lines.push(
      `restored from snapshot "${ctx.restore.manifest.name}" (saved ${ctx.restore.manifest.createdAt} from cluster "${ctx.restore.manifest.sourcePrefix}")` +
        (record.dataplane ? `; its dataplane passed its check at ${saved?.at ?? '?'} before the save, and \`dpdkci check --prefix ${record.prefix}\` checks it again` : ''),
    );
  }
  if (!ctx.restore && record.restoredFrom && !record.restoredFrom.complete) {
    // A restore that failed and was then brought up by a plain up is a cluster like any other now.
    record.restoredFrom.complete = true;
    writeClusterRecord(ctx.paths.specFile, record);
  }
  if (decision.saveAfter) {
    try {
      const snapshots = snapshotsOf(providerFor(record), '--snapshot auto', record.prefix);
      const name = await snapshots.autoName(record);
      // auto found no usable snapshot: one of this name is damaged or short, and is replaced.
      rmSync(snapshotDir(name, ctx.places), { recursive: true, force: true });
      const saved = await snapshots.save(record, name, { places: ctx.places, progress: ctx.progress, signal: cmd.signal });
      finished.json.snapshotSaved = name;
      finished.lines.push(`saved as snapshot "${name}" (${(saved.bytes / 2 ** 20).toFixed(0)} MiB, ${saved.seconds} s): the next up with these options restores it`);
    } catch (e) {
      // The cluster is up and checked: an interrupted save keeps it (the nodes were resumed).
      if (cmd.signal.aborted) throw new SaveInterrupted();
      ctx.progress.warn(`--snapshot auto: the cluster is up, but saving it failed: ${(e as Error).message}`);
    }
  }
  return finished;
}
