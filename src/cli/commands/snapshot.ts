import { existsSync, rmSync } from 'node:fs';
import { readClusterRecord } from '../../core/cluster.js';
import { resolvePrefix } from '../../core/config.js';
import { ExitCode, UsageError } from '../../core/errors.js';
import { clusterPaths } from '../../core/paths.js';
import { formatTable } from '../../core/table.js';
import { checkSnapshotName, listSnapshotNames, readSnapshot, snapshotBytes, snapshotDir, snapshotsRoot } from '../../snapshot/store.js';
import type { Provider, SnapshotOps } from '../../provider/provider.js';
import { providerFor } from '../providers.js';
import type { CommandContext } from '../context.js';
import { checkOutputFormat } from '../output.js';
import { takeLock } from './up-guards.js';

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** The provider's snapshots, or bad input naming the provider, why it has none, and the fix (`fix`). */
export function snapshotsOf(provider: Provider, option: string, prefix: string, fix = 'snapshots need --provider qemu'): SnapshotOps {
  if (provider.snapshot) return provider.snapshot;
  throw new UsageError(
    `${option}: cluster "${prefix}" is on provider ${provider.name}, which cannot save or restore its nodes: a snapshot is the memory, devices and disks of the QEMU nodes dpdkci boots, ` +
      `and ${provider.name} nodes are machines dpdkci did not boot; nothing was changed: ${fix}`,
  );
}

/** `dpdkci snapshot save [NAME]`: without a name, the one `up --snapshot auto` looks for. */
export async function runSnapshotSave(name: string | undefined, flags: { prefix?: string; output?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  if (name !== undefined) checkSnapshotName(name, 'snapshot save NAME');
  const prefix = resolvePrefix(flags.prefix, ctx.env);
  const record = readClusterRecord(clusterPaths(prefix, ctx.places).specFile);
  if (!record) throw new UsageError(`--prefix: there is no cluster "${prefix}" to save; bring one up with \`dpdkci up --prefix ${prefix}\``);
  const snapshots = snapshotsOf(providerFor(record), 'snapshot save', prefix);
  const chosen = name ?? (await snapshots.autoName(record));
  // One dpdkci at a time on a cluster: an up, a down or another save would meet the paused nodes.
  const release = takeLock(clusterPaths(prefix, ctx.places));
  let saved;
  try {
    saved = await snapshots.save(record, chosen, ctx);
  } finally {
    release();
  }
  if (flags.output === 'json') {
    ctx.out(JSON.stringify({ name: chosen, dir: snapshotDir(chosen, ctx.places), bytes: saved.bytes, saveSeconds: saved.seconds, timings: ctx.progress.timings }, null, 2));
  } else {
    ctx.out(`saved cluster "${prefix}" as snapshot "${chosen}": ${mib(saved.bytes)} in ${snapshotDir(chosen, ctx.places)}, ${saved.seconds} s; the nodes run on`);
    ctx.out(`restore it with: dpdkci up --from-snapshot ${chosen} --prefix NEW-PREFIX (and the options it was saved with)`);
  }
  return ExitCode.ok;
}

export async function runSnapshotList(flags: { output?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  const rows = listSnapshotNames(ctx.places).map((name) => {
    try {
      const m = readSnapshot(name, ctx.places);
      const o = m.record.options;
      return { name, createdAt: m.createdAt, from: m.sourcePrefix, nodes: m.record.nodes.length, dpdk: o.dpdk, kubernetes: o.kubernetes, accel: m.match.accel, bytes: snapshotBytes(m), problem: null as string | null };
    } catch (e) {
      return { name, createdAt: '', from: '', nodes: 0, dpdk: false, kubernetes: '', accel: '', bytes: 0, problem: (e as Error).message };
    }
  });
  if (flags.output === 'json') {
    ctx.out(JSON.stringify({ dir: snapshotsRoot(ctx.places), snapshots: rows }, null, 2));
    return ExitCode.ok;
  }
  if (rows.length === 0) {
    ctx.out(`no snapshots in ${snapshotsRoot(ctx.places)} (dpdkci snapshot save makes one)`);
    return ExitCode.ok;
  }
  ctx.out(
    formatTable([
      ['NAME', 'SAVED', 'FROM', 'NODES', 'DPDK', 'KUBERNETES', 'ACCEL', 'SIZE'],
      ...rows.map((r) => (r.problem ? [r.name, 'damaged', '-', '-', '-', '-', '-', r.problem] : [r.name, r.createdAt, r.from, String(r.nodes), r.dpdk ? 'yes' : 'no', r.kubernetes, r.accel, mib(r.bytes)])),
    ]),
  );
  return ExitCode.ok;
}

export async function runSnapshotRm(name: string, ctx: CommandContext): Promise<number> {
  checkSnapshotName(name, 'snapshot rm NAME');
  const dir = snapshotDir(name, ctx.places);
  if (!existsSync(dir)) {
    const have = listSnapshotNames(ctx.places);
    throw new UsageError(`snapshot rm: no snapshot "${name}" (${have.length ? `there are: ${have.join(', ')}` : 'there are none'}; dpdkci snapshot list)`);
  }
  rmSync(dir, { recursive: true, force: true });
  ctx.out(`removed snapshot "${name}" (${dir})`);
  return ExitCode.ok;
}
