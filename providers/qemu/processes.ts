import { readFileSync, readdirSync } from 'node:fs';

/** A process found in /proc, with its argv. */
export interface ProcessEntry {
  pid: number;
  argv: string[];
}

export function readArgv(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw ? raw.replace(/\0$/, '').split('\0') : undefined;
  } catch {
    return undefined;
  }
}

/** Processes whose argv satisfies the predicate (zombies, whose cmdline is empty, are left out). */
export function findProcesses(predicate: (argv: string[]) => boolean): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const argv = readArgv(pid);
    if (argv && predicate(argv)) out.push({ pid, argv });
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = (() => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return '';
    }
  })();
  // A zombie has exited; only its parent has not reaped it yet.
  return !/^\d+ \(.*\) Z/.test(stat);
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !isAlive(pid);
}

/**
 * Stops each process the way `down` stops a helper: SIGTERM, then SIGKILL for one still running after
 * graceMs. A process that is already gone is skipped.
 */
export async function terminate(pids: readonly number[], graceMs = 3_000): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // ESRCH: it exited in the meantime.
    }
  };
  for (const pid of pids) {
    signal(pid, 'SIGTERM');
    if (!(await waitForExit(pid, graceMs))) signal(pid, 'SIGKILL');
  }
}

/** The pid in a lock or pid file when that process still runs. */
export function liveHolder(path: string): number | undefined {
  const pid = readPidFile(path);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
