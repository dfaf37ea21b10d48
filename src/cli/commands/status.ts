import { readClusterRecord, type ClusterRecord } from '../../core/cluster.js';
import { NODE_REGISTRY_NAME, registryPaths, registryProcesses } from '../../../providers/qemu/registry.js';
import { resolvePrefix } from '../../core/config.js';
import { ExitCode } from '../../core/errors.js';
import { clusterPaths } from '../../core/paths.js';
import { formatTable } from '../../core/table.js';
import type { NodeStatus } from '../../provider/provider.js';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';
import { checkOutputFormat } from '../output.js';

export function renderStatus(record: ClusterRecord, nodes: NodeStatus[]): string {
  const rows = [['NODE', 'ROLE', 'STATE', 'PID', 'SSH'], ...nodes.map((n) => [n.name, n.role, n.state, n.pid ? String(n.pid) : '-', `127.0.0.1:${n.sshPort}`])];
  const table = formatTable(rows);
  const d = record.dataplane;
  const dataplane = d
    ? `\ndataplane: OVS-DPDK, bridge ${d.bridge}, NIC ${d.pci} on vfio-pci, lcore mask ${d.lcoreMask}, PMD mask ${d.pmdMask}, ` +
      `socket-mem ${d.socketMemMiB}/${d.socketLimitMiB} MiB, vhost-user sockets in ${d.socketDir}` +
      (record.lastCheck ? `; last check ${record.lastCheck.ok ? 'passed' : 'FAILED'} at ${record.lastCheck.at}` : '')
    : '';
  const r = record.restoredFrom;
  const restored = r ? `\nsnapshot: restored from "${r.snapshot}" (saved ${r.savedAt}) at ${r.restoredAt}${r.complete ? '' : ', NOT FINISHED: dpdkci up --from-snapshot again starts over'}` : '';
  return `cluster ${record.prefix}: accelerator ${record.accel}, image ${record.image.hash} (kernel ${record.image.kernelRelease})${dataplane}${restored}\n${table}`;
}

export function statusJson(record: ClusterRecord, nodes: NodeStatus[], env: NodeJS.ProcessEnv) {
  return {
    prefix: record.prefix,
    exists: true,
    provider: record.provider,
    accelerator: record.accel,
    acceleratorReason: record.accelReason,
    image: record.image,
    stateDir: clusterPaths(record.prefix, env).dir,
    secondaryNetwork: { kind: 'vde-switch', running: providerFor(record).secondaryNetworkRunning(record, env) },
    registry: record.registryPort
      ? { address: `127.0.0.1:${record.registryPort}`, pullAs: NODE_REGISTRY_NAME, running: registryProcesses(registryPaths(clusterPaths(record.prefix, env).dir)).length > 0 }
      : null,
    options: record.options,
    snapshot: record.restoredFrom ?? null,
    nodes: nodes.map((n) => {
      const r = record.nodes.find((x) => x.name === n.name);
      return { ...n, ports: { ssh: n.sshPort }, secondaryMacs: r?.secondaryMacs ?? [], dataplane: record.dataplane ?? null };
    }),
  };
}

export async function runStatus(flags: { prefix?: string; output?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  const prefix = resolvePrefix(flags.prefix, ctx.env);
  const record = readClusterRecord(clusterPaths(prefix, ctx.env).specFile);
  if (!record) {
    ctx.out(flags.output === 'json' ? JSON.stringify({ prefix, exists: false, nodes: [] }, null, 2) : `cluster ${prefix}: not found (dpdkci up --prefix ${prefix} creates it)`);
    return ExitCode.ok;
  }
  const nodes = providerFor(record).listNodes(record);
  ctx.out(flags.output === 'json' ? JSON.stringify(statusJson(record, nodes, ctx.env), null, 2) : renderStatus(record, nodes));
  return ExitCode.ok;
}
