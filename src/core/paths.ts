import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import type { Places } from './places.js';
import { fileURLToPath } from 'node:url';

/**
 * The project checkout (holds images/, scripts/, manifests/): the nearest directory above this file
 * whose package.json is dpdkci's, whether this runs compiled (dist/src/core) or from source (src/core).
 */
function findProjectRoot(start: string): string {
  for (let dir = start; dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dpdkci') return dir;
  }
  throw new Error(`dpdkci: no package.json of dpdkci above ${start}`);
}

export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

export function stateRoot(places: Places): string {
  return places.stateRoot;
}

export function cacheRoot(places: Places): string {
  return places.cacheRoot;
}

/** Downloaded outside artefacts (Kubernetes binaries, manifests), by checksum. */
export function artefactCache(places: Places): string {
  return join(cacheRoot(places), 'artefacts');
}

/** Where one cluster keeps everything it owns on the host; `down` removes the whole directory. */
export interface ClusterPaths {
  dir: string;
  specFile: string;
  sshDir: string;
  privateKey: string;
  publicKey: string;
  knownHosts: string;
  switchDir: string;
  switchPid: string;
  nodesDir: string;
  lockFile: string;
  /** The cluster admin's kubeconfig, its server the API port forwarded on 127.0.0.1 (mode 0600). */
  kubeconfig: string;
}

export function clusterPaths(prefix: string, places: Places): ClusterPaths {
  const dir = join(stateRoot(places), 'clusters', prefix);
  return {
    dir,
    specFile: join(dir, 'cluster.json'),
    sshDir: join(dir, 'ssh'),
    privateKey: join(dir, 'ssh', 'id_ed25519'),
    publicKey: join(dir, 'ssh', 'id_ed25519.pub'),
    knownHosts: join(dir, 'ssh', 'known_hosts'),
    switchDir: join(dir, 'switch'),
    switchPid: join(dir, 'switch.pid'),
    nodesDir: join(dir, 'nodes'),
    lockFile: join(dir, 'up.lock'),
    kubeconfig: join(dir, 'kubeconfig'),
  };
}

export interface NodePaths {
  dir: string;
  disk: string;
  qmp: string;
  pid: string;
  console: string;
  /** QEMU's own log and, once daemonized, its stderr (-D): where an assertion or abort message lands. */
  qemuLog: string;
  seedDir: string;
  info: string;
}

export function nodePaths(cluster: ClusterPaths, name: string): NodePaths {
  const dir = join(cluster.nodesDir, name);
  return {
    dir,
    disk: join(dir, 'disk.qcow2'),
    qmp: join(dir, 'qmp.sock'),
    pid: join(dir, 'qemu.pid'),
    console: join(dir, 'console.log'),
    qemuLog: join(dir, 'qemu.log'),
    seedDir: join(dir, 'seed'),
    info: join(dir, 'node.json'),
  };
}

export function nodeName(index: number): string {
  return `node${String(index).padStart(2, '0')}`;
}
