import type { ClusterOptions } from './config.js';
import type { Source } from './option-values.js';
import { DEFAULT_SOCKET_DIR } from './dataplane-limits.js';

/**
 * Every option dpdkci reads, with its flag, the environment variable that stands in for it and its default:
 * the one table the CLI boundary resolves from (flag over variable over default). Nothing below the CLI
 * reads a flag or the environment for an option.
 */
export type OptionName =
  | keyof ClusterOptions
  | 'bundle'
  | 'mirror'
  | 'registryMirrors'
  | 'locked'
  | 'debianMirror'
  | 'timeout'
  | 'artifacts'
  | 'bootResetAfter'
  | 'bootTimeout'
  | 'checkSeconds'
  | 'snapshot'
  | 'syncDir'
  | 'syncRegistry'
  | 'stateDir'
  | 'cacheDir'
  | 'snapshotDir'
  | 'lockFile'
  | 'ownerPid';

/** Raw values as they arrive from the command line (commander): strings, or undefined when not given. */
export type RawFlags = Partial<Record<OptionName, string | boolean | undefined>>;

export interface OptionSpec {
  /** None for the variables that only place things (src/core/places.ts). */
  flag?: string;
  env?: string;
  default: string;
  /** How the default reads in --help when the value itself would not say it ('' for none). */
  shown?: string;
}

export const OPTION_SPECS: Record<OptionName, OptionSpec> = {
  prefix: { flag: '--prefix', env: 'DPDKCI_PREFIX', default: 'dpdkci' },
  nodes: { flag: '--nodes', env: 'KUBEVIRT_NUM_NODES', default: '1' },
  memoryMiB: { flag: '--memory', env: 'KUBEVIRT_MEMORY_SIZE', default: '3072M' },
  cpus: { flag: '--cpu', env: 'KUBEVIRT_NUM_VCPU', default: '2' },
  hugepages2m: { flag: '--hugepages-2m', env: 'KUBEVIRT_HUGEPAGES_2M', default: '64' },
  hugepages1g: { flag: '--hugepages-1g', env: 'KUBEVIRT_HUGEPAGES_1G', default: '0' },
  // As in kubevirtci: NICs besides the node's own network; dpdkci's DPDK and node-network NICs come on top.
  secondaryNics: { flag: '--secondary-nics', env: 'KUBEVIRT_NUM_SECONDARY_NICS', default: '0' },
  kernelArgs: { flag: '--kernel-args', env: 'DPDKCI_KERNEL_ARGS', default: '' },
  qemuArgs: { flag: '--qemu-args', env: 'DPDKCI_QEMU_ARGS', default: '' },
  accel: { flag: '--accel', env: 'DPDKCI_ACCEL', default: 'auto' },
  dpdk: { flag: '--dpdk', env: 'DPDKCI_DPDK', default: 'false' },
  vfioNoiommu: { flag: '--vfio-noiommu', env: 'DPDKCI_VFIO_NOIOMMU', default: 'false' },
  vhostSocketDir: { flag: '--vhost-socket-dir', env: 'DPDKCI_VHOST_SOCKET_DIR', default: DEFAULT_SOCKET_DIR },
  randomPorts: { flag: '--random-ports', env: 'DPDKCI_RANDOM_PORTS', default: 'false' },
  registry: { flag: '--no-registry', env: 'DPDKCI_REGISTRY', default: 'true' },
  kubernetes: { flag: '--kubernetes', env: 'DPDKCI_KUBERNETES', default: 'auto' },
  extraNics: { flag: '--secondary-nics', env: 'KUBEVIRT_NUM_SECONDARY_NICS', default: '0' },
  provider: { flag: '--provider', env: 'DPDKCI_PROVIDER', default: 'qemu' },
  inventory: { flag: '--inventory', env: 'DPDKCI_INVENTORY', default: '' },
  bundle: { flag: '--bundle', env: 'DPDKCI_BUNDLE', default: '' },
  mirror: { flag: '--mirror', env: 'DPDKCI_MIRROR', default: '' },
  // HOST=URL, repeatable; the variable takes them comma- or space-separated (src/core/registry-mirrors.ts).
  registryMirrors: { flag: '--registry-mirror', env: 'DPDKCI_REGISTRY_MIRRORS', default: '' },
  // As npm ci and cargo --locked: a lock value not recorded is an error, never looked up.
  locked: { flag: '--locked', env: 'DPDKCI_LOCKED', default: 'false' },
  // '' is the host's own apt sources, found when the image is built.
  debianMirror: { flag: '--debian-mirror', env: 'DPDKCI_DEBIAN_MIRROR', default: '', shown: "the host's apt sources" },
  timeout: { flag: '--timeout', env: 'DPDKCI_TIMEOUT', default: '', shown: 'none' },
  artifacts: { flag: '--artifacts', env: 'ARTIFACTS', default: '' },
  // The same 60 s that providers/qemu/wait-ssh.ts waits when it is not told.
  bootResetAfter: { flag: '--boot-reset-after', env: 'DPDKCI_BOOT_RESET_AFTER', default: '60' },
  // The time a node may take to answer over SSH; src/steps/context.ts bootTimeoutMs.
  bootTimeout: { flag: '--boot-timeout', env: 'DPDKCI_BOOT_TIMEOUT', default: '600' },
  // `up --dpdk` ends with `dpdkci check`, shorter: it shows that every path carries traffic within the loss
  // thresholds; `dpdkci check --seconds` (6 by default) and `npm run bench` measure the rates.
  checkSeconds: { flag: '--check-seconds', env: 'DPDKCI_CHECK_SECONDS', default: '3' },
  snapshot: { flag: '--snapshot', env: 'DPDKCI_SNAPSHOT', default: '' },
  syncDir: { flag: '--dir', env: 'DPDKCI_SYNC_DIR', default: '_out/dpdkci' },
  syncRegistry: { flag: '--registry', env: 'DPDKCI_SYNC_REGISTRY', default: '' },
  // Where dpdkci keeps things on this machine (src/core/places.ts), variables alone.
  stateDir: { env: 'DPDKCI_STATE_DIR', default: '', shown: '$XDG_STATE_HOME/dpdkci (~/.local/state/dpdkci)' },
  cacheDir: { env: 'DPDKCI_CACHE_DIR', default: '', shown: '$XDG_CACHE_HOME/dpdkci (~/.cache/dpdkci)' },
  snapshotDir: { env: 'DPDKCI_SNAPSHOT_DIR', default: '', shown: 'snapshots/ in the cache directory' },
  lockFile: { env: 'DPDKCI_LOCK_FILE', default: '', shown: "versions.lock.yaml of dpdkci's checkout" },
  ownerPid: { env: 'DPDKCI_OWNER_PID', default: '', shown: "the session leader of up's process" },
};

/**
 * The "(VARIABLE, default X)" of an option's --help, from its row: what --help says cannot drift from what
 * is resolved. fallback: the default of a command that resolves the option with its own (pick's fallback);
 * note: what else the default depends on.
 */
export function optionHelp(key: OptionName, extra: { fallback?: string; note?: string } = {}): string {
  const spec = OPTION_SPECS[key];
  const shown = extra.fallback ?? spec.shown ?? spec.default;
  const parts = [...(spec.env ? [spec.env] : []), ...(shown !== '' ? [`default ${shown}`] : [])];
  return `(${parts.join(', ')}${extra.note ? `; ${extra.note}` : ''})`;
}

/** The value of one option and where it came from, for messages that name the flag or the variable. */
export function pick(key: OptionName, flags: RawFlags, env: NodeJS.ProcessEnv, fallback?: string): Source {
  const spec = OPTION_SPECS[key];
  const flagValue = flags[key];
  if (spec.flag && flagValue !== undefined && flagValue !== false) return { value: String(flagValue), via: spec.flag };
  if (spec.env && env[spec.env] !== undefined && env[spec.env] !== '') {
    return { value: env[spec.env] as string, via: spec.env };
  }
  return { value: fallback ?? spec.default, via: `${spec.flag ?? spec.env} (default)` };
}

/** The value given by flag or variable, or undefined when neither was. */
export function given(key: OptionName, flags: RawFlags, env: NodeJS.ProcessEnv): Source | undefined {
  const src = pick(key, flags, env, '');
  return src.value === '' && src.via.endsWith('(default)') ? undefined : src;
}
