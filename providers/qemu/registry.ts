import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ClusterRecord } from '../../src/core/cluster.js';
import { DpdkciError } from '../../src/core/errors.js';
import { clusterPaths } from '../../src/core/paths.js';
import type { ClusterRegistry } from '../../src/provider/provider.js';
import { findProcesses, liveHolder, terminate } from './processes.js';
import type { Places } from '../../src/core/places.js';

/**
 * The cluster's image registry, as kubevirtci runs one beside its nodes: Debian's build of the distribution
 * registry (docker-registry) on the host, on 127.0.0.1 only, with its store in the cluster's state
 * directory. The host pushes to 127.0.0.1:PORT (`dpdkci ports registry`); the nodes pull it as
 * `registry:5000`, which their containerd resolves to 10.0.2.2:PORT (the host, through QEMU's user network)
 * from the seed QEMU hands them at boot.
 */
export interface RegistryPaths {
  dir: string;
  config: string;
  data: string;
  pidFile: string;
  log: string;
}

export function registryPaths(clusterDir: string): RegistryPaths {
  const dir = join(clusterDir, 'registry');
  return { dir, config: join(dir, 'config.yml'), data: join(dir, 'data'), pidFile: join(dir, 'registry.pid'), log: join(dir, 'registry.log') };
}

/** The name the nodes pull from, as kubevirtci's nodes do. */
export const NODE_REGISTRY_NAME = 'registry:5000';

export function registryConfig(paths: RegistryPaths, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${paths.data}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

export function registryArgv(paths: RegistryPaths): string[] {
  return ['docker-registry', 'serve', paths.config];
}

/** Registry processes of this cluster: the pidfile's, and any whose argv names its configuration. */
export function registryProcesses(paths: RegistryPaths): number[] {
  const fromPid = liveHolder(paths.pidFile);
  const found = findProcesses((argv) => /docker-registry$/.test(argv[0] ?? '') && argv.includes(paths.config)).map((p) => p.pid);
  return [...new Set([...(fromPid ? [fromPid] : []), ...found])];
}

export async function registryAnswers(port: number, timeoutMs = 2_000): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Starts the registry in the background (its own session, output in registry.log); returns its pid. */
export async function startRegistry(paths: RegistryPaths, port: number): Promise<number> {
  const running = registryProcesses(paths)[0];
  if (running !== undefined && (await registryAnswers(port))) return running;
  // One that runs but does not answer is replaced.
  if (running !== undefined) await stopRegistry(paths);
  mkdirSync(paths.data, { recursive: true, mode: 0o700 });
  writeFileSync(paths.config, registryConfig(paths, port), { mode: 0o600 });
  const log = openSync(paths.log, 'a', 0o600);
  const [file, ...args] = registryArgv(paths);
  const child = spawn(file as string, args, { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  const spawned = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', (e) => reject(new DpdkciError(`the cluster registry would not start (${file}): ${e.message}; install Debian's docker-registry package, or use up --no-registry`)));
  });
  child.unref();
  writeFileSync(paths.pidFile, `${spawned}\n`, { mode: 0o600 });
  for (let i = 0; i < 100; i++) {
    if (await registryAnswers(port, 500)) return spawned;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopRegistry(paths);
  const said = existsSync(paths.log) ? readFileSync(paths.log, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
  throw new DpdkciError(`the cluster registry did not answer on 127.0.0.1:${port} within 10 s${said ? `; it said:\n${said}` : ''}`);
}

export async function stopRegistry(paths: RegistryPaths): Promise<number[]> {
  const pids = registryProcesses(paths);
  await terminate(pids);
  rmSync(paths.pidFile, { force: true });
  return pids;
}

/** The cluster's registry, forwarded to this machine's loopback; the nodes reach it by NODE_REGISTRY_NAME. */
export function qemuRegistry(record: ClusterRecord, places: Places): ClusterRegistry | undefined {
  if (!record.registryPort) return undefined;
  const running = registryProcesses(registryPaths(clusterPaths(record.prefix, places).dir)).length > 0;
  return { address: `127.0.0.1:${record.registryPort}`, port: record.registryPort, pullAs: NODE_REGISTRY_NAME, running };
}
