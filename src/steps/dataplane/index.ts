import type { Node } from '../../exec/runner.js';
import { DpdkciError, CommandError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import type { DataplanePlan } from '../../core/dataplane-limits.js';
import { dataplanePlan } from '../../dataplane/plan.js';
import { providerOf } from '../../provider/registry.js';
import { nodeScriptPath } from '../../node-scripts/scripts.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { need, type UpContext } from '../context.js';

const SETUP = nodeScriptPath('dpdk-setup.sh');

/** What the dataplane steps use of `up`'s context: `sync` runs them on a cluster that is already up. */
export type DataplaneContext = Pick<UpContext, 'options' | 'nodes' | 'changes' | 'created' | 'record'>;

/** The cluster's plan: what every QEMU node gets; on hosts, what they share (the NIC and PMD core are each host's). */
export function planFor(ctx: Pick<UpContext, 'options'>): DataplanePlan {
  const o = ctx.options;
  return dataplanePlan({ pci: providerOf(o).nics(o).dpdk, cpus: o.cpus, hugepages2m: o.hugepages2m, hugepages1g: o.hugepages1g, socketDir: o.vhostSocketDir });
}

/** One node's plan: a host's own DPDK NIC and last CPU for the PMD, as `check hosts` found them. */
export function nodePlan(ctx: Pick<UpContext, 'options' | 'record'>, name: string): DataplanePlan {
  const host = ctx.record?.nodes.find((n) => n.name === name)?.host;
  if (!host) return planFor(ctx);
  const o = ctx.options;
  if (!host.pci || !host.cpus) throw new Error(`internal: host ${name} was not checked yet (step order)`);
  return dataplanePlan({ pci: host.pci, cpus: host.cpus, hugepages2m: o.hugepages2m, hugepages1g: o.hugepages1g, socketDir: o.vhostSocketDir });
}

/** Pending on a node? `dpdk-setup.sh check` exits 0 when converged and 3 when apply has work. */
async function pending(node: Node, script: string, name: string, part: string, args: string[]): Promise<boolean> {
  const r = await node.runner.run([script, 'check', part, ...args], { check: false, timeoutMs: 120_000 });
  if (r.exitCode === 0) return false;
  if (r.exitCode === 3) return true;
  throw failure(node, name, new CommandError(node.name, [script, 'check', part, ...args], r.exitCode, r.stderr, r.stdout));
}

/** A node's plan for --dry-run: a host not checked yet shows its NIC as the inventory gives it. */
function plannedNode(ctx: DataplaneContext, name: string): DataplanePlan {
  const host = ctx.record?.nodes.find((n) => n.name === name)?.host;
  // Placeholders the dry run's header explains: what `check hosts` finds on the host.
  if (host && !host.pci) return { ...planFor(ctx), pci: 'pci' in host.nic ? host.nic.pci : `PCI_OF_${host.nic.iface}`, pmdMask: 'LAST_CPU_MASK' };
  return nodePlan(ctx, name);
}

/** What the user sees when a part fails on a node: the node, the step, and the script's own words. */
function failure(node: Node, name: string, error: CommandError): DpdkciError {
  return new DpdkciError(`${node.name}: ${name} failed:\n${(error.stderr || error.stdout).trim()}`, { cause: error });
}

/**
 * A dataplane step: one part of scripts/node/dpdk-setup.sh, converged on every node in parallel.
 * A failure names the node and carries the script's explanation (and OVS log lines).
 */
export function dataplaneStep(name: string, part: string, args: (plan: DataplanePlan, ctx: DataplaneContext) => string[], script = SETUP): Step<DataplaneContext, Node[]> {
  // isDone returns the nodes with work to do; apply touches only those (every node when called on its own).
  return {
    name,
    enabled: (ctx) => ctx.options.dpdk,
    async isDone(ctx) {
      const nodes = need(ctx.nodes, 'nodes');
      // A node this run created has everything still to do: one SSH round trip (a few hundred ms under TCG)
      // saved per part and node.
      const states = await Promise.all(nodes.map((n) => (ctx.created?.has(n.name) ? true : pending(n, script, name, part, args(nodePlan(ctx, n.name), ctx)))));
      const todo = nodes.filter((_, i) => states[i]);
      return todo.length === 0 || { pending: todo };
    },
    async apply(ctx, progress, todo) {
      const changes: string[] = [];
      await Promise.all(
        (todo ?? need(ctx.nodes, 'nodes')).map(async (node) => {
          try {
            const r = await node.runner.run([script, 'apply', part, ...args(nodePlan(ctx, node.name), ctx)], { timeoutMs: 600_000 });
            for (const line of r.stdout.split('\n')) {
              if (line.startsWith('changed ')) {
                changes.push(`${node.name}: ${line.slice(8)}`);
                ctx.changes?.push(`${node.name}: ${line.slice(8)}`);
                progress.update(`${node.name}: ${line.slice(8)}`);
              }
            }
          } catch (e) {
            throw e instanceof CommandError ? failure(node, name, e) : e;
          }
        }),
      );
      return changes.length ? `${changes.length} change(s)` : 'already converged';
    },
    plan(ctx) {
      const names = ctx.nodes?.map((n) => n.name) ?? [];
      return names.flatMap((name) => {
        const a = args(plannedNode(ctx, name), ctx);
        return ctx.created?.has(name)
          ? [{ on: name, verb: 'run' as const, what: `${remoteCommand([script, 'apply', part, ...a])}   (a node this up creates: no check first)` }]
          : [
              { on: name, verb: 'run' as const, what: remoteCommand([script, 'check', part, ...a]) },
              { on: name, verb: 'run' as const, what: `${remoteCommand([script, 'apply', part, ...a])}   (only when check exits 3: work to do)` },
            ];
      });
    },
  };
}

/** The transient unit the background preparation runs in, on a node this up created. */
export const PREWARM_UNIT = 'dpdkci-prewarm';

export function prewarmArgv(): string[] {
  return ['systemd-run', '--no-block', '--collect', `--unit=${PREWARM_UNIT}`, '--description=dpdkci: prepare for OVS-DPDK', SETUP, 'prewarm', 'ovs'];
}

/**
 * On nodes this up created, starts `dpdk-setup.sh prewarm ovs` in the background (ovsdb-server, the modules,
 * DPDK's drivers into the page cache), so that it overlaps the hugepages, vfio and socket-dir steps instead
 * of adding to the OVS step. Not at boot: there it slowed the first SSH login by seconds.
 */
export const prewarmStep: Step<DataplaneContext> = {
  name: 'prepare OVS in the background',
  enabled: (ctx) => ctx.options.dpdk,
  async isDone(ctx) {
    return !need(ctx.nodes, 'nodes').some((n) => ctx.created?.has(n.name));
  },
  async apply(ctx) {
    const nodes = need(ctx.nodes, 'nodes').filter((n) => ctx.created?.has(n.name));
    await Promise.all(nodes.map((n) => n.runner.run(prewarmArgv(), { timeoutMs: 60_000 })));
    return nodes.map((n) => n.name).join(', ');
  },
  plan(ctx) {
    return (ctx.nodes ?? [])
      .filter((n) => ctx.created?.has(n.name))
      .map((n) => ({ on: n.name, verb: 'run' as const, what: `${remoteCommand(prewarmArgv())}   (returns at once; the OVS step finds its work done or joins it)` }));
  },
};

export const dataplaneSteps: Step<DataplaneContext>[] = [
  prewarmStep,
  dataplaneStep('check hugepages', 'hugepages', (_p, ctx) => [String(ctx.options.hugepages2m), String(ctx.options.hugepages1g)]),
  dataplaneStep('bind DPDK NIC to vfio-pci', 'vfio', (p, ctx) => [p.pci, ctx.options.vfioNoiommu ? '1' : '0']),
  dataplaneStep('vhost-user socket directory', 'socket-dir', (p) => [p.socketDir]),
  dataplaneStep('OVS-DPDK and br-dpdk0', 'ovs', (p) => [p.pci, String(p.socketMemMiB), String(p.socketLimitMiB), p.lcoreMask, p.pmdMask, p.bridge, String(p.pmdMaxSleepUs)]),
];
