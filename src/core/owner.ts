import { readFileSync } from 'node:fs';
import { UsageError } from './errors.js';
import type { Places } from './places.js';

/**
 * Who a cluster belongs to: a process, identified by its pid and its start time (so that a reused pid is
 * not mistaken for the owner). By default the session leader of `dpdkci up` (the terminal's shell, or the CI
 * job's), so a cluster outlives `make cluster-up` but not the job that made it; DPDKCI_OWNER_PID names
 * another process, e.g. a CI job's own pid.
 */
export interface Owner {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot when the process started. */
  startTicks: number;
  how: 'session' | 'DPDKCI_OWNER_PID';
}

/** Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The start time of pid, or undefined when no such process exists. */
export function startTicks(pid: number): number | undefined {
  // After the name: state(3) ppid(4) pgrp(5) session(6) ... starttime(22), so index 22 - 3.
  const f = statFields(pid);
  return f ? Number(f[19]) : undefined;
}

function sessionOf(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? Number(f[3]) : undefined;
}

export function currentOwner(places: Places): Owner {
  const named = places.ownerPid;
  if (named !== undefined && named !== '') {
    const pid = Number(named);
    const ticks = Number.isInteger(pid) && pid > 0 ? startTicks(pid) : undefined;
    if (ticks === undefined) {
      throw new UsageError(`DPDKCI_OWNER_PID: "${named}" is not a running process; set it to the pid of the job that owns the cluster, or unset it`);
    }
    return { pid, startTicks: ticks, how: 'DPDKCI_OWNER_PID' };
  }
  const session = sessionOf(process.pid);
  // Session 0 (a kernel thread's) or none: fall back to our parent.
  const pid = session && session > 1 && startTicks(session) !== undefined ? session : process.ppid;
  return { pid, startTicks: startTicks(pid) ?? 0, how: 'session' };
}

export function ownerAlive(owner: Owner): boolean {
  return startTicks(owner.pid) === owner.startTicks;
}
