// Which provider each cluster directory of this machine belongs to, read from its record, so that each
// provider lists only its own clusters (kind's ListClusters) and never judges another's.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readClusterRecord, type ClusterRecord } from '../core/cluster.js';
import { clusterPaths, stateRoot } from '../core/paths.js';
import type { Places } from '../core/places.js';

export interface ClusterDir {
  prefix: string;
  /** Its record, or undefined when the directory has none (an up that died before writing it). */
  record?: ClusterRecord;
  /** The record's provider; a record from before providers were named is QEMU's. 'unreadable' when it cannot be parsed. */
  provider?: ClusterRecord['provider'] | 'unreadable';
}

export function clusterDirs(places: Places): ClusterDir[] {
  const root = join(stateRoot(places), 'clusters');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .map((prefix) => {
      let record: ClusterRecord | undefined;
      try {
        record = readClusterRecord(clusterPaths(prefix, places).specFile);
      } catch {
        // A damaged record is nobody's to reap: only `down --prefix` removes it.
        return { prefix, provider: 'unreadable' as const };
      }
      return record ? { prefix, record, provider: record.provider ?? 'qemu' } : { prefix };
    });
}

/** The prefixes whose record names this provider; withoutRecord: also directories that have no record. */
export function clustersOf(name: ClusterRecord['provider'], places: Places, withoutRecord = false): ClusterDir[] {
  return clusterDirs(places).filter((d) => d.provider === name || (withoutRecord && d.provider === undefined));
}
