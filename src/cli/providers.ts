import type { ClusterRecord } from '../core/cluster.js';
import type { Provider } from '../provider/provider.js';
import { qemuProvider } from '../../providers/qemu/index.js';

/**
 * The one place a provider is chosen: by the cluster's record, or QEMU for a prefix without one (`down` of
 * a cluster whose record is gone).
 */
export function providerFor(record?: Pick<ClusterRecord, 'provider'>): Provider {
  switch (record?.provider ?? 'qemu') {
    case 'qemu':
      return qemuProvider;
  }
}
