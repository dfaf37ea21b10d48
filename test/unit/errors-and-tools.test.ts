import { describe, expect, it } from 'vitest';
import { CommandError, prettyCommand, exitCodeOf, UsageError, InterruptedError } from '../../src/core/errors.js';
import { requireHostTools } from '../../src/core/host-tools.js';
import { chooseAccelerator } from '../../providers/qemu/kvm-probe.js';
import { checkCompatible } from '../../src/cli/commands/up-guards.js';
import { remoteCommand } from '../../src/exec/ssh-runner.js';
import type { ClusterRecord } from '../../src/core/cluster.js';
import { resolveClusterOptions } from '../../src/core/config.js';

describe('errors', () => {
  it('renders a shell-pasteable command with the tail of stderr', () => {
    const e = new CommandError('node01', ['ovs-vsctl', 'set', 'Open_vSwitch', '.', "other_config:dpdk-extra=-a 0000:00:04.0"], 1, 'line1\nline2\n');
    expect(e.message).toBe("command failed on node01 (exit 1): ovs-vsctl set Open_vSwitch . $'other_config:dpdk-extra=-a 0000:00:04.0'\n  | line1\n  | line2");
    expect(prettyCommand(['echo', "it's"])).toBe("echo $'it\\'s'");
  });
  it('maps errors to exit codes', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new InterruptedError())).toBe(130);
    expect(exitCodeOf(new Error('x'))).toBe(1);
  });
  it('quotes every word of a remote command', () => {
    expect(remoteCommand(['sh', '-c', 'echo $HOME; rm -rf /'])).toBe("sh -c $'echo $HOME; rm -rf /'");
  });
});

describe('missing host tools', () => {
  it('names each tool, its package and the command that installs them', () => {
    expect(() => requireHostTools(['qemu-system-x86_64', 'vde_switch', 'sh'], '/nonexistent')).toThrow(
      /missing host tools: qemu-system-x86_64 \(package qemu-system-x86\), vde_switch \(package vde2\), sh \(package \?\); install them with `make deps` or `apt-get install -y qemu-system-x86 vde2 sh`/,
    );
  });
  it('passes when everything is on PATH', () => {
    expect(() => requireHostTools(['sh'], '/bin:/usr/bin')).not.toThrow();
  });
});

describe('accelerator choice', () => {
  const broken = { usable: false, reason: 'a KVM guest kernel printed nothing useful within 8s', seconds: 8 };
  it('auto falls back to TCG with one warning', () => {
    const c = chooseAccelerator('auto', broken);
    expect(c.accel).toBe('tcg');
    expect(c.warning).toMatch(/KVM is not usable here \(a KVM guest kernel printed nothing useful within 8s\); using TCG/);
  });
  it('auto uses KVM when the probe guest booted', () => {
    expect(chooseAccelerator('auto', { usable: true, reason: 'ok', seconds: 1 })).toMatchObject({ accel: 'kvm' });
  });
  it('--accel kvm where KVM does not work is a usage error', () => {
    expect(() => chooseAccelerator('kvm', broken)).toThrow(UsageError);
    expect(() => chooseAccelerator('kvm', broken)).toThrow(/--accel kvm: KVM cannot run a guest on this host/);
  });
  it('--accel tcg needs no probe', () => expect(chooseAccelerator('tcg', undefined)).toEqual({ accel: 'tcg' }));
});

describe('an existing cluster', () => {
  const options = resolveClusterOptions({ nodes: '2' }, {}, { memAvailableMiB: 100_000 });
  const record = { prefix: 'dpdkci', options, nodes: [{ name: 'node01' }, { name: 'node02' }] } as unknown as ClusterRecord;
  it('accepts the same options, and more nodes', () => {
    expect(() => checkCompatible(record, options)).not.toThrow();
    expect(() => checkCompatible(record, { ...options, nodes: 3 })).not.toThrow();
  });
  it('refuses other settings and shrinking, naming the fix', () => {
    expect(() => checkCompatible(record, { ...options, memoryMiB: 4096 })).toThrow(/already up with memoryMiB 3072, not 4096; run `dpdkci down --prefix dpdkci` first/);
    expect(() => checkCompatible(record, { ...options, nodes: 1 })).toThrow(/--nodes: cluster "dpdkci" has 2 nodes and cannot shrink to 1/);
  });
  it('a cluster without Kubernetes: the same up again is fine; one that now asks for Kubernetes is told to down first (M2)', () => {
    const none = { ...options, kubernetes: 'none' };
    const bare = { prefix: 'dpdkci', options: none, nodes: [{ name: 'node01' }, { name: 'node02' }] } as unknown as ClusterRecord;
    expect(() => checkCompatible(bare, none)).not.toThrow();
    expect(() => checkCompatible(bare, { ...none, kubernetes: '1.36' })).toThrow(/is up without Kubernetes, and Kubernetes 1\.36 can be had now; .*run `dpdkci down --prefix dpdkci`, then the same up again/);
  });
});
