import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { DpdkciError, InterruptedError } from '../../src/core/errors.js';
import { clusterPaths, nodePaths, type ClusterPaths } from '../../src/core/paths.js';
import type { ClusterRecord, NodeRecord } from '../../src/core/cluster.js';
import { connectSsh, type SshTarget } from '../../src/exec/ssh-runner.js';
import { qemuArgs, kernelArgs, type NodeLaunchSpec } from './qemu-args.js';
import { findProcesses, isAlive, liveHolder, readArgv, readPidFile, waitForExit } from './processes.js';
import { qmpCommand } from './qmp.js';
import { startSwitch, stopSwitch, switchProcesses } from './switch.js';
import { registryPaths, stopRegistry } from './registry.js';

export function processName(prefix: string, node: string): string {
  return `dpdkci-${prefix}-${node}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** QEMU processes of a cluster, by node name, found in the process table (not trusted from pidfiles). */
export function nodeProcesses(prefix: string): Map<string, number> {
  const pattern = new RegExp(`^${escapeRegExp(`dpdkci-${prefix}-`)}(node\\d{2}),process=`);
  const out = new Map<string, number>();
  for (const p of findProcesses((argv) => /qemu-system/.test(argv[0] ?? ''))) {
    const i = p.argv.indexOf('-name');
    const m = i >= 0 ? pattern.exec(p.argv[i + 1] ?? '') : null;
    if (m?.[1]) out.set(m[1], p.pid);
  }
  return out;
}

export interface NodeStatus {
  name: string;
  role: NodeRecord['role'];
  state: 'running' | 'down';
  pid: number | null;
  sshPort: number;
}

export function listNodes(record: ClusterRecord): NodeStatus[] {
  const running = nodeProcesses(record.prefix);
  return record.nodes.map((n) => {
    const pid = running.get(n.name);
    return { name: n.name, role: n.role, state: pid ? 'running' : 'down', pid: pid ?? null, sshPort: n.sshPort };
  });
}

export function keygenArgv(file: string, comment: string): string[] {
  return ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file];
}

/** A node's copy-on-write disk over the image. */
export function overlayArgv(imageDisk: string, disk: string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', imageDisk, disk];
}

export async function generateKeyPair(file: string, comment: string): Promise<string> {
  if (!existsSync(file)) {
    const [cmd, ...args] = keygenArgv(file, comment);
    await execa(cmd as string, args);
  }
  chmodSync(file, 0o600);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

/** The cluster's own key pair and known_hosts; every file mode 0600 in a 0700 directory. */
export async function prepareClusterKeys(paths: ClusterPaths, prefix: string): Promise<void> {
  mkdirSync(paths.sshDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.dir, 0o700);
  chmodSync(paths.sshDir, 0o700);
  await generateKeyPair(paths.privateKey, `dpdkci-${prefix}`);
}

/** A node's host key, generated on the host so that it is pinned before the node first answers. */
export async function nodeHostKey(paths: ClusterPaths, name: string, prefix: string): Promise<string> {
  const np = nodePaths(paths, name);
  mkdirSync(np.seedDir, { recursive: true, mode: 0o700 });
  return generateKeyPair(join(np.seedDir, 'ssh_host_ed25519_key'), `${name}.${prefix}`);
}

export function writeKnownHosts(paths: ClusterPaths, record: ClusterRecord): void {
  const lines = record.nodes.map((n) => `${processName(record.prefix, n.name)} ${n.hostKey.split(/\s+/).slice(0, 2).join(' ')}`);
  writeFileSync(paths.knownHosts, lines.join('\n') + '\n', { mode: 0o600 });
}

export function sshTarget(record: ClusterRecord, node: NodeRecord, env: NodeJS.ProcessEnv = process.env): SshTarget {
  const paths = clusterPaths(record.prefix, env);
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
export function sshClientOptions(record: ClusterRecord, node: NodeRecord, env: NodeJS.ProcessEnv = process.env): string[] {
  const paths = clusterPaths(record.prefix, env);
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

export function launchSpec(record: ClusterRecord, node: NodeRecord, env: NodeJS.ProcessEnv = process.env): NodeLaunchSpec {
  const paths = clusterPaths(record.prefix, env);
  const np = nodePaths(paths, node.name);
  const o = record.options;
  return {
    processName: processName(record.prefix, node.name),
    accel: record.accel,
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

export async function startClusterSwitch(record: ClusterRecord, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const paths = clusterPaths(record.prefix, env);
  return startSwitch({ dir: paths.switchDir, pidFile: paths.switchPid });
}

export function switchRunning(record: ClusterRecord, env: NodeJS.ProcessEnv = process.env): boolean {
  const paths = clusterPaths(record.prefix, env);
  return switchProcesses({ dir: paths.switchDir, pidFile: paths.switchPid }).length > 0;
}

/**
 * Starts one node's QEMU (daemonized). Its overlay is created on first start and kept across restarts.
 * extraArgs come last (a restore's -incoming), and inheritFd is passed on as fd 3.
 */
export async function startNode(record: ClusterRecord, node: NodeRecord, env: NodeJS.ProcessEnv = process.env, extraArgs: string[] = [], inheritFd?: number): Promise<number> {
  const paths = clusterPaths(record.prefix, env);
  const np = nodePaths(paths, node.name);
  mkdirSync(np.seedDir, { recursive: true, mode: 0o700 });
  if (!existsSync(np.disk)) {
    const [cmd, ...args] = overlayArgv(record.image.disk, np.disk);
    await execa(cmd as string, args);
  }
  writeFileSync(join(np.seedDir, 'hostname'), `${node.name}\n`);
  copyFileSync(paths.publicKey, join(np.seedDir, 'authorized_keys'));
  if (record.registryPort) writeFileSync(join(np.seedDir, 'registry'), `${record.registryPort}\n`);
  rmSync(np.qmp, { force: true });
  rmSync(np.pid, { force: true });
  rmSync(np.qemuLog, { force: true });
  const [file, ...args] = [...qemuArgs(launchSpec(record, node, env)), ...extraArgs];
  // inheritFd becomes the QEMU's fd 3 (a restore's state file, for -incoming fd:3).
  // (execa's types leave out a number at index 3, which it passes to Node's spawn as it is.)
  const stdio = inheritFd !== undefined ? { stdio: ['ignore', 'pipe', 'pipe', inheritFd] as unknown as ['ignore', 'pipe', 'pipe'] } : {};
  const result = await execa(file as string, args, { reject: false, ...stdio });
  if (result.exitCode !== 0) {
    // With -D, QEMU writes even its command-line errors to the log file.
    const said = [String(result.stderr).trim(), readQemuLog(np.qemuLog)].filter(Boolean).join('\n');
    throw new DpdkciError(`QEMU would not start ${node.name} (exit ${result.exitCode}): ${said || '(it printed nothing)'}`);
  }
  const pid = readPidFile(np.pid);
  if (!pid) throw new DpdkciError(`QEMU started ${node.name} but wrote no pidfile at ${np.pid}`);
  return pid;
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

export function consoleTail(record: ClusterRecord, node: string, lines = 20, env: NodeJS.ProcessEnv = process.env): string {
  const file = nodePaths(clusterPaths(record.prefix, env), node).console;
  if (!existsSync(file)) return '(no console output)';
  return readFileSync(file, 'utf8').replace(/\r/g, '').trimEnd().split('\n').slice(-lines).join('\n');
}

/** What the node image's ssh.service prints on the serial console once sshd listens. */
export const SSHD_LISTENING = 'dpdkci: sshd is listening';
const BLIND_PROBE_EVERY_MS = 10_000;

/** Whether the node's console log (this boot's: QEMU truncates it at start) has the line. */
export function consoleSays(file: string, line: string): boolean {
  try {
    return readFileSync(file, 'latin1').includes(line);
  } catch {
    return false;
  }
}

export interface GreetOptions {
  /** A new connection this often... */
  everyMs?: number;
  /** ...each kept open this long for the greeting... */
  attemptMs?: number;
  /** ...and at most this many open at once. */
  maxOpen?: number;
}

/**
 * Whether sshd greets on host:port within windowMs. A connection that hears nothing is given attemptMs; a
 * new one starts every everyMs while fewer than maxOpen are open, and one that the guest refused or closed is
 * replaced at once. The first greeting wins and the rest are closed.
 *
 * What QEMU's user network does while a node boots (packet captures here, under TCG): before the guest's
 * address is up, a connection stalls (its SYN waits for an ARP answer, then is dropped until the SYN is
 * retried seconds later); once the address is up and before sshd listens, the guest resets it at once;
 * after that, sshd greets within half a second on an idle guest and within seconds on a busy one (it
 * re-executes itself for each connection). A connection the host gives up is not given up by QEMU: its SYN
 * is retried and it reaches sshd later, as one more process for the booting guest to start, and a burst of
 * them goes past sshd's MaxStartups. So waitForSsh connects only once the console says sshd listens, with one
 * connection at a time and a long attemptMs.
 */
export function sshGreets(host: string, port: number, windowMs: number, options: GreetOptions = {}): Promise<boolean> {
  const { everyMs = 1_000, attemptMs = 5_000, maxOpen = 3 } = options;
  return new Promise((resolve) => {
    const open = new Set<{ socket: Socket; timer: NodeJS.Timeout }>();
    let finished = false;
    const finish = (ok: boolean) => {
      if (finished) return;
      finished = true;
      clearInterval(ticker);
      clearTimeout(window);
      for (const a of open) {
        clearTimeout(a.timer);
        a.socket.destroy();
      }
      open.clear();
      resolve(ok);
    };
    const attempt = () => {
      if (finished || open.size >= maxOpen) return;
      const socket = createConnection({ host, port });
      const entry = { socket, timer: setTimeout(() => end(false), attemptMs) };
      let data = '';
      const end = (retry: boolean) => {
        if (!open.delete(entry)) return;
        clearTimeout(entry.timer);
        socket.destroy();
        // Refused or closed: the guest answered, so ask again soon rather than at the next tick.
        if (retry && !finished) setTimeout(attempt, 100);
      };
      open.add(entry);
      socket.on('data', (chunk: Buffer) => {
        data += chunk.toString('latin1');
        if (data.length < 4) return;
        if (data.startsWith('SSH-')) finish(true);
        else end(true);
      });
      socket.on('error', () => end(true));
      socket.on('close', () => end(true));
    };
    const ticker = setInterval(attempt, everyMs);
    const window = setTimeout(() => finish(false), windowMs);
    attempt();
  });
}

/** Whether the node answers over SSH with its pinned host key right now (runs `true`). */
export async function sshAnswers(target: SshTarget, readyTimeoutMs: number): Promise<{ ok: boolean; error: string }> {
  try {
    const ssh = await connectSsh(target, readyTimeoutMs);
    const r = await ssh.execCommand('true');
    ssh.dispose();
    return r.code === 0 ? { ok: true, error: '' } : { ok: false, error: `"true" exited ${r.code}` };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/**
 * QEMU's view of a guest that does not answer: its run state and every vCPU's registers, twice a second
 * apart (an instruction pointer that does not move is a guest stuck in one place; one that does, a busy or
 * idle one). For a hang that leaves nothing on the console.
 */
export async function qemuState(qmpSocket: string): Promise<string> {
  const out: string[] = [];
  for (let i = 0; i < 2; i++) {
    try {
      out.push(`# ${new Date().toISOString()} query-status`, JSON.stringify(await qmpCommand(qmpSocket, 'query-status')));
      out.push('# info registers -a', String(await qmpCommand(qmpSocket, 'human-monitor-command', { 'command-line': 'info registers -a' })));
    } catch (e) {
      out.push(`# QMP: ${(e as Error).message}`);
    }
    if (i === 0) await new Promise((r) => setTimeout(r, 1_000));
  }
  return out.join('\n') + '\n';
}

/**
 * Where a guest's first vCPU is: in the kernel (its instruction pointer in the upper half of the address
 * space, where Linux maps itself) or still before it (firmware, the option ROM that loads -kernel, the
 * decompressor), or unknown when QEMU does not say.
 */
export async function guestStage(qmpSocket: string): Promise<{ stage: 'kernel' | 'before kernel' | 'unknown'; rip?: string }> {
  try {
    const regs = String(await qmpCommand(qmpSocket, 'human-monitor-command', { 'command-line': 'info registers' }));
    // Outside long mode QEMU prints the 32-bit registers (EIP=): certainly not in the kernel yet.
    const eip = /EIP=([0-9a-f]{8})/.exec(regs)?.[1];
    if (eip) return { stage: 'before kernel', rip: eip };
    const rip = /RIP=([0-9a-f]{16})/.exec(regs)?.[1];
    if (!rip) return { stage: 'unknown' };
    // A process's code is low too, but runs at privilege level 3; the kernel is up by then.
    if (/CPL=3/.test(regs) || BigInt(`0x${rip}`) >= 0xffff800000000000n) return { stage: 'kernel', rip };
    return { stage: 'before kernel', rip };
  } catch {
    return { stage: 'unknown' };
  }
}

/**
 * Under TCG a node's kernel is running a few seconds after QEMU starts. One whose CPU has not reached its
 * kernel this long after start is stuck in firmware or the boot loader: waitForSsh resets it, once.
 */
export const BEFORE_KERNEL_RESET_MS = 60_000;

export interface WaitForSshOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Reset a node whose first vCPU has not reached its kernel after this long (0: never). */
  beforeKernelResetMs?: number;
  /** Told when a node was reset, with why and where QEMU's state before the reset was saved. */
  onReset?: (message: string) => void;
}

/**
 * Waits until the node answers over SSH with its pinned host key. Fails early when its QEMU dies, with
 * QEMU's log and the console's last lines; resets, once, a node that has not reached its kernel in time.
 */
export async function waitForSsh(record: ClusterRecord, node: NodeRecord, options: WaitForSshOptions): Promise<number> {
  const began = performance.now();
  const target = sshTarget(record, node, options.env);
  const np = nodePaths(clusterPaths(record.prefix, options.env), node.name);
  const resetAfterMs = options.beforeKernelResetMs ?? BEFORE_KERNEL_RESET_MS;
  let resetDone = false;
  let seenKernel = false;
  let lastError = '';
  let lastBlindProbe = 0;
  while (performance.now() - began < options.timeoutMs) {
    if (options.signal?.aborted) throw new InterruptedError();
    if (!nodeProcesses(record.prefix).has(node.name)) {
      throw new DpdkciError(
        `${node.name}: QEMU exited while booting; ${qemuLogTail(np.qemuLog)}; last console lines:\n${consoleTail(record, node.name, 20, options.env)}`,
      );
    }
    // Once its kernel ran, a node is never reset: a slow boot is not a stuck one.
    const stage = seenKernel || resetDone || resetAfterMs === 0 ? undefined : (await guestStage(np.qmp)).stage;
    if (stage === 'kernel') seenKernel = true;
    if (stage === 'before kernel' && performance.now() - began > resetAfterMs) {
      resetDone = true;
      const saved = join(np.dir, 'qemu-state-before-reset.txt');
      writeFileSync(saved, await qemuState(np.qmp));
      await qmpCommand(np.qmp, 'system_reset');
      // A guest that is not running at all (stopped, or started with -S) is set running too.
      const status = (await qmpCommand(np.qmp, 'query-status')) as { status?: string; running?: boolean };
      if (!status.running) await qmpCommand(np.qmp, 'cont');
      options.onReset?.(
        `${node.name}: not in its kernel ${Math.round(resetAfterMs / 1000)} s after start (stuck in firmware or the boot loader); reset it once. QEMU's state before the reset: ${saved}`,
      );
    }
    // The greeting first (sshGreets), then the login, which costs seconds under TCG. Connections start once
    // the console says sshd listens (the image's ssh.service says so); until then, one every 10 s, for an
    // image or a console that does not say it.
    const listening = consoleSays(np.console, SSHD_LISTENING);
    if (!listening && performance.now() - lastBlindProbe < BLIND_PROBE_EVERY_MS) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (!listening) lastBlindProbe = performance.now();
    // One connection at a time, never given up early: QEMU's user network goes on delivering a connection
    // the host has given up (its SYN, retried), and each reaches sshd later as one more process to start.
    if (await sshGreets(target.host, target.port, listening ? 10_000 : 2_000, { maxOpen: 1, everyMs: 100, attemptMs: listening ? 10_000 : 2_000 })) {
      const answer = await sshAnswers(target, 15_000);
      if (answer.ok) return (performance.now() - began) / 1000;
      lastError = answer.error;
    } else {
      lastError = 'sshd has not greeted yet';
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Where it is stuck, for the message and for whoever reads the node's directory afterwards.
  const where = await guestStage(np.qmp);
  writeFileSync(join(np.dir, 'qemu-state-at-timeout.txt'), await qemuState(np.qmp));
  throw new DpdkciError(
    `${node.name}: no SSH answer on 127.0.0.1:${node.sshPort} within ${options.timeoutMs / 1000}s (${lastError})${resetDone ? ', even after a reset' : ''}; ` +
      `its first vCPU is ${where.stage === 'unknown' ? 'somewhere QEMU did not report' : `${where.stage} (RIP=${where.rip})`}; last console lines:\n${consoleTail(record, node.name, 20, options.env)}`,
  );
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

export interface DeleteReport {
  nodes: { name: string; pid: number; how: 'powered-off' | 'killed' }[];
  switchPids: number[];
  registryPids: number[];
  removedDir: boolean;
}

/** Everything `down` does: stop every node and the switch of the prefix, then remove its state. */
export async function deleteCluster(prefix: string, options: { graceful: boolean; env?: NodeJS.ProcessEnv }): Promise<DeleteReport> {
  const paths = clusterPaths(prefix, options.env);
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
export function collectHostLogs(prefix: string, dir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const paths = clusterPaths(prefix, env);
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
