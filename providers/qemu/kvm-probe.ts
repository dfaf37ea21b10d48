import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { UsageError } from '../../src/core/errors.js';
import type { Accel } from '../../src/core/config.js';
import type { AccelChoice, KvmProbeResult } from '../../src/core/accelerator.js';

/**
 * Whether KVM can really run a guest here. /dev/kvm existing is not enough: some nested set-ups hang
 * a guest kernel right after the boot loader, or abort on an MSR. So boot the node kernel with KVM
 * and no root disk; a working KVM reaches "VFS: Unable to mount root fs" (and panics) within seconds.
 */

const MARKERS = [/Kernel panic/, /VFS: Unable to mount root/, /Run \/init as init process/];

/** The probe guest: the node kernel alone under KVM, which must print its boot banner within seconds. */
export function kvmProbeArgv(kernel: string): string[] {
  return [
    'qemu-system-x86_64', '-machine', 'q35,accel=kvm', '-cpu', 'host', '-m', '256M', '-smp', '1', '-nodefaults', '-no-user-config',
    '-display', 'none', '-serial', 'stdio', '-no-reboot', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 loglevel=4',
  ];
}

export async function probeKvm(kernel: string, timeoutMs = 8_000): Promise<KvmProbeResult> {
  const began = performance.now();
  const took = () => Math.round((performance.now() - began) / 100) / 10;
  if (!existsSync('/dev/kvm')) return { usable: false, reason: '/dev/kvm does not exist', seconds: 0 };
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, reason: '/dev/kvm is not readable and writable by this user', seconds: 0 };
  }
  const [file, ...args] = kvmProbeArgv(kernel);
  const child = execa(file as string, args, { reject: false, all: true, timeout: timeoutMs, stdin: 'ignore' });
  let seen = '';
  const marker = new Promise<boolean>((resolve) => {
    child.all?.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-8192);
      if (MARKERS.some((m) => m.test(seen))) resolve(true);
    });
    void child.then(() => resolve(MARKERS.some((m) => m.test(seen))));
  });
  const ok = await marker;
  child.kill('SIGKILL');
  const result = await child;
  if (ok) return { usable: true, reason: 'a KVM guest kernel booted', seconds: took() };
  const lastLine = String(result.all ?? '').trim().split('\n').filter((l) => !/^\s*$/.test(l)).pop();
  if (result.timedOut) {
    return { usable: false, reason: `a KVM guest kernel printed nothing useful within ${timeoutMs / 1000}s (hangs under this KVM)`, seconds: took() };
  }
  return { usable: false, reason: `QEMU with KVM failed: ${lastLine ?? `exit ${result.exitCode}`}`, seconds: took() };
}

/** Probe results are kept per host boot and kernel, so repeated `up`s do not pay for the probe. */
export async function cachedProbeKvm(kernel: string, cacheRoot: string): Promise<KvmProbeResult & { cached: boolean }> {
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const key = `${bootId}:${kernel}`;
  const file = join(cacheRoot, 'kvm-probe.json');
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { key: string; result: KvmProbeResult };
    if (saved.key === key) return { ...saved.result, cached: true };
  } catch {
    // no saved probe
  }
  const result = await probeKvm(kernel);
  mkdirSync(cacheRoot, { recursive: true });
  writeFileSync(file, JSON.stringify({ key, result }, null, 2) + '\n');
  return { ...result, cached: false };
}


export function chooseAccelerator(requested: Accel, probe: KvmProbeResult | undefined): AccelChoice {
  if (requested === 'tcg') return { accel: 'tcg' };
  if (!probe) throw new Error('chooseAccelerator: a KVM probe is needed for ' + requested);
  if (probe.usable) return { accel: 'kvm', probe };
  if (requested === 'kvm') {
    throw new UsageError(`--accel kvm: KVM cannot run a guest on this host (${probe.reason}); use --accel tcg, or --accel auto to fall back by itself`);
  }
  return { accel: 'tcg', probe, warning: `KVM is not usable here (${probe.reason}); using TCG software emulation, which is several times slower` };
}
