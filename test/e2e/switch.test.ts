import { createLocalRunner } from '../../src/exec/local-runner.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, readPidFile } from '../../providers/qemu/processes.js';
import { startSwitch, stopSwitch, switchProcesses, type SwitchPaths } from '../../providers/qemu/switch.js';

const host = createLocalRunner();

/**
 * The real vde_switch, no QEMU. vde_switch binds its control socket before it forks and the child writes
 * the pid file afterwards, so a start that trusts the socket alone loses the race now and then; CI lost it
 * with two clusters starting at once. The pid file is also created O_EXCL, so a stale one must go first.
 */
const BASE = mkdtempSync(join(tmpdir(), 'dpdkci-e2e-switch-'));
const started: SwitchPaths[] = [];
const paths = (name: string): SwitchPaths => {
  const p = { dir: join(BASE, name), pidFile: join(BASE, `${name}.pid`) };
  started.push(p);
  return p;
};

afterAll(async () => {
  for (const p of started) await stopSwitch(p);
  rmSync(BASE, { recursive: true, force: true });
});

describe('the secondary network switch', () => {
  it('many switches started at once each come back with the live pid their pid file names', async () => {
    for (let round = 0; round < 5; round++) {
      const all = Array.from({ length: 8 }, (_, i) => paths(`r${round}-${i}`));
      const pids = await Promise.all(all.map((p) => startSwitch(host, p)));
      all.forEach((p, i) => {
        expect(readPidFile(p.pidFile)).toBe(pids[i]);
        expect(isAlive(pids[i] as number)).toBe(true);
        expect(existsSync(join(p.dir, 'ctl'))).toBe(true);
      });
      const stopped = await Promise.all(all.map((p) => stopSwitch(p)));
      expect(stopped.map((s) => s.length)).toEqual(all.map(() => 1));
      for (const pid of pids) expect(isAlive(pid as number)).toBe(false);
    }
  });

  it('a stale pid file left by a dead switch does not stop the next one', async () => {
    const p = paths('stale');
    const child = execa('true');
    const dead = child.pid as number;
    await child;
    writeFileSync(p.pidFile, `${dead}\n`);
    const pid = await startSwitch(host, p);
    expect(pid).not.toBe(dead);
    expect(readPidFile(p.pidFile)).toBe(pid);
    expect(switchProcesses(p)).toEqual([pid]);
    // A second start finds it running and starts nothing new.
    expect(await startSwitch(host, p)).toBe(pid);
    expect(await stopSwitch(p)).toEqual([pid]);
    expect(existsSync(p.pidFile)).toBe(false);
  });
});
