import { existsSync } from 'node:fs';
import type { ClusterOptions } from '../../core/config.js';
import type { ClusterRecord } from '../../core/cluster.js';
import type { Progress } from '../../core/progress.js';
import type { Places } from '../../core/places.js';
import { given } from '../../core/option-table.js';
import { UsageError } from '../../core/errors.js';
import { cacheRoot } from '../../core/paths.js';
import { cachedImage, nodeImageRecipe } from '../../image/provision.js';
import { layerHash, layerInput } from '../../image/kubernetes-layer.js';
import { nodeScriptsHash } from '../../node-scripts/scripts.js';
import { qemuVersion } from '../../../providers/qemu/snapshot.js';
import { checkContents, checkSizes, checkSnapshotName, differences, listSnapshotNames, matchOf, readSnapshot, type SnapshotManifest, type SnapshotMatch } from '../../snapshot/store.js';
import type { Lock } from '../../versions/lock.js';

export interface SnapshotFlags {
  fromSnapshot?: string;
  snapshot?: string | boolean;
}

/** What `up` was asked to do with snapshots: nothing, restore one by name, or auto (restore or save). */
export type SnapshotRequest = { kind: 'none' } | { kind: 'named'; name: string; option: string } | { kind: 'auto'; option: string };

/** --from-snapshot NAME, --snapshot auto, or DPDKCI_SNAPSHOT (a name, or auto); checked before anything starts. */
export function snapshotRequest(flags: SnapshotFlags, env: NodeJS.ProcessEnv): SnapshotRequest {
  const snap = given('snapshot', flags, env);
  if (snap?.via === '--snapshot') {
    if (flags.fromSnapshot !== undefined) {
      throw new UsageError('--from-snapshot and --snapshot: give one (--from-snapshot NAME restores that snapshot; --snapshot auto restores a matching one or saves one)');
    }
    if (snap.value !== 'auto') throw new UsageError(`--snapshot: "${snap.value}" is not a mode; the one mode is auto (for a snapshot by name: --from-snapshot ${snap.value})`);
    return { kind: 'auto', option: '--snapshot auto' };
  }
  if (flags.fromSnapshot !== undefined) return { kind: 'named', name: checkSnapshotName(flags.fromSnapshot, '--from-snapshot'), option: '--from-snapshot' };
  if (!snap) return { kind: 'none' };
  if (snap.value === 'auto') return { kind: 'auto', option: `${snap.via}=auto` };
  return { kind: 'named', name: checkSnapshotName(snap.value, snap.via), option: snap.via };
}

/** The image these options boot: the cached base image, or its Kubernetes layer; "" when not built yet. */
function expectedImageHash(options: ClusterOptions, places: Places, lock: Lock | undefined): string {
  const image = cachedImage(cacheRoot(places), nodeImageRecipe());
  if (!image) return '';
  if (options.kubernetes === 'none') return image.hash;
  try {
    return lock ? layerHash(image, layerInput(lock, options.kubernetes)) : '';
  } catch {
    return '';
  }
}

/** The accelerator a restore would run on: as asked, or with auto the saved one when this host has it. */
function restoreAccel(options: ClusterOptions, saved: ClusterRecord['accel']): ClusterRecord['accel'] {
  if (options.accel !== 'auto') return options.accel;
  return saved === 'kvm' && !existsSync('/dev/kvm') ? 'tcg' : saved;
}

/** What a restore with these options, here, must match; accel follows the snapshot's when auto. */
export async function hereMatch(options: ClusterOptions, savedAccel: ClusterRecord['accel'], places: Places, lock: Lock | undefined): Promise<SnapshotMatch> {
  return matchOf(options, restoreAccel(options, savedAccel), expectedImageHash(options, places, lock), await qemuVersion(), nodeScriptsHash());
}

/** The named snapshot, checked against these options (a difference is named) and for missing or short files. */
export async function namedSnapshot(name: string, option: string, options: ClusterOptions, places: Places, lock: Lock | undefined): Promise<SnapshotManifest> {
  const manifest = readSnapshot(name, places, option);
  const diff = differences(manifest.match, await hereMatch(options, manifest.match.accel, places, lock));
  if (diff.length) {
    throw new UsageError(`${option} ${name}: the snapshot does not match this up: ${diff.join('; ')}. Bring it up with the options it was saved with, or save a new one (dpdkci snapshot save)`);
  }
  checkSizes(manifest, places);
  return manifest;
}

/**
 * --snapshot auto: the snapshot that matches, or why none does (one line). The one named after the match
 * key is tried first, then any other that matches.
 */
export async function autoSnapshot(options: ClusterOptions, places: Places, lock: Lock | undefined): Promise<{ manifest?: SnapshotManifest; why?: string }> {
  const names = listSnapshotNames(places);
  if (names.length === 0) return { why: 'there are no snapshots yet' };
  const reasons: string[] = [];
  for (const name of names.sort((a, b) => Number(b.startsWith('auto-')) - Number(a.startsWith('auto-')))) {
    try {
      const manifest = readSnapshot(name, places);
      const diff = differences(manifest.match, await hereMatch(options, manifest.match.accel, places, lock));
      if (diff.length) {
        reasons.push(`"${name}": ${diff[0]}${diff.length > 1 ? ` (+${diff.length - 1} more)` : ''}`);
        continue;
      }
      // A damaged snapshot is one that does not match: auto falls back rather than failing every run.
      checkSizes(manifest, places);
      checkContents(manifest, places);
      return { manifest };
    } catch (e) {
      reasons.push((e as Error).message);
    }
  }
  return { why: `none of ${names.length} matches: ${reasons.slice(0, 3).join('; ')}` };
}

export interface SnapshotDecision {
  /** Restore this snapshot instead of booting. */
  manifest?: SnapshotManifest;
  /** Its files' CRC-32 were checked already (--snapshot auto checks before it chooses). */
  contentsChecked?: boolean;
  /** --snapshot auto found none: save the cluster under this mode once up is done. */
  saveAfter?: boolean;
  /** The cluster record to go on with (none when an unfinished restore is to be removed). */
  existing?: ClusterRecord;
  /** An unfinished restore of this prefix: up removes it once it holds the cluster's lock. */
  removeFirst?: boolean;
}

/**
 * Settles a snapshot request before anything starts. A restore makes a new cluster: with a cluster of the
 * prefix already there it is refused, unless that cluster is an unfinished restore, which is removed so
 * that the same `up` can start over.
 */
export async function decideSnapshot(
  request: SnapshotRequest,
  options: ClusterOptions,
  existing: ClusterRecord | undefined,
  lock: Lock | undefined,
  ctx: { places: Places; progress: Progress },
  dryRun = false,
): Promise<SnapshotDecision> {
  if (request.kind === 'none') return { existing };
  const unfinished = existing?.restoredFrom && !existing.restoredFrom.complete;
  if (existing && !unfinished) {
    if (request.kind === 'auto') {
      ctx.progress.info(`${request.option}: cluster "${options.prefix}" is already up; nothing to restore, up checks it as usual`);
      return { existing };
    }
    throw new UsageError(
      `${request.option} ${request.name}: cluster "${options.prefix}" already exists, and a restore makes a new cluster; run \`dpdkci down --prefix ${options.prefix}\` first, or pick another --prefix`,
    );
  }
  const manifest = request.kind === 'named' ? await namedSnapshot(request.name, request.option, options, ctx.places, lock) : undefined;
  let decision: SnapshotDecision = { manifest };
  if (request.kind === 'auto') {
    const found = await autoSnapshot(options, ctx.places, lock);
    decision = found.manifest ? { manifest: found.manifest, contentsChecked: true } : { saveAfter: true };
    if (found.why) ctx.progress.info(`${request.option}: no snapshot to restore (${found.why}); a full up, saved as a snapshot at the end`);
  }
  if (unfinished && existing) {
    ctx.progress.warn(`cluster "${options.prefix}" is a restore of "${existing.restoredFrom?.snapshot}" that did not finish; ${dryRun ? 'up would remove it' : 'removing it'} to start over`);
    decision.removeFirst = true;
  }
  return decision;
}
