import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord } from '../../src/core/cluster.js';
import { DpdkciError, InterruptedError, UsageError } from '../../src/core/errors.js';
import { clusterPaths, nodePaths } from '../../src/core/paths.js';
import type { Progress } from '../../src/core/progress.js';
import { connectNodes } from '../../src/provider/connect.js';
import { nodeScriptPath, nodeScriptsHash, pushScriptsTo } from '../../src/node-scripts/scripts.js';
import { listNodes, sshTarget } from './provider.js';
import { connectSsh } from '../../src/exec/ssh-runner.js';
import { runWithHostTime } from '../../src/snapshot/clock.js';
import { cancelMigration, pauseNode, qemuVersion, resumeNode, saveNodeState } from './snapshot.js';
import {
  FORMAT, KEY_FILE, KUBECONFIG_FILE, MANIFEST, diskFile, matchKey, matchOf, crc32File, snapshotDir, snapshotsRoot, stateFile,
  autoName, type SnapshotFile, type SnapshotManifest, type SnapshotMatch,
} from '../../src/snapshot/store.js';
import type { Places } from '../../src/core/places.js';

export interface SaveContext {
  places: Places;
  progress: Progress;
  signal: AbortSignal;
}

/** What a restore of this cluster's snapshot must match: its options, accelerator and image, this QEMU, these node scripts. */
export async function recordMatch(record: ClusterRecord): Promise<SnapshotMatch> {
  return matchOf(record.options, record.accel, record.image.hash, await qemuVersion(), nodeScriptsHash());
}

/** The name a save without one gives, and the one `--snapshot auto` restores. */
export async function autoSaveName(record: ClusterRecord): Promise<string> {
  return autoName(matchKey(await recordMatch(record)));
}

/** Why a cluster cannot be saved as it is, or nothing. */
export function saveRefusal(record: ClusterRecord, places: Places): string | undefined {
  const down = listNodes(record).filter((n) => n.state !== 'running');
  if (down.length) return `${down.map((n) => n.name).join(', ')} of cluster "${record.prefix}" not running; run \`dpdkci up --prefix ${record.prefix}\` first`;
  if (record.restoredFrom && !record.restoredFrom.complete) return `cluster "${record.prefix}" is a restore that did not finish; run \`dpdkci up --prefix ${record.prefix}\` first`;
  if (record.dataplane && !record.lastCheck?.ok) return `the dataplane of cluster "${record.prefix}" has ${record.lastCheck ? 'failed' : 'not passed'} its check; run \`dpdkci check --prefix ${record.prefix}\` first`;
  if (!existsSync(clusterPaths(record.prefix, places).privateKey)) return `cluster "${record.prefix}" has no SSH key`;
  return undefined;
}

/**
 * Saves a healthy cluster as snapshot `name`: every node is told to give back memory nothing uses, then
 * all are paused together, their state and disks written, and all resumed, whatever happened. The files
 * go to a hidden directory that becomes the snapshot only once complete, so an interrupted or failed save
 * leaves nothing behind.
 */
export async function saveSnapshot(record: ClusterRecord, name: string, ctx: SaveContext): Promise<SnapshotManifest> {
  const { places, progress, signal } = ctx;
  const dir = snapshotDir(name, places);
  if (existsSync(dir)) throw new UsageError(`snapshot "${name}" exists (${dir}); remove it first with \`dpdkci snapshot rm ${name}\`, or pick another name`);
  const refusal = saveRefusal(record, places);
  if (refusal) throw new UsageError(`snapshot save: ${refusal}`);
  const began = performance.now();
  const paths = clusterPaths(record.prefix, places);
  const root = snapshotsRoot(places);
  // Made 0700; one that exists (DPDKCI_SNAPSHOT_DIR may name any directory) keeps its mode, and each
  // snapshot's own directory is 0700.
  if (!existsSync(root)) mkdirSync(root, { recursive: true, mode: 0o700 });
  const tmp = join(root, `.${name}.partial-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o700 });
  const paused = new Set<string>();
  try {
    const match = await recordMatch(record);
    let line = progress.start('prepare nodes for the save');
    const nodes = await connectNodes({ record, places });
    try {
      // The scripts are part of the saved disk, so a restore finds the reseed it runs.
      await pushScriptsTo(nodes);
      const said = await Promise.all(nodes.map((n) => n.runner.run(['bash', nodeScriptPath('snapshot.sh'), 'prepare'])));
      line.end('done', said.map((r, i) => `${nodes[i]?.name}: ${r.stdout.trim()}`).join(' | '));
    } catch (e) {
      line.end('failed', undefined, (e as Error).message);
      throw e;
    } finally {
      await Promise.all(nodes.map((n) => n.runner.close()));
    }
    if (signal.aborted) throw new InterruptedError();
    const files: SnapshotFile[] = [];
    line = progress.start('pause and save nodes');
    try {
      // All nodes pause before any is saved: the cluster is saved at one moment, peers included.
      for (const n of record.nodes) {
        await pauseNode(nodePaths(paths, n.name).qmp);
        paused.add(n.name);
      }
      const settled = await Promise.allSettled(
        record.nodes.map(async (n) => {
          const np = nodePaths(paths, n.name);
          const state = join(tmp, stateFile(n.name));
          // QEMU's `cat >` keeps the mode of a file that exists.
          writeFileSync(state, '', { mode: 0o600 });
          const r = await saveNodeState(np.qmp, state, np.disk, join(tmp, diskFile(n.name)), signal);
          chmodSync(join(tmp, diskFile(n.name)), 0o600);
          return `${n.name} ${r.seconds.toFixed(1)}s ${(statSync(state).size / 2 ** 20).toFixed(0)} MiB`;
        }),
      );
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) {
        // A node whose QMP failed may still be migrating: ended first, so that every node can be resumed.
        await Promise.all(record.nodes.map((n) => cancelMigration(nodePaths(paths, n.name).qmp)));
        throw failed.reason;
      }
      line.end('done', settled.map((s) => (s as PromiseFulfilledResult<string>).value).join(', '));
    } catch (e) {
      line.end('failed', signal.aborted ? 'interrupted' : undefined, (e as Error).message);
      throw signal.aborted ? new InterruptedError('snapshot save interrupted; the nodes run on and no snapshot was kept') : e;
    } finally {
      await resumeAll(record, paused, places, progress);
      // Their clocks stood still while paused, whether the save went through or not.
      if (paused.size) await setClocks(record, places, progress);
    }
    copyFileSync(paths.privateKey, join(tmp, KEY_FILE));
    chmodSync(join(tmp, KEY_FILE), 0o600);
    if (existsSync(paths.kubeconfig)) {
      copyFileSync(paths.kubeconfig, join(tmp, KUBECONFIG_FILE));
      chmodSync(join(tmp, KUBECONFIG_FILE), 0o600);
    }
    line = progress.start('checksum snapshot files');
    const names = [...record.nodes.flatMap((n) => [stateFile(n.name), diskFile(n.name)]), KEY_FILE, ...(existsSync(join(tmp, KUBECONFIG_FILE)) ? [KUBECONFIG_FILE] : [])];
    for (const file of names) {
      if (signal.aborted) throw new InterruptedError('snapshot save interrupted; the nodes run on and no snapshot was kept');
      files.push({ file, bytes: statSync(join(tmp, file)).size, crc32: crc32File(join(tmp, file)) });
    }
    line.end('done', `${(files.reduce((s, f) => s + f.bytes, 0) / 2 ** 20).toFixed(0)} MiB`);
    const manifest: SnapshotManifest = {
      format: FORMAT,
      name,
      createdAt: new Date().toISOString(),
      sourcePrefix: record.prefix,
      key: matchKey(match),
      match,
      record,
      files,
      saveSeconds: Math.round((performance.now() - began) / 100) / 10,
    };
    writeFileSync(join(tmp, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
    if (existsSync(dir)) throw new UsageError(`snapshot "${name}" was made by someone else meanwhile (${dir})`);
    renameSync(tmp, dir);
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The pause stopped the nodes' clocks: set them to the host's again (a node that cannot is a warning). */
async function setClocks(record: ClusterRecord, places: Places, progress: Progress): Promise<void> {
  await Promise.all(
    record.nodes.map(async (n) => {
      try {
        const ssh = await connectSsh(sshTarget(record, n, places), 15_000);
        try {
          await runWithHostTime(ssh, ['bash', nodeScriptPath('snapshot.sh'), 'clock']);
        } finally {
          ssh.dispose();
        }
      } catch (e) {
        progress.warn(`${n.name}: could not set its clock after the pause: ${(e as Error).message}`);
      }
    }),
  );
}

/** Resumes every node this save paused; a node that will not run again is an error naming it. */
async function resumeAll(record: ClusterRecord, paused: Set<string>, places: Places, progress: Progress): Promise<void> {
  const paths = clusterPaths(record.prefix, places);
  const failed: string[] = [];
  for (const name of paused) {
    try {
      await resumeNode(nodePaths(paths, name).qmp);
    } catch (e) {
      failed.push(`${name}: ${(e as Error).message}`);
    }
  }
  if (failed.length) {
    progress.warn(`could not resume ${failed.join('; ')}`);
    throw new DpdkciError(`snapshot save: nodes left paused: ${failed.join('; ')}; resume them with \`dpdkci up --prefix ${record.prefix}\` or remove the cluster`);
  }
}
