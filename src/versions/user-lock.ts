import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { UsageError } from '../core/errors.js';
import type { Places } from '../core/places.js';
import { loadLock, type Component, type Lock } from './lock.js';

/**
 * The user's own lock (`$DPDKCI_STATE_DIR/versions.resolved.yaml`), as go.sum is to go.mod: the values the
 * shipped lock leaves null, resolved on first use and recorded with when and from where. It is tied to the
 * shipped lock's content (its sha256), so a new shipped lock starts afresh; it never overrides a shipped value.
 */
export const USER_LOCK_NAME = 'versions.resolved.yaml';

export interface Recorded {
  value: string;
  /** ISO time of the look-up. */
  resolved: string;
  /** The URL that answered (a registry, its mirror, a download URL, a bundle). */
  from: string;
}

export interface UserLock {
  schema: 1;
  /** sha256 of the shipped lock file these values complete. */
  lockSha256: string;
  lockFile: string;
  /** By file name (a file's sha256) and by image reference (its digest). */
  files: Record<string, Recorded>;
  images: Record<string, Recorded>;
  /** Kubernetes releases whose kubeadm printed the lock's etcd/CoreDNS/pause tags, and when. */
  kubeadmChecked: Record<string, string>;
}

export type Provenance = { state: 'shipped' } | { state: 'resolved'; resolved: string; from: string } | { state: 'missing' };

/** The lock in use: shipped values, completed by the user lock, and where each value came from. */
export interface EffectiveLock {
  lock: Lock;
  /** The shipped lock as read, before the user lock completed it. */
  shipped: Lock;
  /** "file:NAME" / "image:REF" → where its value came from. */
  provenance: Record<string, Provenance>;
  user: UserLock;
  userFile: string;
  /** Set when a user lock of another shipped lock was set aside: one line saying so. */
  note?: string;
}

export const fileKey = (name: string) => `file:${name}`;
export const imageKey = (ref: string) => `image:${ref}`;

export function userLockFile(places: Places): string {
  return join(places.stateRoot, USER_LOCK_NAME);
}

export function lockSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function bad(file: string, what: string): never {
  throw new UsageError(`${file}: ${what}; this file only holds values dpdkci resolved, so remove it (rm ${file}) and they are looked up again`);
}

function recordedMap(file: string, key: string, raw: unknown, pattern: RegExp): Record<string, Recorded> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) bad(file, `${key} must be a map`);
  const out: Record<string, Recorded> = {};
  for (const [name, r] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    if (typeof r?.value !== 'string' || !pattern.test(r.value)) bad(file, `${key}."${name}".value "${String(r?.value)}" is not a ${key === 'files' ? 'sha256' : 'sha256:<digest>'}`);
    if (typeof r.resolved !== 'string' || Number.isNaN(Date.parse(r.resolved))) bad(file, `${key}."${name}".resolved "${String(r.resolved)}" is not a date`);
    if (typeof r.from !== 'string') bad(file, `${key}."${name}".from is missing`);
    out[name] = { value: r.value, resolved: r.resolved, from: r.from };
  }
  return out;
}

/** Parses a user lock's text; anything malformed is a UsageError naming the file and the fix. */
export function parseUserLock(file: string, text: string): UserLock {
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (e) {
    bad(file, `not YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (raw === null || typeof raw !== 'object') bad(file, 'not a map');
  if (raw.schema !== 1) bad(file, `schema "${String(raw.schema)}" is not one this dpdkci reads (1)`);
  if (typeof raw.lockSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(raw.lockSha256)) bad(file, 'lockSha256 is not 64 hex digits');
  const checked = (raw.kubeadmChecked ?? {}) as Record<string, unknown>;
  if (typeof checked !== 'object' || Array.isArray(checked) || Object.values(checked).some((v) => typeof v !== 'string')) bad(file, 'kubeadmChecked must map releases to dates');
  return {
    schema: 1,
    lockSha256: raw.lockSha256,
    lockFile: String(raw.lockFile ?? ''),
    files: recordedMap(file, 'files', raw.files, /^[0-9a-f]{64}$/),
    images: recordedMap(file, 'images', raw.images, /^sha256:[0-9a-f]{64}$/),
    kubeadmChecked: checked as Record<string, string>,
  };
}

/** Written whole to a temporary file (0600) and renamed over the old one: a reader never sees half of it. */
export function writeUserLock(file: string, user: UserLock): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const header = `# dpdkci: values ${user.lockFile} leaves null, resolved on first use (dpdkci versions shows them).\n# Tied to that file's sha256; a new one starts afresh. Remove this file to look them up again.\n`;
  writeFileSync(tmp, header + stringify(user, { lineWidth: 0 }), { mode: 0o600 });
  renameSync(tmp, file);
}

function components(lock: Lock): Component[] {
  return [...Object.values(lock.kubernetes.versions), ...Object.values(lock.addons)];
}

/** The shipped lock's null values filled from the user lock (never a shipped value replaced), with provenance. */
export function mergeUserLock(shipped: Lock, user: UserLock): { lock: Lock; provenance: Record<string, Provenance> } {
  const lock = structuredClone(shipped);
  const provenance: Record<string, Provenance> = {};
  const from = (r: Recorded | undefined): Provenance => (r ? { state: 'resolved', resolved: r.resolved, from: r.from } : { state: 'missing' });
  for (const c of components(lock)) {
    for (const f of c.files) {
      if (f.sha256 !== null) provenance[fileKey(f.name)] = { state: 'shipped' };
      else {
        provenance[fileKey(f.name)] = from(user.files[f.name]);
        f.sha256 = user.files[f.name]?.value ?? null;
      }
    }
    for (const m of c.images) {
      if (m.digest !== null) provenance[imageKey(m.ref)] = { state: 'shipped' };
      else {
        provenance[imageKey(m.ref)] = from(user.images[m.ref]);
        m.digest = user.images[m.ref]?.value ?? null;
      }
    }
  }
  return { lock, provenance };
}

/** The lock in use: the shipped (or DPDKCI_LOCK_FILE) lock completed by the user lock of the same content. */
export function loadEffectiveLock(places: Places): EffectiveLock {
  const shipped = loadLock(places.lockFile);
  const key = lockSha256(places.lockFile);
  const userFile = userLockFile(places);
  const fresh: UserLock = { schema: 1, lockSha256: key, lockFile: places.lockFile, files: {}, images: {}, kubeadmChecked: {} };
  let user = fresh;
  let note: string | undefined;
  if (existsSync(userFile)) {
    const read = parseUserLock(userFile, readFileSync(userFile, 'utf8'));
    // The lock in use is where this run stands, not where the file was first written (another checkout of the same lock).
    if (read.lockSha256 === key) user = { ...read, lockFile: places.lockFile };
    else note = `${userFile} was resolved for another ${places.lockFile} (sha256 ${read.lockSha256.slice(0, 12)}…, now ${key.slice(0, 12)}…); set aside, missing values are looked up afresh`;
  }
  return { ...mergeUserLock(shipped, user), shipped, user, userFile, ...(note ? { note } : {}) };
}
