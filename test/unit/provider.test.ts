import { placesFrom } from '../../src/core/places.js';
import { describe, expect, it } from 'vitest';
import { providerFor } from '../../src/cli/providers.js';
import type { ClusterRecord } from '../../src/core/cluster.js';

describe('the provider seam', () => {
  it('chooses QEMU by the record, and for a prefix without one', () => {
    expect(providerFor({ provider: 'qemu' }).name).toBe('qemu');
    expect(providerFor().name).toBe('qemu');
  });
  it("reaches a QEMU node on the host's loopback, with the cluster key and its pinned host key only", () => {
    const record = { prefix: 'seam', provider: 'qemu', nodes: [] } as unknown as ClusterRecord;
    const node = { name: 'node01', sshPort: 2211 } as ClusterRecord['nodes'][number];
    const client = providerFor(record).sshClient(record, node, placesFrom({ DPDKCI_STATE_DIR: '/tmp/dpdkci-seam' }));
    expect(client).toMatchObject({ destination: 'root@127.0.0.1', port: 2211 });
    expect(client.options.join(' ')).toContain('-i /tmp/dpdkci-seam/clusters/seam/ssh/id_ed25519');
    expect(client.options).toEqual(expect.arrayContaining(['StrictHostKeyChecking=yes', 'HostKeyAlias=dpdkci-seam-node01', 'IdentitiesOnly=yes']));
  });
  it("names each node's DPDK and node-network NICs: QEMU's own PCI slots, a host's as check hosts resolved it", () => {
    const qemu = providerFor({ provider: 'qemu' });
    expect(qemu.nics({ dpdk: true })).toEqual({ dpdk: '0000:00:04.0', nodeNetwork: '0000:00:05.0' });
    expect(qemu.nics({ dpdk: false }).nodeNetwork).toBe('0000:00:04.0');
    const hosts = providerFor({ provider: 'hosts' });
    const host = { address: '192.0.2.7', user: 'root', keyFile: '/k', hostKeys: [], nic: { iface: 'ens1f1' } };
    expect(hosts.nics({ dpdk: true }, { name: 'lab1', host } as unknown as ClusterRecord['nodes'][number]).dpdk).toBe('');
    expect(hosts.nics({ dpdk: true }, { name: 'lab1', host: { ...host, pci: '0000:03:00.1' } } as unknown as ClusterRecord['nodes'][number]).dpdk).toBe('0000:03:00.1');
  });
});

describe('connecting to every node', () => {
  it('closes the connections that were made when one fails, so that nothing keeps the CLI from exiting', async () => {
    const { allOrClose } = await import('../../src/provider/connect.js');
    const closed: string[] = [];
    const node = (name: string) => ({ name, role: 'worker' as const, address: '', runner: { host: name, run: async () => ({ stdout: '', stderr: '', exitCode: 0 }), close: async () => void closed.push(name) } });
    await expect(allOrClose([Promise.resolve(node('node01')), Promise.reject(new Error('node02: no answer')), Promise.resolve(node('node03'))])).rejects.toThrow('node02: no answer');
    expect(closed.sort()).toEqual(['node01', 'node03']);
    expect((await allOrClose([Promise.resolve(node('node01'))])).map((n) => n.name)).toEqual(['node01']);
  });
});
