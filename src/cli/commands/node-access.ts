import { readClusterRecord, type ClusterRecord, type NodeRecord } from '../../core/cluster.js';
import { resolvePrefix } from '../../core/config.js';
import { DpdkciError, UsageError } from '../../core/errors.js';
import { clusterPaths } from '../../core/paths.js';
import type { Places } from '../../core/places.js';

/** The cluster record, or a clear error when the cluster does not exist. */
export function requireCluster(prefixFlag: string | undefined, env: NodeJS.ProcessEnv, places: Places): ClusterRecord {
  const prefix = resolvePrefix(prefixFlag, env);
  const record = readClusterRecord(clusterPaths(prefix, places).specFile);
  if (!record) throw new DpdkciError(`cluster "${prefix}" does not exist; create it with dpdkci up --prefix ${prefix}`);
  return record;
}

export function requireNode(record: ClusterRecord, name: string, option = 'NODE'): NodeRecord {
  const node = record.nodes.find((n) => n.name === name);
  if (!node) {
    throw new UsageError(`${option}: "${name}" is not a node of cluster ${record.prefix}; its nodes are ${record.nodes.map((n) => n.name).join(', ')}`);
  }
  return node;
}
