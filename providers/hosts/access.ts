import { readFileSync } from 'node:fs';
import type { ClusterRecord, NodeRecord } from '../../src/core/cluster.js';
import { DpdkciError } from '../../src/core/errors.js';
import type { SshTarget } from '../../src/exec/ssh-runner.js';

/** How a host of the inventory is reached: its address, the inventory's key, its pinned host keys. */

export function hostOf(node: NodeRecord): NonNullable<NodeRecord['host']> {
  if (!node.host) throw new DpdkciError(`internal: node ${node.name} has no host record`);
  return node.host;
}

/** The alias a host's key is pinned under in the cluster's known_hosts (the system ssh's HostKeyAlias). */
export function hostKeyAlias(prefix: string, name: string): string {
  return `dpdkci-hosts-${prefix}-${name}`;
}

export function hostSshTarget(record: ClusterRecord, node: NodeRecord): SshTarget {
  const h = hostOf(node);
  const [first, ...more] = h.hostKeys;
  return {
    name: node.name,
    host: h.address,
    port: node.sshPort,
    user: h.user,
    privateKey: readFileSync(h.keyFile, 'utf8'),
    hostKey: first ?? node.hostKey,
    moreHostKeys: more,
    pinHint: `set hostKey in the inventory for host "${node.name}" to`,
    sudo: h.user !== 'root',
  };
}
