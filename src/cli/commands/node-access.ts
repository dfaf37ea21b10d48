import { readClusterRecord, type ClusterRecord, type NodeRecord } from '../../core/cluster.js';
import { resolvePrefix } from '../../core/config.js';
import { UsageError } from '../../core/errors.js';
import { pick } from '../../core/option-table.js';
import { clusterPaths } from '../../core/paths.js';
import type { Places } from '../../core/places.js';

/** The cluster record; a cluster that does not exist is bad input (exit 2), named with the fix. */
export function requireCluster(prefixFlag: string | undefined, env: NodeJS.ProcessEnv, places: Places): ClusterRecord {
  const prefix = resolvePrefix(prefixFlag, env);
  const record = readClusterRecord(clusterPaths(prefix, places).specFile);
  if (!record) {
    // Named by where the prefix came from (--prefix, its variable or the default), like every other bad input.
    const via = pick('prefix', { prefix: prefixFlag }, env).via;
    throw new UsageError(`${via}: cluster "${prefix}" does not exist; create it with dpdkci up --prefix ${prefix}, or name a cluster that exists (dpdkci status --prefix NAME)`);
  }
  return record;
}

export function requireNode(record: ClusterRecord, name: string, option = 'NODE'): NodeRecord {
  const node = record.nodes.find((n) => n.name === name);
  if (!node) {
    throw new UsageError(`${option}: "${name}" is not a node of cluster ${record.prefix}; its nodes are ${record.nodes.map((n) => n.name).join(', ')}`);
  }
  return node;
}
