import type { ClusterRecord } from '../../src/core/cluster.js';
import type { Places } from '../../src/core/places.js';
import { connectNode } from '../../src/provider/connect.js';
import type { NodeOffer } from '../../src/provider/provider.js';
import { BRIDGE } from '../../src/dataplane/plan.js';
import { hostOf } from './access.js';
import { hostOffer, parseHostFacts } from './facts.js';
import { runScript } from './remote.js';

/** The NIC spec host-facts.sh takes: the PCI address the check found, else the inventory's own words. */
export function nicArg(host: NonNullable<ClusterRecord['nodes'][number]['host']>): string {
  return host.pci ?? ('pci' in host.nic ? host.nic.pci : host.nic.iface);
}

/** What each host offers now, read over SSH with host-facts.sh (which changes nothing). */
export async function hostOffers(record: ClusterRecord, places: Places): Promise<Record<string, NodeOffer | { error: string }>> {
  const socketDir = record.options.vhostSocketDir;
  const entries = await Promise.all(
    record.nodes.map(async (node) => {
      try {
        const on = await connectNode(record, node, places, 10_000);
        try {
          const r = await runScript(on, 'host-facts.sh', [nicArg(hostOf(node)), BRIDGE, socketDir], 60_000);
          if (r.exitCode !== 0) return [node.name, { error: `host-facts.sh exited ${r.exitCode}: ${r.stderr.trim()}` }] as const;
          return [node.name, hostOffer(parseHostFacts(r.stdout))] as const;
        } finally {
          await on.runner.close();
        }
      } catch (e) {
        return [node.name, { error: (e as Error).message }] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}
