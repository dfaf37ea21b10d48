import { readClusterRecord, type ClusterRecord } from '../../core/cluster.js';
import { resolvePrefix } from '../../core/config.js';
import { ExitCode } from '../../core/errors.js';
import { clusterPaths } from '../../core/paths.js';
import type { Places } from '../../core/places.js';
import { formatTable } from '../../core/table.js';
import type { ClusterRegistry, NodeStatus, Provider } from '../../provider/provider.js';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';
import { checkOutputFormat } from '../output.js';

type Offers = Awaited<ReturnType<NonNullable<Provider['offers']>>>;

export function renderStatus(record: ClusterRecord, nodes: NodeStatus[], offers?: Offers): string {
  const offerCells = (name: string): string[] => {
    const o = offers?.[name];
    if (!o) return [];
    return 'error' in o ? ['?', '?', '?', '?', '?', '?'] : [o.nic, o.driver, String(o.numaNode), o.hugepagesFree, String(o.cpus), o.swap];
  };
  const head = ['NODE', 'ROLE', 'STATE', 'PID', 'SSH', ...(offers ? ['NIC', 'DRIVER', 'NUMA', 'HUGEPAGES FREE', 'CPUS', 'SWAP'] : [])];
  const rows = [head, ...nodes.map((n) => [n.name, n.role, n.state, n.pid ? String(n.pid) : '-', n.address, ...offerCells(n.name)])];
  const table = formatTable(rows);
  const unreadable = Object.entries(offers ?? {}).flatMap(([name, o]) => ('error' in o ? [`\n${name}: could not be read: ${o.error}`] : []));
  const provider = providerFor(record);
  const d = record.dataplane;
  const dataplane = d
    ? `\ndataplane: OVS-DPDK, bridge ${d.bridge}, NIC ${provider.nics(record.options).dpdk || "each host's (below)"} on vfio-pci, lcore mask ${d.lcoreMask}, PMD mask ${d.pmdMask}, ` +
      `socket-mem ${d.socketMemMiB}/${d.socketLimitMiB} MiB, vhost-user sockets in ${d.socketDir}` +
      (record.lastCheck ? `; last check ${record.lastCheck.ok ? 'passed' : 'FAILED'} at ${record.lastCheck.at}` : '')
    : '';
  const r = record.restoredFrom;
  const restored = r ? `\nsnapshot: restored from "${r.snapshot}" (saved ${r.savedAt}) at ${r.restoredAt}${r.complete ? '' : ', NOT FINISHED: dpdkci up --from-snapshot again starts over'}` : '';
  return `cluster ${record.prefix}: ${provider.summary(record)}${dataplane}${restored}\n${table}${unreadable.join('')}`;
}

export function statusJson(record: ClusterRecord, nodes: NodeStatus[], places: Places, offers?: Offers) {
  return {
    prefix: record.prefix,
    exists: true,
    provider: record.provider,
    accelerator: record.accel,
    acceleratorReason: record.accelReason,
    image: record.image,
    stateDir: clusterPaths(record.prefix, places).dir,
    secondaryNetwork: providerFor(record).secondaryNetwork(record, places),
    registry: registryJson(providerFor(record).registry(record, places)),
    options: record.options,
    snapshot: record.restoredFrom ?? null,
    nodes: nodes.map((n) => {
      const r = record.nodes.find((x) => x.name === n.name);
      return {
        ...n,
        ports: { ssh: n.sshPort },
        secondaryMacs: r?.secondaryMacs ?? [],
        dataplane: record.dataplane ? { ...record.dataplane, pci: r?.host?.pci ?? record.dataplane.pci } : null,
        ...(offers ? { offers: offers[n.name] ?? null } : {}),
      };
    }),
  };
}

export async function runStatus(flags: { prefix?: string; output?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  const prefix = resolvePrefix(flags.prefix, ctx.env);
  const record = readClusterRecord(clusterPaths(prefix, ctx.places).specFile);
  if (!record) {
    ctx.out(flags.output === 'json' ? JSON.stringify({ prefix, exists: false, nodes: [] }, null, 2) : `cluster ${prefix}: not found (dpdkci up --prefix ${prefix} creates it)`);
    return ExitCode.ok;
  }
  const provider = providerFor(record);
  const [nodes, offers] = await Promise.all([provider.listNodes(record, ctx.places), provider.offers?.(record, ctx.places)]);
  ctx.out(flags.output === 'json' ? JSON.stringify(statusJson(record, nodes, ctx.places, offers), null, 2) : renderStatus(record, nodes, offers));
  return ExitCode.ok;
}

/** status -o json's registry: where it is, the name the nodes pull it by, whether it runs (its shape is kept for scripts that read it). */
function registryJson(registry: ClusterRegistry | undefined) {
  return registry ? { address: registry.address, pullAs: registry.pullAs, running: registry.running } : null;
}
