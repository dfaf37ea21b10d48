import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { candidateAccels, qemuArgsCheckArgv, qemuArgsRefusal } from '../../providers/qemu/qemu-args-check.js';
import { qemuArgs, type NodeLaunchSpec } from '../../providers/qemu/qemu-args.js';

// --qemu-args are read by the real QEMU of this machine (a real tool where it is on the host, as the
// unit tier does with kustomize and Go); without qemu-system-x86_64 those cases are skipped, by name.

const bin = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
const hasQemu = (await execa('qemu-system-x86_64', ['--version'], { reject: false }).catch(() => ({ exitCode: 127 }))).exitCode === 0;

const node = (accel: 'kvm' | 'tcg'): NodeLaunchSpec => ({
  processName: 'dpdkci-t-node01', accel, cpus: 2, memoryMiB: 3072, kernel: '/k', initrd: '/i', disk: '/d', sshPort: 2201, mgmtMac: '52:54:00:00:00:10',
  secondaryNics: [], qmpSocket: '/q', pidFile: '/p', consoleLog: '/c', qemuLog: '/l', seed: {}, kernelArgs: [], extraQemuArgs: ['-device', 'virtio-balloon'],
});

describe('the --qemu-args check command line', () => {
  it.each(['kvm', 'tcg'] as const)("is a node's machine under %s, frozen, with a QMP monitor on stdio, the user's arguments last", (accel) => {
    const argv = qemuArgsCheckArgv({ cpus: 2, memoryMiB: 3072, qemuArgs: ['-device', 'virtio-balloon'] }, accel);
    const real = qemuArgs(node(accel));
    // The machine, accelerator, CPU model, vCPUs, memory and vIOMMU a node starts with.
    const cut = (args: string[]) => args.slice(args.indexOf('-machine'), args.indexOf('-kernel'));
    expect(cut(argv.slice(0, argv.indexOf('-S')).concat('-kernel'))).toEqual(cut(real));
    expect(argv.slice(argv.indexOf('-S'))).toEqual(['-S', '-qmp', 'stdio', '-device', 'virtio-balloon']);
  });
  it('tries the accelerator asked for, or with auto KVM (when it opens) then TCG', () => {
    expect(candidateAccels('kvm', () => false)).toEqual(['kvm']);
    expect(candidateAccels('tcg', () => true)).toEqual(['tcg']);
    expect(candidateAccels('auto', () => true)).toEqual(['kvm', 'tcg']);
    expect(candidateAccels('auto', () => false)).toEqual(['tcg']);
  });
});

describe.skipIf(!hasQemu)('QEMU reads --qemu-args (needs qemu-system-x86_64)', () => {
  const o = (qemuArgs: string[]) => ({ cpus: 2, memoryMiB: 3072, accel: 'tcg' as const, qemuArgs });
  it.each([
    [['-device', ','], /^tcg: -device ,: '' is not a valid device model name$/],
    [['-device', 'nonexistent-nic'], /'nonexistent-nic' is not a valid device model name/],
    [['-foo'], /^tcg: -foo: invalid option$/],
    [['-device', 'virtio-net-pci,nosuchprop=1'], /nosuchprop/],
  ])('%j is refused with what QEMU said', async (args, said) => {
    expect(await qemuArgsRefusal(o(args))).toMatch(said);
  });
  it.each([[[]], [['-S']], [['-device', 'virtio-balloon']], [['-global', 'intel-iommu.aw-bits=48']]])('%j is taken', async (args) => {
    expect(await qemuArgsRefusal(o(args))).toBeUndefined();
  });

  it("up --qemu-args '-device ,' exits 2 naming the option, before anything is recorded", async () => {
    const root = mkdtempSync(join(tmpdir(), 'dpdkci-qemu-args-'));
    const env = { ...process.env, DPDKCI_STATE_DIR: join(root, 'state'), DPDKCI_CACHE_DIR: join(root, 'cache'), CI: 'true', DPDKCI_KUBERNETES: 'none' };
    const r = await execa('node', [bin, 'up', '--prefix', 'seam-bad', '--accel', 'tcg', '--timeout', '10s', '--qemu-args', '-device ,'], { reject: false, env });
    expect(r.stderr).toMatch(/--qemu-args: QEMU will not take "-device ," on a node's machine \(tcg: -device ,: '' is not a valid device model name\); correct it, or leave --qemu-args out/);
    expect(r.exitCode).toBe(2);
    expect(existsSync(join(root, 'state', 'clusters', 'seam-bad'))).toBe(false);
    const viaEnv = await execa('node', [bin, 'up', '--prefix', 'seam-bad', '--accel', 'tcg', '--timeout', '10s'], { reject: false, env: { ...env, DPDKCI_QEMU_ARGS: '-foo' } });
    expect(viaEnv.stderr).toMatch(/^error: DPDKCI_QEMU_ARGS: QEMU will not take "-foo" .*leave DPDKCI_QEMU_ARGS out/m);
    expect(viaEnv.exitCode).toBe(2);
  });
});
