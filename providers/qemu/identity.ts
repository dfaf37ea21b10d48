import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../../src/exec/runner.js';
import { clusterPaths, nodePaths, type ClusterPaths } from '../../src/core/paths.js';
import type { ClusterRecord, NodeRecord } from '../../src/core/cluster.js';
import type { SshTarget } from '../../src/exec/ssh-runner.js';
import { processName } from './names.js';
import type { Places } from '../../src/core/places.js';

/** A QEMU cluster's identity: its key pair, each node's host key, known_hosts, and how to reach a node. */

export function keygenArgv(file: string, comment: string): string[] {
  return ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file];
}

export async function generateKeyPair(host: Runner, file: string, comment: string): Promise<string> {
  if (!existsSync(file)) await host.run(keygenArgv(file, comment));
  chmodSync(file, 0o600);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

/** The cluster's own key pair and known_hosts; every file mode 0600 in a 0700 directory. */
export async function prepareClusterKeys(host: Runner, paths: ClusterPaths, prefix: string): Promise<void> {
  mkdirSync(paths.sshDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.dir, 0o700);
  chmodSync(paths.sshDir, 0o700);
  await generateKeyPair(host, paths.privateKey, `dpdkci-${prefix}`);
}

/** A node's host key, generated on the host so that it is pinned before the node first answers. */
export async function nodeHostKey(host: Runner, paths: ClusterPaths, name: string, prefix: string): Promise<string> {
  const np = nodePaths(paths, name);
  mkdirSync(np.seedDir, { recursive: true, mode: 0o700 });
  return generateKeyPair(host, join(np.seedDir, 'ssh_host_ed25519_key'), `${name}.${prefix}`);
}

export function writeKnownHosts(paths: ClusterPaths, record: ClusterRecord): void {
  const lines = record.nodes.map((n) => `${processName(record.prefix, n.name)} ${n.hostKey.split(/\s+/).slice(0, 2).join(' ')}`);
  writeFileSync(paths.knownHosts, lines.join('\n') + '\n', { mode: 0o600 });
}

export function sshTarget(record: ClusterRecord, node: NodeRecord, places: Places): SshTarget {
  const paths = clusterPaths(record.prefix, places);
  return {
    name: node.name,
    host: '127.0.0.1',
    port: node.sshPort,
    user: 'root',
    privateKey: readFileSync(paths.privateKey, 'utf8'),
    hostKey: node.hostKey,
  };
}

/** Options for the system ssh/scp clients: the cluster key, pinned host keys, no prompts. */
export function sshClientOptions(record: ClusterRecord, node: NodeRecord, places: Places): string[] {
  const paths = clusterPaths(record.prefix, places);
  return [
    '-i', paths.privateKey,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${paths.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `HostKeyAlias=${processName(record.prefix, node.name)}`,
    '-o', 'LogLevel=ERROR',
  ];
}
