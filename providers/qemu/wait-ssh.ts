import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { DpdkciError, InterruptedError } from '../../src/core/errors.js';
import { clusterPaths, nodePaths } from '../../src/core/paths.js';
import type { ClusterRecord, NodeRecord } from '../../src/core/cluster.js';
import { connectSsh, type SshTarget } from '../../src/exec/ssh-runner.js';
import { qmpCommand } from './qmp.js';
import { sshTarget } from './identity.js';
import { consoleTail, qemuLogTail } from './launch.js';
import { nodeProcesses } from './names.js';
import type { Places } from '../../src/core/places.js';

/** Waiting for a booting node to answer over SSH, and what QEMU says of a node that does not. */

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
  places: Places;
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
  const target = sshTarget(record, node, options.places);
  const np = nodePaths(clusterPaths(record.prefix, options.places), node.name);
  const resetAfterMs = options.beforeKernelResetMs ?? BEFORE_KERNEL_RESET_MS;
  let resetDone = false;
  let seenKernel = false;
  let lastError = '';
  let lastBlindProbe = 0;
  while (performance.now() - began < options.timeoutMs) {
    if (options.signal?.aborted) throw new InterruptedError();
    if (!nodeProcesses(record.prefix).has(node.name)) {
      throw new DpdkciError(
        `${node.name}: QEMU exited while booting; ${qemuLogTail(np.qemuLog)}; last console lines:\n${consoleTail(record, node.name, 20, options.places)}`,
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
      `its first vCPU is ${where.stage === 'unknown' ? 'somewhere QEMU did not report' : `${where.stage} (RIP=${where.rip})`}; last console lines:\n${consoleTail(record, node.name, 20, options.places)}`,
  );
}
