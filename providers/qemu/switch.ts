import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../../src/exec/runner.js';
import { DpdkciError } from '../../src/core/errors.js';
import { findProcesses, liveHolder, terminate } from './processes.js';

/**
 * The cluster's shared L2 network: one VDE switch per cluster (a userspace Ethernet switch, Debian's
 * vde2). Every secondary NIC of every node plugs into it, so any two nodes reach each other, a node
 * does not get its own frames back (a switch, not an echoing multicast socket), and two clusters never
 * share a switch. Its control sockets live in the cluster's state directory, mode 0700.
 */
export interface SwitchPaths {
  dir: string;
  pidFile: string;
}

export function switchProcesses(paths: SwitchPaths): number[] {
  const fromPid = liveHolder(paths.pidFile);
  const found = findProcesses((argv) => /vde_switch$/.test(argv[0] ?? '') && argv.includes(paths.dir)).map((p) => p.pid);
  return [...new Set([...(fromPid ? [fromPid] : []), ...found])];
}

/** The switch's command line: its sockets in dir (mode 0700), daemonized, with a pid file. */
export function switchArgv(paths: SwitchPaths): string[] {
  return ['vde_switch', '-s', paths.dir, '-m', '0700', '-p', paths.pidFile, '-d'];
}

export async function startSwitch(host: Runner, paths: SwitchPaths): Promise<number> {
  const running = switchProcesses(paths);
  if (running[0] !== undefined) return running[0];
  rmSync(paths.dir, { recursive: true, force: true });
  rmSync(paths.pidFile, { force: true });
  const result = await host.run(switchArgv(paths), { check: false });
  if (result.exitCode !== 0) {
    throw new DpdkciError(`vde_switch would not start for ${paths.dir}: ${result.stderr || result.stdout}`);
  }
  // The control socket can appear before the daemonized child has written its pid file (CI saw exactly
  // that with two clusters starting at once), so wait for both.
  const ready = (): number | undefined => (existsSync(join(paths.dir, 'ctl')) ? liveHolder(paths.pidFile) : undefined);
  let pid = ready();
  for (let i = 0; i < 50 && !pid; i++) {
    await new Promise((r) => setTimeout(r, 100));
    pid = ready();
  }
  if (!pid) {
    const what = existsSync(join(paths.dir, 'ctl')) ? `its pid file ${paths.pidFile} names no live process` : `${paths.dir}/ctl did not appear`;
    throw new DpdkciError(`vde_switch started but ${what} after 5 s`);
  }
  return pid;
}

export async function stopSwitch(paths: SwitchPaths): Promise<number[]> {
  const pids = switchProcesses(paths);
  await terminate(pids);
  rmSync(paths.dir, { recursive: true, force: true });
  rmSync(paths.pidFile, { force: true });
  return pids;
}
