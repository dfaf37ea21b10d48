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
    const client = providerFor(record).sshClient(record, node, { DPDKCI_STATE_DIR: '/tmp/dpdkci-seam' });
    expect(client).toMatchObject({ destination: 'root@127.0.0.1', port: 2211 });
    expect(client.options.join(' ')).toContain('-i /tmp/dpdkci-seam/clusters/seam/ssh/id_ed25519');
    expect(client.options).toEqual(expect.arrayContaining(['StrictHostKeyChecking=yes', 'HostKeyAlias=dpdkci-seam-node01', 'IdentitiesOnly=yes']));
  });
});
