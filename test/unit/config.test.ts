import { describe, expect, it } from 'vitest';
import { parseMemoryMiB, resolveClusterOptions } from '../../src/core/config.js';
import { usageMessage } from '../fixtures/usage-error.js';

const host = { memAvailableMiB: 20_000 };
const resolve = (flags: Record<string, string>, env: Record<string, string> = {}) => resolveClusterOptions(flags, env, host);


describe('option precedence: flag over KUBEVIRT_* variable over default', () => {
  it('uses defaults when nothing is given', () => {
    const o = resolve({});
    expect(o).toMatchObject({ prefix: 'dpdkci', nodes: 1, memoryMiB: 3072, cpus: 2, hugepages2m: 64, hugepages1g: 0, secondaryNics: 1, extraNics: 0, accel: 'auto', kubernetes: 'auto' });
  });
  it('reads the kubevirtci variables', () => {
    const o = resolve({}, { KUBEVIRT_NUM_NODES: '2', KUBEVIRT_MEMORY_SIZE: '4G', KUBEVIRT_NUM_VCPU: '4', KUBEVIRT_HUGEPAGES_2M: '256', KUBEVIRT_HUGEPAGES_1G: '1', KUBEVIRT_NUM_SECONDARY_NICS: '2' });
    expect(o).toMatchObject({ nodes: 2, memoryMiB: 4096, cpus: 4, hugepages2m: 256, hugepages1g: 1, secondaryNics: 2, extraNics: 2 });
  });
  it('runs a cluster registry unless --no-registry or DPDKCI_REGISTRY=false', () => {
    const r = (flags: Record<string, unknown>, env: Record<string, string> = {}) => resolveClusterOptions(flags as never, env, host).registry;
    // commander: registry is true when --no-registry was not given, false when it was.
    expect(r({})).toBe(true);
    expect(r({ registry: true })).toBe(true);
    expect(r({ registry: false })).toBe(false);
    expect(r({ registry: true }, { DPDKCI_REGISTRY: 'false' })).toBe(false);
    expect(r({ registry: false }, { DPDKCI_REGISTRY: 'true' })).toBe(false);
    expect(usageMessage(() => r({}, { DPDKCI_REGISTRY: 'maybe' }))).toMatch(/DPDKCI_REGISTRY: "maybe" is not true or false/);
  });
  it('lets a flag win over the variable', () => {
    expect(resolve({ nodes: '3' }, { KUBEVIRT_NUM_NODES: '2' }).nodes).toBe(3);
    expect(resolve({ memoryMiB: '2048M' }, { KUBEVIRT_MEMORY_SIZE: '4G' }).memoryMiB).toBe(2048);
  });
  it('ignores an empty variable', () => {
    expect(resolve({}, { KUBEVIRT_NUM_NODES: '' }).nodes).toBe(1);
  });
  it('splits kernel and QEMU args on white space', () => {
    const o = resolve({ kernelArgs: ' isolcpus=1  nohz_full=1 ', qemuArgs: '-device virtio-balloon' });
    expect(o.kernelArgs).toEqual(['isolcpus=1', 'nohz_full=1']);
    expect(o.qemuArgs).toEqual(['-device', 'virtio-balloon']);
  });
});

describe('memory sizes', () => {
  it.each([
    ['3072M', 3072],
    ['3096M', 3096],
    ['3G', 3072],
    ['3Gi', 3072],
    ['1.5G', 1536],
    ['2048', 2048],
    ['4096MiB', 4096],
  ])('%s is %d MiB', (text, mib) => expect(parseMemoryMiB(text)).toBe(mib));
  it.each(['', 'lots', '3T', '-1G', '1.3M'])('rejects %j', (text) => expect(parseMemoryMiB(text)).toBeUndefined());
});

describe('bad input names the option, the value and the fix', () => {
  it('--nodes 0', () => {
    const m = usageMessage(() => resolve({ nodes: '0' }));
    expect(m).toContain('--nodes');
    expect(m).toContain('0 is out of range');
    expect(m).toMatch(/from 1 to 16/);
  });
  it('--nodes 100', () => expect(usageMessage(() => resolve({ nodes: '100' }))).toMatch(/--nodes: 100 is out of range/));
  it('a bad variable names the variable', () => expect(usageMessage(() => resolve({}, { KUBEVIRT_NUM_NODES: 'two' }))).toMatch(/^KUBEVIRT_NUM_NODES: "two" is not a whole number/));
  it('--memory 12', () => {
    const m = usageMessage(() => resolve({ memoryMiB: '12' }));
    expect(m).toMatch(/^--memory: 12 is 12 MiB, too little/);
    expect(m).toContain('at least 1024M');
  });
  it('--memory garbage', () => expect(usageMessage(() => resolve({ memoryMiB: 'big' }))).toMatch(/--memory: "big" is not a memory size; write it like 3072M or 3G/));
  it('hugepages larger than memory', () => {
    const m = usageMessage(() => resolve({ memoryMiB: '2G', hugepages2m: '1024' }));
    expect(m).toMatch(/^--hugepages-2m: 1024 x 2M/);
    expect(m).toContain('at most 640 x 2M');
  });
  it('1G hugepages larger than memory name --hugepages-1g', () => {
    expect(usageMessage(() => resolve({ memoryMiB: '3G', hugepages1g: '3', hugepages2m: '0' }))).toMatch(/^--hugepages-1g: /);
  });
  it('more memory than the host has', () => {
    const m = usageMessage(() => resolveClusterOptions({ nodes: '4', memoryMiB: '8G' }, {}, { memAvailableMiB: 16_000 }));
    expect(m).toMatch(/--memory\/--nodes: 4 node\(s\) x 8192 MiB = 32768 MiB, but this host has only 16000 MiB/);
  });
  it.each(['a/b', '../x', 'UPPER', '-lead', 'x'.repeat(25), 'sp ace', ''])('prefix %j', (prefix) => {
    if (prefix === '') return; // empty flag falls back to the default
    expect(usageMessage(() => resolve({ prefix }))).toMatch(/^--prefix: .* cannot name a cluster/);
  });
  it('--accel', () => expect(usageMessage(() => resolve({ accel: 'hvf' }))).toMatch(/--accel: "hvf" is not an accelerator; use auto, kvm or tcg/));
  it('--secondary-nics 4 with --dpdk: more than the 4 NICs a node has', () =>
    expect(usageMessage(() => resolve({ secondaryNics: '4', dpdk: 'true' }))).toMatch(/--secondary-nics: 4 is out of range; use 0 to 3 NICs besides dpdkci's own 1/));
  it('--cpu 0', () => expect(usageMessage(() => resolve({ cpus: '0' }))).toMatch(/--cpu: 0 is out of range/));
});
