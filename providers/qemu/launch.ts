import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Runner, RunResult } from '../../src/exec/runner.js';
import { DpdkciError } from '../../src/core/errors.js';
import { clusterPaths, nodePaths } from '../../src/core/paths.js';
import type { ClusterRecord, NodeRecord } from '../../src/core/cluster.js';
import { qemuArgs, kernelArgs, type NodeLaunchSpec } from './qemu-args.js';
import { readPidFile } from './processes.js';
import { startSwitch, switchProcesses } from './switch.js';
import { processName, qemuAccel } from './names.js';
import type { Places } from '../../src/core/places.js';

/** Starting a node's QEMU (and the cluster's switch), and reading what QEMU and the console said. */

/** A node's copy-on-write disk over the image. */
export function overlayArgv(imageDisk: string, disk: string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', imageDisk, disk];
}

export function launchSpec(record: ClusterRecord, node: NodeRecord, places: Places): NodeLaunchSpec {
  const paths = clusterPaths(record.prefix, places);
  const np = nodePaths(paths, node.name);
  const o = record.options;
  return {
    processName: processName(record.prefix, node.name),
    accel: qemuAccel(record),
    cpus: o.cpus,
    memoryMiB: o.memoryMiB,
    kernel: record.image.kernel,
    initrd: record.image.initrd,
    disk: np.disk,
    sshPort: node.sshPort,
    ...(node.apiPort ? { apiPort: node.apiPort } : {}),
    mgmtMac: node.mgmtMac,
    secondaryNics: node.secondaryMacs.map((mac) => ({ mac, switchSocket: paths.switchDir })),
    qmpSocket: np.qmp,
    pidFile: np.pid,
    consoleLog: np.console,
    qemuLog: np.qemuLog,
    seed: {
      hostname: join(np.seedDir, 'hostname'),
      ssh_host_ed25519_key: join(np.seedDir, 'ssh_host_ed25519_key'),
      'ssh_host_ed25519_key.pub': join(np.seedDir, 'ssh_host_ed25519_key.pub'),
      authorized_keys: join(np.seedDir, 'authorized_keys'),
      // The cluster registry's host port: the node's containerd pulls registry:5000 from 10.0.2.2 there.
      ...(record.registryPort ? { registry: join(np.seedDir, 'registry') } : {}),
    },
    kernelArgs: kernelArgs({ hugepages2m: o.hugepages2m, hugepages1g: o.hugepages1g, extra: o.kernelArgs }),
    extraQemuArgs: o.qemuArgs,
  };
}

export async function startClusterSwitch(host: Runner, record: ClusterRecord, places: Places): Promise<number> {
  const paths = clusterPaths(record.prefix, places);
  return startSwitch(host, { dir: paths.switchDir, pidFile: paths.switchPid });
}

export function switchRunning(record: ClusterRecord, places: Places): boolean {
  const paths = clusterPaths(record.prefix, places);
  return switchProcesses({ dir: paths.switchDir, pidFile: paths.switchPid }).length > 0;
}

/** A file of a node's seed directory, which the node reads through fw_cfg at boot (dpdkci-seed). */
export interface SeedFile {
  name: string;
  /** Its text, or the host file it is a copy of. */
  text?: string;
  copyOf?: string;
  /** What it tells the node, for the dry run. */
  what: string;
}

/** What startNode writes into the node's seed directory: the one list its plan shows too. */
export function seedFiles(record: ClusterRecord, node: NodeRecord, publicKey: string): SeedFile[] {
  return [
    { name: 'hostname', text: `${node.name}\n`, what: 'its name' },
    { name: 'authorized_keys', copyOf: publicKey, what: "the cluster's public key" },
    ...(record.registryPort ? [{ name: 'registry', text: `${record.registryPort}\n`, what: "the cluster registry's port" }] : []),
  ];
}

/**
 * Starts one node's QEMU (daemonized). Its overlay is created on first start and kept across restarts.
 * extraArgs come last (a restore's -incoming), and inheritFd is passed on as fd 3.
 */
export async function startNode(host: Runner, record: ClusterRecord, node: NodeRecord, places: Places, extraArgs: string[] = [], inheritFd?: number): Promise<number> {
  const paths = clusterPaths(record.prefix, places);
  const np = nodePaths(paths, node.name);
  mkdirSync(np.seedDir, { recursive: true, mode: 0o700 });
  if (!existsSync(np.disk)) await host.run(overlayArgv(record.image.disk, np.disk));
  for (const f of seedFiles(record, node, paths.publicKey)) {
    if (f.copyOf) copyFileSync(f.copyOf, join(np.seedDir, f.name));
    else writeFileSync(join(np.seedDir, f.name), f.text ?? '');
  }
  rmSync(np.qmp, { force: true });
  rmSync(np.pid, { force: true });
  rmSync(np.qemuLog, { force: true });
  const argv = [...qemuArgs(launchSpec(record, node, places)), ...extraArgs];
  // QEMU daemonizes, so it is a command like any other; but a restore hands it an open file as its fd 3
  // (for -incoming fd:3), which no runner passes on, so that one start spawns QEMU itself.
  const result = inheritFd === undefined ? await host.run(argv, { check: false }) : await startWithFd3(argv, inheritFd);
  if (result.exitCode !== 0) {
    // With -D, QEMU writes even its command-line errors to the log file.
    const said = [String(result.stderr).trim(), readQemuLog(np.qemuLog)].filter(Boolean).join('\n');
    throw new DpdkciError(`QEMU would not start ${node.name} (exit ${result.exitCode}): ${said || '(it printed nothing)'}`);
  }
  const pid = readPidFile(np.pid);
  if (!pid) throw new DpdkciError(`QEMU started ${node.name} but wrote no pidfile at ${np.pid}`);
  return pid;
}

async function startWithFd3(argv: string[], fd: number): Promise<RunResult> {
  const [file, ...args] = argv;
  // (execa's types leave out a number at index 3, which it passes to Node's spawn as it is.)
  const r = await execa(file as string, args, { reject: false, stdio: ['ignore', 'pipe', 'pipe', fd] as unknown as ['ignore', 'pipe', 'pipe'] });
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 127 };
}

/** A node's QEMU log (-D: its stderr once daemonized), trimmed; empty when there is none. */
function readQemuLog(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
}

/** The end of a node's QEMU log, for a message about a QEMU that exited. */
export function qemuLogTail(file: string, lines = 10): string {
  const text = readQemuLog(file);
  return text ? `QEMU said:\n${text.split('\n').slice(-lines).join('\n')}\n` : `QEMU's log (${file}) is empty: it was killed by a signal, or exited without a word`;
}

export function consoleTail(record: ClusterRecord, node: string, lines = 20, places: Places): string {
  const file = nodePaths(clusterPaths(record.prefix, places), node).console;
  if (!existsSync(file)) return '(no console output)';
  return readFileSync(file, 'utf8').replace(/\r/g, '').trimEnd().split('\n').slice(-lines).join('\n');
}
