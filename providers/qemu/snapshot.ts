import { constants, copyFileSync, rmSync } from 'node:fs';
import { createLocalRunner } from '../../src/exec/local-runner.js';
import type { Runner } from '../../src/exec/runner.js';
import { DpdkciError, InterruptedError } from '../../src/core/errors.js';
import { isAlive } from './processes.js';
import { qmpCommand } from './qmp.js';

/**
 * A node's running state saved with QEMU's migration to a file, and loaded back with -incoming.
 *
 * Why migration and not internal qcow2 snapshots (savevm): savevm keeps the memory inside the node's
 * overlay, so every cluster restored from it would copy the memory along with the disk, and the snapshot
 * could not be checked as plain files. A migration stream is a plain file that any number of new QEMUs
 * read with -incoming at once, each over its own copy of the small disk overlay. QEMU 7.2 (Debian 12) has no mapped-ram migration (9.0), so the
 * stream goes through `exec:` to cat; zero pages are sent as a flag, not as 4 KiB.
 */

/** The default cap is about 128 MiB/s; a paused guest has nothing to race, so the cap only costs time. */
export const MIGRATE_MAX_BANDWIDTH = 64 * 1024 ** 3;

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** QEMU's exec: URIs run through /bin/sh -c. */
export function saveUri(stateFile: string): string {
  return `exec:cat > ${shellQuote(stateFile)}`;
}

/**
 * Added to a node's ordinary command line: load the state from fd 3 (the state file, opened by dpdkci and
 * inherited) instead of booting. QEMU reads the file itself, with no cat and no pipe between.
 */
export const INCOMING_FD = 3;
export function incomingArgs(): string[] {
  return ['-incoming', `fd:${INCOMING_FD}`];
}

/** "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)": a state loads in the QEMU that saved it. */
export async function qemuVersion(host: Runner = createLocalRunner(), binary = 'qemu-system-x86_64'): Promise<string> {
  const r = await host.run([binary, '--version']);
  return r.stdout.split('\n')[0]?.trim() ?? '';
}

interface MigrateInfo {
  status?: string;
  'error-desc'?: string;
  ram?: { transferred?: number; duplicate?: number; normal?: number };
  'total-time'?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pauses a node's vCPUs (QMP stop); its devices and timers stop with them. */
export async function pauseNode(qmp: string): Promise<void> {
  await qmpCommand(qmp, 'stop');
}

/** Lets a paused node run again; after a completed migration QEMU takes its disk back first. */
export async function resumeNode(qmp: string): Promise<void> {
  await qmpCommand(qmp, 'cont');
}

/**
 * Writes a paused node's state (memory and devices) to stateFile and copies its disk to diskCopy, while
 * it stays paused. The caller resumes it. On abort the migration is cancelled and both files removed.
 */
export async function saveNodeState(qmp: string, stateFile: string, disk: string, diskCopy: string, signal?: AbortSignal): Promise<{ seconds: number; ram: MigrateInfo['ram'] }> {
  const began = performance.now();
  try {
    await qmpCommand(qmp, 'migrate-set-parameters', { 'max-bandwidth': MIGRATE_MAX_BANDWIDTH });
    await qmpCommand(qmp, 'migrate', { uri: saveUri(stateFile) });
    for (;;) {
      if (signal?.aborted) {
        await cancelMigration(qmp);
        throw new InterruptedError();
      }
      const info = (await qmpCommand(qmp, 'query-migrate')) as MigrateInfo;
      if (info.status === 'completed') {
        // Stopping the guest flushed its disk; the copy is the disk as the state saw it.
        copyFileSync(disk, diskCopy, constants.COPYFILE_FICLONE);
        return { seconds: (performance.now() - began) / 1000, ram: info.ram };
      }
      if (info.status === 'failed' || info.status === 'cancelled') {
        throw new DpdkciError(`QEMU's migration to ${stateFile} ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
      }
      await sleep(50);
    }
  } catch (error) {
    rmSync(stateFile, { force: true });
    rmSync(diskCopy, { force: true });
    throw error;
  }
}

/** Cancels a migration and waits until QEMU says it ended, so that the node can be resumed. */
export async function cancelMigration(qmp: string): Promise<void> {
  await qmpCommand(qmp, 'migrate_cancel').catch(() => undefined);
  for (let i = 0; i < 100; i++) {
    const info = (await qmpCommand(qmp, 'query-migrate').catch(() => ({}))) as MigrateInfo;
    if (!info.status || ['cancelled', 'failed', 'completed'].includes(info.status)) return;
    await sleep(50);
  }
}

/**
 * Waits until a QEMU started with -incoming has loaded its state. The saving QEMU was paused, so the new
 * one stays paused after loading (`paused`) until it is resumed; `inmigrate` means it is still reading.
 * A state QEMU cannot load makes it exit, which is reported with its log.
 */
export async function waitLoaded(qmp: string, pid: number, timeoutMs: number, logTail: () => string, signal?: AbortSignal): Promise<number> {
  const began = performance.now();
  while (performance.now() - began < timeoutMs) {
    if (signal?.aborted) throw new InterruptedError();
    if (!isAlive(pid)) throw new DpdkciError(`QEMU exited while loading the saved state; ${logTail()}`);
    let status: string | undefined;
    try {
      status = ((await qmpCommand(qmp, 'query-status', undefined, 2_000)) as { status?: string }).status;
    } catch (e) {
      if (!isAlive(pid)) continue;
      throw new DpdkciError(`QMP did not answer while loading the saved state: ${(e as Error).message}`);
    }
    if (status === 'paused' || status === 'running') return (performance.now() - began) / 1000;
    if (status !== 'inmigrate') throw new DpdkciError(`QEMU is "${status}" after loading the saved state, not paused`);
    await sleep(50);
  }
  throw new DpdkciError(`QEMU had not loaded the saved state after ${timeoutMs / 1000} s`);
}
