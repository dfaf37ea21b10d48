import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeClusterRecord, readClusterRecord, type ClusterRecord, type NodeRecord } from '../../../src/core/cluster.js';
import type { Step } from '../../../src/core/pipeline.js';
import { nodeName, stateRoot } from '../../../src/core/paths.js';
import { macAddress } from '../qemu-args.js';
import { allocatePorts } from '../ports.js';
import { keygenArgv, nodeHostKey, prepareClusterKeys, writeKnownHosts } from '../provider.js';
import { nodePaths } from '../../../src/core/paths.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import type { ClusterOptions } from '../../../src/core/config.js';
import { need, type UpContext } from '../../../src/steps/context.js';
import { bootKernel } from '../../../src/image/provision.js';
import type { Places } from '../../../src/core/places.js';

export const SSH_PORT_BASE = 2201;
/** --random-ports: a start drawn from here, far from the fixed range and below Linux's ephemeral ports. */
export const RANDOM_PORT_RANGE = [20_000, 32_000] as const;

export function portBase(random: boolean, draw: () => number = Math.random): number {
  if (!random) return SSH_PORT_BASE;
  const [lo, hi] = RANDOM_PORT_RANGE;
  return lo + Math.floor(draw() * (hi - lo));
}

/** SSH ports other clusters on this host have recorded, so two clusters never pick the same one. */
export function portsOfOtherClusters(places: Places, prefix: string): Set<number> {
  const dir = join(stateRoot(places), 'clusters');
  const ports = new Set<number>();
  if (!existsSync(dir)) return ports;
  for (const other of readdirSync(dir)) {
    if (other === prefix) continue;
    const record = readClusterRecord(join(dir, other, 'cluster.json'));
    record?.nodes.forEach((n) => {
      ports.add(n.sshPort);
      if (n.apiPort) ports.add(n.apiPort);
    });
    if (record?.registryPort) ports.add(record.registryPort);
  }
  return ports;
}

function clusterByteOf(prefix: string): number {
  return createHash('sha256').update(prefix).digest()[0] ?? 0;
}

/** A new node's record: its role, SSH port and MACs (the secondary MACs are unique to the cluster). */
function nodeRecord(options: ClusterOptions, index: number, sshPort: number, hostKey: string, apiPort?: number): NodeRecord {
  return {
    name: nodeName(index),
    index,
    role: index === 1 ? 'control-plane' : 'worker',
    sshPort,
    ...(apiPort ? { apiPort } : {}),
    mgmtMac: macAddress(0, 0, 0x10),
    secondaryMacs: Array.from({ length: options.secondaryNics }, (_, n) => macAddress(clusterByteOf(options.prefix), index, n)),
    hostKey,
  };
}

/** The cluster's record: what `up` decided, read back by every later command. */
function clusterRecord(
  ctx: Pick<UpContext, 'options' | 'image' | 'owner'>,
  accel: ClusterRecord['accel'],
  accelReason: string,
  createdAt: string,
  nodes: NodeRecord[],
  registryPort: number | undefined,
): ClusterRecord {
  const image = need(ctx.image, 'image');
  return {
    prefix: ctx.options.prefix,
    provider: 'qemu',
    options: ctx.options,
    accel,
    accelReason,
    image: { hash: image.hash, disk: image.disk, kernel: bootKernel(image), initrd: image.initrd, kernelRelease: image.kernelRelease },
    createdAt,
    nodes,
    ...(registryPort ? { registryPort } : {}),
    owner: ctx.owner,
  };
}

/**
 * For `up --dry-run`: the record a new cluster would get, with the first ports of the range (up takes the
 * first free ones) and no keys (up generates them).
 */
export function plannedRecord(ctx: Pick<UpContext, 'options' | 'image' | 'owner'>): ClusterRecord {
  const { options } = ctx;
  const base = portBase(options.randomPorts, () => 0);
  const api = options.kubernetes !== 'none' ? base + options.nodes : undefined;
  const nodes = Array.from({ length: options.nodes }, (_, i) => nodeRecord(options, i + 1, base + i, 'ssh-ed25519 (generated-by-up)', i === 0 ? api : undefined));
  const registry = options.registry ? base + options.nodes + (api ? 1 : 0) : undefined;
  return clusterRecord(ctx, options.accel === 'kvm' ? 'kvm' : 'tcg', 'planned', '(at up)', nodes, registry);
}

/** State directory, cluster key pair, per-node host keys, ports and MACs: everything decided before boot. */
export const prepareCluster: Step<UpContext> = {
  name: 'prepare cluster',
  async isDone(ctx) {
    return ctx.record !== undefined && ctx.record.nodes.length === ctx.options.nodes;
  },
  async apply(ctx) {
    const { options, paths } = ctx;
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    await prepareClusterKeys(ctx.host, paths, options.prefix);
    const existing = ctx.record?.nodes ?? [];
    const reserved = portsOfOtherClusters(ctx.places, options.prefix);
    existing.forEach((n) => reserved.add(n.sshPort));
    const newCount = options.nodes - existing.length;
    // A new cluster with Kubernetes also forwards the control plane's API server, from one more port.
    const needApi = options.kubernetes !== 'none' && existing.length === 0;
    // A new cluster's registry, from one more (a cluster made without one stays without).
    const needRegistry = options.registry && existing.length === 0;
    if (ctx.record?.registryPort) reserved.add(ctx.record.registryPort);
    const ports = await allocatePorts(newCount + (needApi ? 1 : 0) + (needRegistry ? 1 : 0), portBase(options.randomPorts), reserved);
    const nodes: NodeRecord[] = [...existing];
    for (let i = existing.length + 1; i <= options.nodes; i++) {
      const apiPort = needApi && i === 1 ? ports[newCount] : undefined;
      nodes.push(nodeRecord(options, i, ports[i - existing.length - 1] as number, await nodeHostKey(ctx.host, paths, nodeName(i), options.prefix), apiPort));
    }
    const accel = need(ctx.accel, 'accelerator');
    const registryPort = needRegistry ? ports[newCount + (needApi ? 1 : 0)] : ctx.record?.registryPort;
    const record = clusterRecord(ctx, accel.accel, accel.warning ?? accel.probe?.reason ?? 'asked for', ctx.record?.createdAt ?? new Date().toISOString(), nodes, registryPort);
    writeClusterRecord(paths.specFile, record);
    writeKnownHosts(paths, record);
    ctx.record = record;
    ctx.created = new Set(nodes.slice(existing.length).map((n) => n.name));
    return `${nodes.length} node(s), ssh ports ${nodes.map((n) => n.sshPort).join(',')}`;
  },
  plan(ctx) {
    const { options, paths } = ctx;
    const record = need(ctx.record, 'cluster record');
    const ports = options.randomPorts
      ? `SSH ports from a random base in ${RANDOM_PORT_RANGE.join('-')}`
      : `SSH ports from ${SSH_PORT_BASE} up, skipping ports in use (here ${record.nodes.map((n) => n.sshPort).join(', ')})`;
    return [
      { on: 'host', verb: 'write', what: `${paths.dir}/ (mode 0700)` },
      { on: 'host', verb: 'run', what: remoteCommand(keygenArgv(paths.privateKey, `dpdkci-${options.prefix}`)) },
      ...record.nodes.map((n) => ({ on: 'host', verb: 'run' as const, what: remoteCommand(keygenArgv(`${nodePaths(paths, n.name).seedDir}/ssh_host_ed25519_key`, `${n.name}.${options.prefix}`)) })),
      {
        on: 'host',
        verb: 'write',
        what: `${paths.specFile} (${ports}; secondary MACs ${record.nodes.flatMap((n) => n.secondaryMacs).join(', ')})`,
      },
      { on: 'host', verb: 'write', what: `${paths.knownHosts} (mode 0600: the nodes' host keys, pinned before they boot)` },
    ];
  },
};

