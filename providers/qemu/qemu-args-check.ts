import { accessSync, constants } from 'node:fs';
import { execa } from 'execa';
import type { Accelerator } from '../../src/core/accelerator.js';
import type { ClusterOptions } from '../../src/core/config.js';
import { IOMMU_DEVICE, machineArgs } from './qemu-args.js';

/**
 * --qemu-args checked before anything is recorded: QEMU itself reads them on a node's machine (q35, the
 * vIOMMU, the node's vCPUs and memory) with its CPUs frozen, and is told over QMP to quit once it is
 * ready. -S freezes the CPUs and -qmp opens a QMP monitor (qemu/qemu@003f8dbc8e09962f5d82f581b644b5fbc916bbb4:qemu-options.hx);
 * QEMU answers QMP only once every -device is made, so a bad option, a bad device or a bad property is
 * refused here and nothing runs a guest. Measured with QEMU 7.2 under TCG: 40-100 ms.
 * What it cannot see: a clash with the disk, NICs, fw_cfg files and sockets a node adds at boot (those need
 * the cluster's files); QEMU refuses those when the node starts, and `up` then keeps no cluster whose
 * nodes never started.
 */

/** QMP: leave capabilities negotiation, then quit. */
const QMP_QUIT = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n';

/** The command line that has QEMU read the user's arguments on a node's machine and stop before any guest runs. */
export function qemuArgsCheckArgv(options: Pick<ClusterOptions, 'cpus' | 'memoryMiB' | 'qemuArgs'>, accel: Accelerator): string[] {
  return [
    'qemu-system-x86_64',
    ...machineArgs(accel),
    '-smp', String(options.cpus),
    '-m', `${options.memoryMiB}M`,
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-device', IOMMU_DEVICE,
    '-S',
    '-qmp', 'stdio',
    ...options.qemuArgs,
  ];
}

/** The accelerators a node may get: the one asked for, or with auto KVM (when this user can open it) and TCG. */
export function candidateAccels(accel: ClusterOptions['accel'], kvmOpens: () => boolean = canOpenKvm): Accelerator[] {
  if (accel === 'kvm' || accel === 'tcg') return [accel];
  return kvmOpens() ? ['kvm', 'tcg'] : ['tcg'];
}

function canOpenKvm(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why QEMU refuses the options' --qemu-args, or undefined when it takes them under an accelerator the node
 * may get (with auto, KVM or TCG: the probe of `choose accelerator` has not run yet). An accelerator that
 * fails without the user's arguments too (a KVM that crashes here) says nothing about them and is passed over;
 * `choose accelerator` judges it.
 */
export async function qemuArgsRefusal(options: Pick<ClusterOptions, 'cpus' | 'memoryMiB' | 'qemuArgs' | 'accel'>, timeoutMs = 30_000): Promise<string | undefined> {
  if (options.qemuArgs.length === 0) return undefined;
  const said: string[] = [];
  for (const accel of candidateAccels(options.accel)) {
    const withArgs = await tryQemu(qemuArgsCheckArgv(options, accel), timeoutMs);
    if (withArgs === undefined) return undefined;
    if ((await tryQemu(qemuArgsCheckArgv({ ...options, qemuArgs: [] }, accel), timeoutMs)) !== undefined) continue;
    said.push(`${accel}: ${withArgs}`);
  }
  return said.length ? said.join('; ') : undefined;
}

/** Undefined when QEMU got ready and quit; else the last line it said. */
async function tryQemu(argv: string[], timeoutMs: number): Promise<string | undefined> {
  const [file, ...args] = argv;
  const r = await execa(file as string, args, { input: QMP_QUIT, reject: false, timeout: timeoutMs });
  if (r.exitCode === 0) return undefined;
  if (r.timedOut) return `QEMU did not get ready within ${timeoutMs / 1000} s (an option that waits, such as a socket with wait=on?)`;
  const last = String(r.stderr).trim().split('\n').filter(Boolean).pop();
  return (last ?? `QEMU exited ${r.exitCode ?? 'on a signal'}`).replace(/^qemu-system-x86_64: /, '');
}
