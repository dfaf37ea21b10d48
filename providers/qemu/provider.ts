import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { clusterPaths, nodePaths } from '../../src/core/paths.js';
import type { ClusterRecord } from '../../src/core/cluster.js';
import { isAlive, liveHolder, readArgv, waitForExit } from './processes.js';
import { qmpCommand } from './qmp.js';
import { nodeProcesses, processName } from './names.js';
import { stopSwitch } from './switch.js';
import { registryPaths, stopRegistry } from './registry.js';
import type { DeleteReport, NodeStatus } from '../../src/provider/provider.js';
import type { Places } from '../../src/core/places.js';

export type { DeleteReport, NodeStatus } from '../../src/provider/provider.js';

/**
 * The QEMU provider's nodes as processes: found in the process table by name, stopped, and a cluster
 * deleted. Identity, launch and the wait for SSH are in identity.ts, launch.ts and wait-ssh.ts.
 */

export function listNodes(record: ClusterRecord): NodeStatus[] {
  const running = nodeProcesses(record.prefix);
  return record.nodes.map((n) => {
    const pid = running.get(n.name);
    return { name: n.name, role: n.role, state: pid ? 'running' : 'down', pid: pid ?? null, sshPort: n.sshPort, address: `127.0.0.1:${n.sshPort}` };
  });
}

/** Stops one QEMU: ACPI power-off through QMP when graceful, then SIGTERM, then SIGKILL. */
export async function stopNode(pid: number, qmpSocket: string, graceful: boolean, gracefulTimeoutMs = 30_000): Promise<'powered-off' | 'killed'> {
  if (graceful && existsSync(qmpSocket)) {
    try {
      await qmpCommand(qmpSocket, 'system_powerdown');
      if (await waitForExit(pid, gracefulTimeoutMs)) return 'powered-off';
    } catch {
      // QMP gone: fall through to signals
    }
  }
  if (isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    if (!(await waitForExit(pid, 5_000))) {
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 5_000);
    }
  }
  return 'killed';
}

/** Everything `down` does: stop every node and the switch of the prefix, then remove its state. */
export async function deleteCluster(prefix: string, options: { graceful: boolean; places: Places }): Promise<DeleteReport> {
  const paths = clusterPaths(prefix, options.places);
  const running = nodeProcesses(prefix);
  // Nodes recorded only by pidfile (process renamed?) are still ours when their argv names the node.
  if (existsSync(paths.nodesDir)) {
    for (const name of readdirSync(paths.nodesDir)) {
      const pid = liveHolder(nodePaths(paths, name).pid);
      if (pid && !running.has(name) && (readArgv(pid) ?? []).some((a) => a.startsWith(`${processName(prefix, name)},`))) {
        running.set(name, pid);
      }
    }
  }
  const nodes = await Promise.all(
    [...running].map(async ([name, pid]) => ({
      name,
      pid,
      how: await stopNode(pid, nodePaths(paths, name).qmp, options.graceful),
    })),
  );
  const switchPids = await stopSwitch({ dir: paths.switchDir, pidFile: paths.switchPid });
  const registryPids = await stopRegistry(registryPaths(paths.dir));
  const removedDir = existsSync(paths.dir);
  rmSync(paths.dir, { recursive: true, force: true });
  return { nodes, switchPids, registryPids, removedDir };
}

/** Copies what the host holds about each node (console logs) into dir. */
export function collectHostLogs(prefix: string, dir: string, places: Places): string[] {
  const paths = clusterPaths(prefix, places);
  const copied: string[] = [];
  if (!existsSync(paths.nodesDir)) return copied;
  for (const name of readdirSync(paths.nodesDir)) {
    const src = nodePaths(paths, name).console;
    if (!existsSync(src)) continue;
    mkdirSync(join(dir, name), { recursive: true });
    cpSync(src, join(dir, name, 'console.log'));
    copied.push(join(dir, name, 'console.log'));
  }
  return copied;
}

export * from './names.js';
export * from './identity.js';
export * from './launch.js';
export * from './wait-ssh.js';
