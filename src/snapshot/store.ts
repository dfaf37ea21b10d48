import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { closeSync, existsSync, openSync, readSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterOptions } from '../core/config.js';
import type { ClusterRecord } from '../core/cluster.js';
import { UsageError } from '../core/errors.js';
import type { Places } from '../core/places.js';

/**
 * Saved clusters in the cache directory: snapshots/<name>/ (mode 0700) holds snapshot.json, each node's
 * state (<node>.state, QEMU's migration stream) and disk (<node>.qcow2, its overlay over the image), the
 * cluster key the state still trusts (id_ed25519) and, with Kubernetes, the admin kubeconfig. Every file
 * is mode 0600.
 */
export const MANIFEST = 'snapshot.json';
export const FORMAT = 1;

export interface SnapshotFile {
  file: string;
  bytes: number;
  /**
   * CRC-32 of the content, for damage (a short or flipped write, a bad disk), not tampering: whoever could
   * change a file could change snapshot.json beside it. It runs at several GB/s, so a restore checks every
   * byte before any QEMU starts.
   */
  crc32: number;
}

export interface SnapshotManifest {
  format: typeof FORMAT;
  name: string;
  createdAt: string;
  /** The cluster it was saved from. */
  sourcePrefix: string;
  /** Hash of everything a restore must match; `--snapshot auto` looks snapshots up by it. */
  key: string;
  match: SnapshotMatch;
  /** The source cluster's record: nodes (names, roles, MACs, the host keys the state has), dataplane, image. */
  record: ClusterRecord;
  files: SnapshotFile[];
  saveSeconds: number;
}

/** What a restored cluster must have in common with the saved one: options, image, QEMU, node scripts. */
export interface SnapshotMatch {
  options: Omit<ClusterOptions, 'prefix' | 'randomPorts'>;
  accel: ClusterRecord['accel'];
  imageHash: string;
  qemuVersion: string;
  /** sha256 over scripts/node/*.sh: the nodes run the scripts they were saved with. */
  nodeScripts: string;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function checkSnapshotName(name: string, option: string): string {
  if (!NAME.test(name)) {
    throw new UsageError(`${option}: "${name}" is not a snapshot name (lower-case letters, digits, ".", "_" and "-", at most 63, starting with a letter or digit); e.g. ${option} dpdk-1node`);
  }
  return name;
}

/** DPDKCI_SNAPSHOT_DIR, else snapshots/ in the cache directory. */
export function snapshotsRoot(places: Places): string {
  return places.snapshotRoot;
}

export function snapshotDir(name: string, places: Places): string {
  return join(snapshotsRoot(places), name);
}

export function matchOf(options: ClusterOptions, accel: ClusterRecord['accel'], imageHash: string, qemuVersion: string, nodeScripts: string): SnapshotMatch {
  const { prefix: _prefix, randomPorts: _randomPorts, ...rest } = options;
  return { options: rest, accel, imageHash, qemuVersion, nodeScripts };
}

export function matchKey(match: SnapshotMatch): string {
  const keys = Object.keys(match.options).sort();
  const options = Object.fromEntries(keys.map((k) => [k, match.options[k as keyof SnapshotMatch['options']]]));
  return createHash('sha256').update(JSON.stringify({ ...match, options })).digest('hex');
}

/** The name `snapshot save` gives when none is asked for, and the one `--snapshot auto` restores. */
export function autoName(key: string): string {
  return `auto-${key.slice(0, 16)}`;
}

/** What differs between a snapshot and what this `up` would make, each "what: saved X, here Y". */
export function differences(saved: SnapshotMatch, here: SnapshotMatch): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(saved.options), ...Object.keys(here.options)]);
  for (const k of [...keys].sort()) {
    const a = JSON.stringify(saved.options[k as keyof SnapshotMatch['options']]);
    const b = JSON.stringify(here.options[k as keyof SnapshotMatch['options']]);
    if (a !== b) out.push(`option ${k}: saved ${a}, here ${b}`);
  }
  if (saved.accel !== here.accel) out.push(`accelerator: saved ${saved.accel}, here ${here.accel}`);
  if (saved.imageHash !== here.imageHash) out.push(`node image: saved ${saved.imageHash}, here ${here.imageHash || '(not built)'}`);
  if (saved.qemuVersion !== here.qemuVersion) out.push(`QEMU: saved "${saved.qemuVersion}", here "${here.qemuVersion}"`);
  if (saved.nodeScripts !== here.nodeScripts) out.push(`node scripts (scripts/node/*.sh): saved ${saved.nodeScripts.slice(0, 12)}, here ${here.nodeScripts.slice(0, 12)} (dpdkci changed since)`);
  return out;
}

export function stateFile(node: string): string {
  return `${node}.state`;
}

export function diskFile(node: string): string {
  return `${node}.qcow2`;
}

export const KEY_FILE = 'id_ed25519';
export const KUBECONFIG_FILE = 'kubeconfig';

/** A snapshot's manifest, or a UsageError naming the snapshot and what to do. */
export function readSnapshot(name: string, places: Places, option = 'snapshot'): SnapshotManifest {
  const dir = snapshotDir(name, places);
  const file = join(dir, MANIFEST);
  if (!existsSync(file)) {
    const have = listSnapshotNames(places);
    throw new UsageError(`${option}: no snapshot "${name}" in ${snapshotsRoot(places)} (${have.length ? `there are: ${have.join(', ')}` : 'there are none'}); make one with \`dpdkci snapshot save ${name}\``);
  }
  let manifest: SnapshotManifest;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as SnapshotManifest;
  } catch (e) {
    throw new UsageError(`${option}: ${file} is damaged (${(e as Error).message}); remove it with \`dpdkci snapshot rm ${name}\``);
  }
  if (manifest.format !== FORMAT || manifest.name !== name || !Array.isArray(manifest.files)) {
    throw new UsageError(`${option}: ${file} is not a snapshot of this dpdkci (format ${String(manifest.format)}); remove it with \`dpdkci snapshot rm ${name}\``);
  }
  return manifest;
}

export function listSnapshotNames(places: Places): string[] {
  const root = snapshotsRoot(places);
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((n) => NAME.test(n) && existsSync(join(root, n, MANIFEST))).sort();
}

/** Missing or truncated files: found from their sizes alone, before anything starts. */
export function checkSizes(manifest: SnapshotManifest, places: Places): void {
  const dir = snapshotDir(manifest.name, places);
  for (const f of manifest.files) {
    const path = join(dir, f.file);
    const size = existsSync(path) ? statSync(path).size : -1;
    if (size !== f.bytes) {
      throw new UsageError(
        `snapshot "${manifest.name}": ${path} is ${size < 0 ? 'missing' : `${size} bytes, not the ${f.bytes} it was saved with (truncated or overwritten)`}; remove the snapshot with \`dpdkci snapshot rm ${manifest.name}\` and save it again`,
      );
    }
  }
}

/** CRC-32 of a file, read in 8 MiB blocks (synchronously: nothing else runs meanwhile). */
export function crc32File(path: string): number {
  const fd = openSync(path, 'r');
  const block = Buffer.allocUnsafe(8 << 20);
  let crc = 0;
  try {
    for (let n; (n = readSync(fd, block, 0, block.length, null)) > 0; ) crc = crc32(block.subarray(0, n), crc);
  } finally {
    closeSync(fd);
  }
  return crc;
}

/** Every file's content against its saved CRC-32; a UsageError names the first that differs. */
export function checkContents(manifest: SnapshotManifest, places: Places): void {
  const dir = snapshotDir(manifest.name, places);
  for (const f of manifest.files) {
    const crc = crc32File(join(dir, f.file));
    if (crc !== f.crc32) {
      throw new UsageError(`snapshot "${manifest.name}": ${join(dir, f.file)} is damaged (its CRC-32 is ${crc.toString(16)}, saved ${f.crc32.toString(16)}); remove the snapshot with \`dpdkci snapshot rm ${manifest.name}\` and save it again`);
    }
  }
}

export function snapshotBytes(manifest: SnapshotManifest): number {
  return manifest.files.reduce((sum, f) => sum + f.bytes, 0);
}

/** up --from-snapshot: the snapshot, and what the restore steps learn on the way. */
export interface RestoreState {
  manifest: SnapshotManifest;
  /** The CRC-32 of every file were checked when the snapshot was chosen. */
  contentsChecked?: boolean;
  /** Per node: seconds QEMU took to load its state. */
  loadSeconds: Record<string, number>;
  clockSkew: Record<string, number>;
}
