import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { given } from './option-table.js';
import { PROJECT_ROOT } from './paths.js';

/**
 * Where dpdkci keeps things on this machine, resolved once at the CLI from the option table's variables
 * (DPDKCI_STATE_DIR, DPDKCI_CACHE_DIR, DPDKCI_SNAPSHOT_DIR, DPDKCI_LOCK_FILE, DPDKCI_OWNER_PID) and the XDG
 * defaults. Code below the CLI takes this value, never the environment.
 */
export interface Places {
  /** Clusters' records, keys, sockets and overlays: DPDKCI_STATE_DIR, else $XDG_STATE_HOME/dpdkci. */
  stateRoot: string;
  /** Images, artefacts and Go builds: DPDKCI_CACHE_DIR, else $XDG_CACHE_HOME/dpdkci. */
  cacheRoot: string;
  /** Snapshots: DPDKCI_SNAPSHOT_DIR, else snapshots/ in the cache. */
  snapshotRoot: string;
  /** The version lock in use: DPDKCI_LOCK_FILE (a lab's own pins, or a test's), else the project's. */
  lockFile: string;
  /** DPDKCI_OWNER_PID as given: the process that owns the clusters up makes (checked by currentOwner). */
  ownerPid?: string;
}

/** The places from an environment: what the CLI does once with process.env, and tests with their own. */
export function placesFrom(env: NodeJS.ProcessEnv): Places {
  const state = given('stateDir', {}, env)?.value;
  const cache = given('cacheDir', {}, env)?.value;
  const snapshots = given('snapshotDir', {}, env)?.value;
  const lock = given('lockFile', {}, env)?.value;
  const ownerPid = given('ownerPid', {}, env)?.value;
  const cacheRoot = cache ? resolve(cache) : join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'dpdkci');
  return {
    stateRoot: state ? resolve(state) : join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'dpdkci'),
    cacheRoot,
    snapshotRoot: snapshots ? resolve(snapshots) : join(cacheRoot, 'snapshots'),
    lockFile: lock || join(PROJECT_ROOT, 'versions.lock.yaml'),
    ...(ownerPid !== undefined ? { ownerPid } : {}),
  };
}
