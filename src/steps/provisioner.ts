import type { ClusterRecord } from '../core/cluster.js';
import type { ClusterOptions } from '../core/config.js';
import type { Step } from '../core/pipeline.js';
import type { SnapshotManifest } from '../snapshot/store.js';
import type { UpContext } from './context.js';

/**
 * What a provider brings to `up`, after kind's Provider.Provision: the whole list of steps, its own (QEMU:
 * image, keys, ports, switch, boot; hosts: record, check, packages) around the shared node steps of
 * src/steps, and for --dry-run what those steps would find or make, filled in without touching anything.
 * The CLI picks the provisioner by the options' provider (src/cli/providers.ts); the steps never do.
 */
export interface Provisioner {
  readonly name: ClusterRecord['provider'];
  /** Every step of `up` (or of a restore, when ctx.restore is set), in order. */
  upSteps(ctx: UpContext): Step<UpContext>[];
  /** The nodes, for up's first line and the dry run's title ("2 node(s), 2 vCPU, 3072 MiB", "2 host(s) of lab.yaml"). */
  describe(ctx: Pick<UpContext, 'options' | 'inventory'>): string;
  /**
   * --dry-run: fill ctx.record (and what else the steps read, like ctx.image) with what a new cluster
   * would have; say what the plan is about and which long paths it shortens.
   */
  planContext(ctx: UpContext, restoring?: SnapshotManifest): DryRunFrame;
  /**
   * Bad input only the provider's own tools can see (QEMU: --qemu-args it will not take), found before `up`
   * records or starts anything; the CLI names the option as the user gave it.
   */
  inputRefusal?(options: ClusterOptions): Promise<{ option: keyof ClusterOptions; reason: string } | undefined>;
}

export interface DryRunFrame {
  /** After the Kubernetes version in the title (", accelerator auto (shown as tcg)"). */
  extra: string;
  /** Lines after "Nothing was ... run." that explain the plan's placeholders. */
  notes: string[];
  /** [long path, short name] pairs the plan shortens, explained in its header. */
  names: [string, string][];
  /** The nodes are new from the image (the check's first run needs no clean-up of an earlier one). */
  freshNodes: boolean;
}
