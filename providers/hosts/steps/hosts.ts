import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { writeClusterRecord, type ClusterRecord, type NodeRecord } from '../../../src/core/cluster.js';
import type { Node } from '../../../src/exec/runner.js';
import { UsageError } from '../../../src/core/errors.js';
import type { Step } from '../../../src/core/pipeline.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import { BRIDGE } from '../../../src/dataplane/plan.js';
import type { Inventory } from '../../../src/core/inventory.js';
import { hostKeyAlias, hostOf } from '../access.js';
import { hostRefusals, parseHostFacts, swapSummary, type HostFacts } from '../facts.js';
import { nicArg } from '../offers.js';
import { hostFirewallWarning, hostKubernetesRefusals } from '../kubernetes.js';
import { runScript, stdinScriptArgv } from '../remote.js';
import { dataplaneStep } from '../../../src/steps/dataplane/index.js';
import { nodeScriptPath } from '../../../src/node-scripts/scripts.js';
import { need, type UpContext } from '../../../src/steps/context.js';
import { hostPackages } from './packages.js';

/**
 * The steps `up --provider hosts` runs before the dataplane's: the cluster's record from the inventory, the
 * check of every host (refusals that protect it), the record on each host of what it had, its packages and
 * hugepages. Nothing on a host changes before every host has passed the check.
 */

/**
 * The nodes of a hosts cluster, as the inventory gives them (what `check hosts` learns comes later); the
 * control plane first, since the Kubernetes steps take the first node as the one kubeadm init runs on.
 */
export function hostNodes(inventory: Inventory): NodeRecord[] {
  const hosts = [...inventory.hosts].sort((a, b) => Number(b.role === 'control-plane') - Number(a.role === 'control-plane'));
  return hosts.map((h, i) => ({
    name: h.name,
    index: i + 1,
    role: h.role,
    sshPort: h.port,
    mgmtMac: '',
    secondaryMacs: [],
    hostKey: h.hostKeys[0] as string,
    host: { address: h.address, user: h.user, keyFile: h.keyFile, hostKeys: h.hostKeys, nic: h.nic, ...(h.nodeIp ? { nodeIp: h.nodeIp } : {}) },
  }));
}

/**
 * What must match between an existing hosts cluster and the inventory given again, in name order; the node
 * IP only where the record has one (records made before it existed have none).
 */
function identity(nodes: NodeRecord[], withIp: boolean): string {
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  return JSON.stringify(sorted.map((n) => [n.name, n.role, n.sshPort, n.host?.address, n.host?.user, n.host?.keyFile, n.host?.hostKeys, n.host?.nic, withIp ? n.host?.nodeIp : null]));
}

export function hostsRecord(ctx: Pick<UpContext, 'options' | 'owner'>, inventory: Inventory, createdAt = new Date().toISOString()): ClusterRecord {
  return {
    prefix: ctx.options.prefix,
    provider: 'hosts',
    options: ctx.options,
    accel: 'none',
    accelReason: 'machines dpdkci did not boot',
    image: { hash: '', disk: '', kernel: '', initrd: '', kernelRelease: '' },
    createdAt,
    nodes: hostNodes(inventory),
    owner: ctx.owner,
  };
}

export const recordHostsCluster: Step<UpContext> = {
  name: 'record hosts cluster',
  async isDone(ctx) {
    const inventory = need(ctx.inventory, 'inventory');
    if (!ctx.record) return false;
    const withIp = ctx.record.nodes.some((n) => n.host?.nodeIp);
    if (identity(ctx.record.nodes, withIp) !== identity(hostNodes(inventory), withIp)) {
      throw new UsageError(
        `--inventory ${inventory.file}: its hosts are not the ones cluster "${ctx.options.prefix}" was brought up on; remove the cluster first (dpdkci down --prefix ${ctx.options.prefix}), or use another --prefix`,
      );
    }
    return true;
  },
  async apply(ctx) {
    const record = hostsRecord(ctx, need(ctx.inventory, 'inventory'));
    mkdirSync(ctx.paths.dir, { recursive: true, mode: 0o700 });
    chmodSync(ctx.paths.dir, 0o700);
    mkdirSync(ctx.paths.sshDir, { recursive: true, mode: 0o700 });
    // The pinned keys under an alias per host, for `dpdkci ssh`'s system ssh (HostKeyAlias).
    const known = record.nodes.flatMap((n) => hostOf(n).hostKeys.map((k) => `${hostKeyAlias(record.prefix, n.name)} ${k}`));
    writeFileSync(ctx.paths.knownHosts, `${known.join('\n')}\n`, { mode: 0o600 });
    writeClusterRecord(ctx.paths.specFile, record);
    ctx.record = record;
    return `${record.nodes.length} host(s): ${record.nodes.map((n) => `${n.name} (${hostOf(n).address})`).join(', ')}`;
  },
  plan(ctx) {
    const inventory = need(ctx.inventory, 'inventory');
    return [
      { on: 'host', verb: 'write', what: `${ctx.paths.specFile} (${inventory.hosts.length} host(s) from ${inventory.file}) and ${ctx.paths.knownHosts} (their pinned host keys)` },
    ];
  },
};

function factsArgs(ctx: UpContext, node: NodeRecord): string[] {
  return [nicArg(hostOf(node)), BRIDGE, ctx.options.vhostSocketDir];
}

/** A host's swap as check hosts reports it: left on, and with Kubernetes how the kubelet runs beside it. */
function swapNote(facts: HostFacts, kubernetes: boolean): string {
  if (!facts.swaps.length) return ', no swap';
  return `, swap ${swapSummary(facts)} left on${kubernetes ? ' (kubelet: failSwapOn false, swapBehavior NoSwap: pods never swap)' : ''}`;
}

/** host-facts.sh on every host, each judged; any refusal stops `up` (exit 2) before a host changes. */
export const checkHosts: Step<UpContext> = {
  name: 'check hosts',
  observes: true,
  async isDone() {
    return false;
  },
  async apply(ctx) {
    const record = need(ctx.record, 'cluster record');
    const nodes = need(ctx.nodes, 'nodes');
    const found = await Promise.all(
      nodes.map(async (node): Promise<[Node, HostFacts]> => {
        const r = await runScript(node, 'host-facts.sh', factsArgs(ctx, recordOf(record, node)), 60_000);
        if (r.exitCode !== 0) throw new UsageError(`host "${node.name}": host-facts.sh exited ${r.exitCode}: ${r.stderr.trim()}`);
        return [node, parseHostFacts(r.stdout)];
      }),
    );
    const refusals = found.flatMap(([node, facts]) => {
      const h = hostOf(recordOf(record, node));
      const o = ctx.options;
      const want = { name: node.name, nic: nicArg(h), prefix: o.prefix, bridge: BRIDGE, hugepages2m: o.hugepages2m, hugepages1g: o.hugepages1g, vfioNoiommu: o.vfioNoiommu };
      const k8s = o.kubernetes === 'none' ? [] : hostKubernetesRefusals(facts, { ...want, kubernetes: { role: recordOf(record, node).role, nodes: record.nodes.length } }, facts.statePrefix === o.prefix);
      return [...hostRefusals(facts, want), ...k8s];
    });
    if (refusals.length) throw new UsageError(`nothing was changed on any host:\n${refusals.map((r) => `  ${r}`).join('\n')}`);
    if (ctx.options.kubernetes !== 'none') {
      for (const [node, facts] of found) {
        const warning = hostFirewallWarning(node.name, facts);
        if (warning) ctx.progress.warn(warning);
      }
    }
    for (const [node, facts] of found) {
      const n = recordOf(record, node);
      n.host = { ...hostOf(n), pci: facts.nicPci, cpus: facts.cpus };
    }
    writeClusterRecord(ctx.paths.specFile, record);
    return found.map(([node, f]) => `${node.name}: ${f.osPretty}, ${f.cpus} CPUs, NIC ${f.nicPci} on ${f.nicDriver || 'no driver'}${swapNote(f, ctx.options.kubernetes !== 'none')}`).join('; ');
  },
  plan(ctx) {
    const record = need(ctx.record, 'cluster record');
    return record.nodes.map((n) => ({
      on: n.name,
      verb: 'run' as const,
      what: `${remoteCommand(stdinScriptArgv(factsArgs(ctx, n)))} < scripts/node/host-facts.sh   (reads only; refuses a NIC that carries the default route or SSH, or that something else claims, a host that is not Debian 12, no IOMMU, too few CPUs or memory)`,
    }));
  },
};

function recordOf(record: ClusterRecord, node: Pick<Node, 'name'>): NodeRecord {
  const n = record.nodes.find((x) => x.name === node.name);
  if (!n) throw new Error(`internal: ${node.name} is not in the record`);
  return n;
}

/** The record of what each host had, made once, before dpdkci's first change there (its own scripts included). */
export const recordHostState: Step<UpContext> = {
  name: 'record what each host had',
  async isDone(ctx) {
    const nodes = need(ctx.nodes, 'nodes');
    const states = await Promise.all(nodes.map((n) => runScript(n, 'host-state.sh', ['check', ...recordArgs(ctx, n)], 60_000)));
    states.forEach((r, i) => {
      if (r.exitCode !== 0 && r.exitCode !== 3) throw new UsageError(`host "${nodes[i]?.name}": ${r.stderr.trim()}`);
    });
    return states.every((r) => r.exitCode === 0);
  },
  async apply(ctx) {
    const nodes = need(ctx.nodes, 'nodes');
    await Promise.all(
      nodes.map(async (n) => {
        const r = await runScript(n, 'host-state.sh', ['apply', ...recordArgs(ctx, n)], 60_000);
        if (r.exitCode !== 0) throw new UsageError(`host "${n.name}": ${r.stderr.trim()}`);
      }),
    );
    return `/var/lib/dpdkci/host-state on ${nodes.map((n) => n.name).join(', ')} (dpdkci down puts back what it lists)`;
  },
  plan(ctx) {
    return need(ctx.record, 'cluster record').nodes.map((n) => ({
      on: n.name,
      verb: 'run' as const,
      what: `${remoteCommand(stdinScriptArgv(['apply', ...recordArgs(ctx, n)]))} < scripts/node/host-state.sh   (once: the NIC's driver, OVS's build, settings and services, hugepages, the group, the directories)`,
    }));
  },
};

function recordArgs(ctx: UpContext, node: Pick<Node, 'name'>): string[] {
  const h = hostOf(recordOf(need(ctx.record, 'cluster record'), node));
  return ['record', ctx.options.prefix, h.pci ?? nicArg(h), ctx.options.vhostSocketDir, BRIDGE];
}

const HOST_STATE = nodeScriptPath('host-state.sh');

export const installHostPackages = dataplaneStep('install node packages', 'packages', (_p, ctx) => hostPackages({ kubernetes: ctx.options.kubernetes !== 'none' }), HOST_STATE);
export const reserveHugepages = dataplaneStep('reserve hugepages', 'hugepages', (_p, ctx) => [String(ctx.options.hugepages2m), String(ctx.options.hugepages1g)], HOST_STATE);
