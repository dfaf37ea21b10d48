import type { ClusterOptions } from '../core/config.js';
import type { ClusterRecord } from '../core/cluster.js';
import type { ClusterPaths } from '../core/paths.js';
import type { Progress } from '../core/progress.js';
import type { ImageInfo } from '../image/provision.js';
import type { ImageRecipe } from '../image/recipe.js';
import type { Owner } from '../core/owner.js';
import type { Lock } from '../versions/lock.js';
import type { Node, Runner } from '../exec/runner.js';
import type { AccelChoice } from '../core/accelerator.js';
import type { RestoreState } from '../snapshot/store.js';
import type { Inventory } from '../core/inventory.js';
import type { Places } from '../core/places.js';
import type { RegistryMirror } from '../core/registry-mirrors.js';

/** What the steps of `up` share. Steps fill in image, accel and record as they go. */
export interface UpContext {
  options: ClusterOptions;
  places: Places;
  /** The host's own commands (keys, overlays, QEMU, the switch): a local runner, or a recording one in tests. */
  host: Runner;
  paths: ClusterPaths;
  cacheRoot: string;
  recipe: ImageRecipe;
  /** --debian-mirror as resolved; undefined: the host's own apt sources. */
  debianMirror: string | undefined;
  rebuild: boolean;
  bootTimeoutMs: number;
  /** A booting node whose CPU has not reached its kernel after this long is reset once (0: never). */
  beforeKernelResetMs: number;
  /** Whose cluster this is (`down --all-stale` reaps it once that process is gone). */
  owner: Owner;
  signal: AbortSignal;
  progress: Progress;
  image?: ImageInfo;
  /** QEMU's accelerator, as its choose-accelerator step found it (providers/qemu/kvm-probe.ts). */
  accel?: AccelChoice;
  record?: ClusterRecord;
  /** SSH runners, once the nodes answer (steps that run commands on nodes). */
  nodes?: Node[];
  /** Seconds from QEMU start to SSH, per node booted by this run. */
  bootSeconds: Record<string, number>;
  /** Nodes whose QEMU this run started. */
  booted: Set<string>;
  /**
   * Nodes this run added to the cluster (prepare cluster): fresh from the image, so the dataplane steps
   * apply on them without asking first (apply still does only what is missing).
   */
  created?: Set<string>;
  /**
   * With --kubernetes V: the lock (completed by the user lock) and where its artefacts come from (the
   * preflight found them all); registryMirrors (--registry-mirror) serve the host's pulls and the nodes' containerd.
   */
  kubernetes?: { lock: Lock; bundleDir?: string; mirror?: string; registryMirrors?: RegistryMirror[] };
  /** "node01: what changed" lines from steps that converge node settings (sync reports them). */
  changes?: string[];
  /** --provider hosts: the inventory, read and validated at the CLI. */
  inventory?: Inventory;
  /** up --from-snapshot: the snapshot, and what its steps learn on the way. */
  restore?: RestoreState;
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal: ${what} is not set yet (step order)`);
  return value;
}
