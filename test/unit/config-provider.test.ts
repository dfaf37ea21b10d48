import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveClusterOptions } from '../../src/core/config.js';
import { UsageError } from '../../src/core/errors.js';

/** The provider and its inventory from DPDKCI_PROVIDER and DPDKCI_INVENTORY, as from --provider and --inventory. */
const refusal = (flags: Parameters<typeof resolveClusterOptions>[0], env: NodeJS.ProcessEnv): string => {
  try {
    resolveClusterOptions(flags, env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('not refused');
};

describe('the provider from the environment', () => {
  it('is QEMU by default, with no inventory', () => {
    expect(resolveClusterOptions({}, {})).toMatchObject({ provider: 'qemu', inventory: '' });
  });

  it('is hosts with DPDKCI_PROVIDER=hosts and DPDKCI_INVENTORY, the inventory made absolute, Kubernetes only when asked for', () => {
    const o = resolveClusterOptions({}, { DPDKCI_PROVIDER: 'hosts', DPDKCI_INVENTORY: 'lab/inventory.yaml', DPDKCI_DPDK: 'true' });
    expect(o).toMatchObject({ provider: 'hosts', inventory: resolve('lab/inventory.yaml'), dpdk: true, kubernetes: 'none' });
    expect(resolveClusterOptions({ kubernetes: '1.36' }, { DPDKCI_PROVIDER: 'hosts', DPDKCI_INVENTORY: '/inv.yaml', DPDKCI_DPDK: 'true' }).kubernetes).toBe('1.36');
  });

  it('takes the flags over the variables', () => {
    expect(resolveClusterOptions({ provider: 'qemu' }, { DPDKCI_PROVIDER: 'hosts' }).provider).toBe('qemu');
    expect(resolveClusterOptions({ inventory: '/b.yaml', dpdk: true }, { DPDKCI_PROVIDER: 'hosts', DPDKCI_INVENTORY: '/a.yaml' }).inventory).toBe('/b.yaml');
  });

  const refusals: [string, Record<string, string | boolean>, NodeJS.ProcessEnv, RegExp][] = [
    ['an unknown provider', {}, { DPDKCI_PROVIDER: 'libvirt' }, /^DPDKCI_PROVIDER: "libvirt" is not a provider; use qemu \(nodes dpdkci boots\) or hosts/],
    ['hosts without an inventory', {}, { DPDKCI_PROVIDER: 'hosts', DPDKCI_DPDK: 'true' }, /^--inventory: --provider hosts needs the inventory of machines to use \(--inventory FILE or DPDKCI_INVENTORY=FILE\)/],
    ['an inventory with QEMU', {}, { DPDKCI_INVENTORY: '/inv.yaml' }, /^DPDKCI_INVENTORY: an inventory is for --provider hosts; add --provider hosts, or leave DPDKCI_INVENTORY out/],
    ['a QEMU size with hosts', {}, { DPDKCI_PROVIDER: 'hosts', DPDKCI_INVENTORY: '/inv.yaml', DPDKCI_DPDK: 'true', KUBEVIRT_MEMORY_SIZE: '8G' }, /^KUBEVIRT_MEMORY_SIZE: "8G" sizes QEMU nodes; --provider hosts uses the machines of the inventory as they are: leave KUBEVIRT_MEMORY_SIZE out/],
    ['a node count with hosts', { nodes: '3' }, { DPDKCI_PROVIDER: 'hosts', DPDKCI_INVENTORY: '/inv.yaml', DPDKCI_DPDK: 'true' }, /^--nodes: "3" sizes QEMU nodes/],
    ['hosts without --dpdk', {}, { DPDKCI_PROVIDER: 'hosts', DPDKCI_INVENTORY: '/inv.yaml' }, /^--provider hosts: dpdkci converges OVS-DPDK on the machines of the inventory and nothing else yet; add --dpdk \(DPDKCI_DPDK=true\)/],
  ];
  it.each(refusals)('refuses %s, naming the option and the fix', (_what, flags, env, expected) => {
    expect(refusal(flags, env)).toMatch(expected);
  });
});
