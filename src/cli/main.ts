import { Command, CommanderError, Option } from 'commander';
import { ExitCode, exitCodeOf } from '../core/errors.js';
import { createProgress } from '../core/progress.js';
import { KUBERNETES_DEFAULTS } from '../core/config.js';
import { DPDK_DEFAULT_HUGEPAGES_2M } from '../core/dataplane-limits.js';
import { optionHelp } from '../core/option-table.js';
import { placesFrom } from '../core/places.js';
import type { CommandContext } from './context.js';
import { runDown } from './commands/down.js';
import { runLogs } from './commands/logs.js';
import { runSync } from './commands/sync.js';
import { runVersions } from './commands/versions.js';
import { runBundle } from './commands/bundle.js';
import { runKubeconfig, runKubectlCommand } from './commands/kubectl.js';
import { runCheckCommand } from './commands/check.js';
import { runPorts } from './commands/ports.js';
import { runProvision } from './commands/provision.js';
import { runScp } from './commands/scp.js';
import { runSsh } from './commands/ssh.js';
import { runStatus } from './commands/status.js';
import { runUp } from './commands/up.js';
import { runSnapshotList, runSnapshotRm, runSnapshotSave } from './commands/snapshot.js';

const PREFIX_HELP = `cluster name; two prefixes are two independent clusters ${optionHelp('prefix')}`;

/** A repeatable option's values, in order (commander calls this once per occurrence). */
const collectValues = (value: string, previous?: string[]): string[] => [...(previous ?? []), value];

export function buildProgram(ctx: CommandContext, setCode: (code: number) => void): Command {
  const program = new Command('dpdkci')
    .description('QEMU test clusters whose nodes run an OVS-DPDK dataplane (kubevirtci-style)')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .option('--prefix <name>', PREFIX_HELP)
    // Set before the subcommands are added: they copy these settings.
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const prefixOf = (opts: { prefix?: string }) => opts.prefix ?? program.opts<{ prefix?: string }>().prefix;

  program
    .command('up')
    .alias('run')
    .description('build the node image if needed, boot the nodes and wait for SSH')
    .option('--prefix <name>', PREFIX_HELP)
    .option('--nodes <n>', `number of nodes ${optionHelp('nodes')}`)
    .option('--memory <size>', `memory per node, e.g. 3072M or 3G ${optionHelp('memoryMiB', { note: `${KUBERNETES_DEFAULTS.memory} with Kubernetes` })}`)
    .option('--cpu <n>', `vCPUs per node ${optionHelp('cpus', { note: `${KUBERNETES_DEFAULTS.cpus} with Kubernetes` })}`)
    .option('--hugepages-2m <n>', `2 MiB hugepages per node ${optionHelp('hugepages2m', { note: `${DPDK_DEFAULT_HUGEPAGES_2M} with --dpdk` })}`)
    .option('--hugepages-1g <n>', `1 GiB hugepages per node ${optionHelp('hugepages1g')}`)
    .option('--secondary-nics <n>', `NICs per node on the shared secondary network besides dpdkci's own (DPDK's, the Kubernetes node network) ${optionHelp('secondaryNics')}`)
    .option('--kernel-args <args>', `extra kernel command line arguments ${optionHelp('kernelArgs')}`)
    .option('--qemu-args <args>', `extra QEMU arguments ${optionHelp('qemuArgs')}`)
    .option('--kubernetes <version>', `auto (1.36 when its artefacts can be had, else none), a pinned minor version (1.36, 1.35), or none for the OVS-DPDK nodes alone ${optionHelp('kubernetes')}`)
    .option('--bundle <dir>', `take every Kubernetes artefact from this air-gapped bundle (made by dpdkci bundle) ${optionHelp('bundle')}`)
    .option('--mirror <url>', `fetch Kubernetes artefacts from MIRROR/host/path instead of their upstream URLs ${optionHelp('mirror')}`)
    .option('--registry-mirror <host=url>', `send image look-ups and pulls for registry HOST to URL (a pull-through cache or a copy under the same names); repeatable ${optionHelp('registryMirrors')}`, collectValues)
    .option('--locked', `refuse to look up any value the lock leaves null; fail naming them (for CI lanes that demand a committed lock) ${optionHelp('locked')}`)
    .option('--provider <name>', `qemu (nodes dpdkci boots) or hosts (machines of --inventory) ${optionHelp('provider')}`)
    .option('--inventory <file>', `with --provider hosts: the YAML list of machines (README, "Your own machines") ${optionHelp('inventory')}`)
    .option('--dpdk', `OVS-DPDK on every node: hugepages, vfio-pci NIC, br-dpdk0, vhost-user socket dir ${optionHelp('dpdk')}`)
    .option('--skip-check', 'with --dpdk: do not pass traffic through the dataplane at the end')
    .option('--check-seconds <n>', `with --dpdk: seconds of traffic per path in the closing check ${optionHelp('checkSeconds', { note: '`dpdkci check` measures, 6 by default' })}`)
    .option('--dry-run', 'print every command and file each step would run or write, per node and in order; start nothing')
    .option('--vfio-noiommu', `with --dpdk on a node without an IOMMU: vfio unsafe no-IOMMU mode (no DMA isolation) ${optionHelp('vfioNoiommu')}`)
    .option('--vhost-socket-dir <dir>', `vhost-user socket directory on the nodes ${optionHelp('vhostSocketDir')}`)
    .addOption(new Option('--accel <mode>', `auto: KVM if a test guest really runs, else TCG; kvm or tcg ${optionHelp('accel')}`))
    .option('--debian-mirror <url>', `Debian mirror for the image build ${optionHelp('debianMirror')}`)
    .option('--rebuild', 'rebuild the node image even when the cache has it')
    .option('--boot-timeout <seconds>', `how long a node may take to answer over SSH ${optionHelp('bootTimeout')}`)
    .option('--boot-reset-after <seconds>', `reset a booting node, once, whose CPU has not reached its kernel after this long; 0 never ${optionHelp('bootResetAfter')}`)
    .option('--cleanup-on-failure', 'remove the cluster when up fails (default: keep it for inspection)')
    .option('-o, --output <format>', 'table (default) or json: the cluster, the steps applied and their timings')
    .option('--junit <file>', 'write a JUnit XML report: one test case per step, its time and failure')
    .option('--artifacts <dir>', `when up fails, collect the logs (dpdkci logs) into DIR/dpdkci-PREFIX before any cleanup ${optionHelp('artifacts')}`)
    .option('--timeout <duration>', `give up when the whole up takes longer, e.g. 1800, 30m, 1h ${optionHelp('timeout')}`)
    .option('--random-ports', `forward from random free ports instead of from 2201 up, for parallel CI jobs on one host ${optionHelp('randomPorts')}`)
    .option('--from-snapshot <name>', 'restore this snapshot (dpdkci snapshot save) as a new cluster instead of booting; the options must be the ones it was saved with (DPDKCI_SNAPSHOT)')
    .option('--snapshot <mode>', `auto: restore the snapshot that matches these options and this image, else a full up that is saved as one at the end ${optionHelp('snapshot', { note: 'DPDKCI_SNAPSHOT=auto, or =NAME as --from-snapshot NAME' })}`)
    .option('--no-registry', `run no image registry for the cluster (by default one runs on the host: dpdkci ports registry; the nodes pull it as registry:5000) ${optionHelp('registry', { note: 'DPDKCI_REGISTRY=false is --no-registry' })}`)
    .addHelpText('after', '\nExamples:\n  dpdkci up --nodes 2 --memory 3G --hugepages-2m 512\n  KUBEVIRT_NUM_NODES=2 dpdkci run --prefix dpdk-a')
    .action(async (opts) => {
      const flags = {
        ...opts,
        prefix: prefixOf(opts),
        memoryMiB: opts.memory,
        cpus: opts.cpu,
        hugepages2m: opts.hugepages2m,
        hugepages1g: opts.hugepages1g,
      };
      setCode(await runUp(flags, ctx));
    });

  const snapshot = program.command('snapshot').description("save a running cluster's nodes (memory, devices, disks) to restore them in seconds with up --from-snapshot");
  snapshot
    .command('save')
    .description('pause every node, save it, and resume it; the cluster runs on unchanged (default name: the one up --snapshot auto restores)')
    .argument('[name]', 'the snapshot name')
    .option('--prefix <name>', PREFIX_HELP)
    .option('-o, --output <format>', 'table (default) or json')
    .action(async (name: string | undefined, opts) => setCode(await runSnapshotSave(name, { ...opts, prefix: opts.prefix ?? program.opts<{ prefix?: string }>().prefix }, ctx)));
  snapshot
    .command('list')
    .alias('ls')
    .description('the snapshots in the cache directory')
    .option('-o, --output <format>', 'table (default) or json')
    .action(async (opts) => setCode(await runSnapshotList(opts, ctx)));
  snapshot
    .command('rm')
    .description('remove a snapshot and its files')
    .argument('<name>')
    .action(async (name: string) => setCode(await runSnapshotRm(name, ctx)));

  program
    .command('down')
    .alias('rm')
    .description('stop every node of the cluster and remove its overlays, sockets and state (safe to repeat)')
    .option('--prefix <name>', PREFIX_HELP)
    .option('--force', 'kill the nodes at once instead of an ACPI power-off first; hosts: remove the record even of a host that cannot be reached (what dpdkci changed there stays)')
    .option('--all-stale', "every cluster of this host whose owner (the session or DPDKCI_OWNER_PID of its up) is gone, none of whose nodes runs, or whose state was removed under its processes")
    .option('--provider <name>', 'qemu or hosts: must be the cluster\'s own (it is read from its record; this only guards against the wrong prefix)')
    .option('--purge-packages', 'hosts: also remove the packages dpdkci installed (by default they stay, and down names them)')
    .action(async (opts) =>
      setCode(await runDown({ ...opts, prefix: prefixOf(opts), prefixGiven: prefixOf(opts) !== undefined }, ctx)),
    );

  program
    .command('logs')
    .description('collect each node\'s console, journal, dmesg, OVS and DPDK logs (and kubelet, kubectl get -A) into DIR')
    .argument('<dir>', 'where to write them: DIR/<node>/...')
    .option('--prefix <name>', PREFIX_HELP)
    .action(async (dir: string, opts) => setCode(await runLogs(dir, { prefix: prefixOf(opts) }, ctx)));

  program
    .command('status')
    .description('nodes, their state, PIDs and ports, the accelerator and the image')
    .option('--prefix <name>', PREFIX_HELP)
    .option('-o, --output <format>', 'table (default) or json')
    .action(async (opts) => setCode(await runStatus({ ...opts, prefix: prefixOf(opts) }, ctx)));

  program
    .command('ssh')
    .description('a shell on a node, or run CMD there (its exit code is returned)')
    .argument('<node>', 'node name, e.g. node01')
    .argument('[command...]', 'command to run (after --)')
    .option('--prefix <name>', PREFIX_HELP)
    .addHelpText('after', '\nExamples:\n  dpdkci ssh node01\n  dpdkci ssh node01 -- cat /proc/cmdline')
    .action(async (node: string, command: string[], opts) => setCode(await runSsh(node, command, { prefix: prefixOf(opts) }, ctx)));

  program
    .command('scp')
    .description('copy a file to or from a node; write the node side as node01:/path')
    .argument('<src>')
    .argument('<dst>')
    .option('--prefix <name>', PREFIX_HELP)
    .option('-r, --recursive', 'copy directories')
    .action(async (src: string, dst: string, opts) => setCode(await runScp(src, dst, { ...opts, prefix: prefixOf(opts) }, ctx)));

  program
    .command('ports')
    .description('where the nodes\' ports are reached (QEMU: forwarded to 127.0.0.1); "ports ssh" prints one number')
    .argument('[name]', 'ssh, ssh-worker, k8s or registry (kubevirtci\'s other names say that dpdkci does not forward them)')
    .option('--prefix <name>', PREFIX_HELP)
    .option('--node <node>', 'which node (default node01)')
    .action(async (name: string | undefined, opts) => setCode(await runPorts(name, { ...opts, prefix: prefixOf(opts) }, ctx)));

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('sync')
    .description("push a developer's build into the cluster: OCI image archives into containerd (or to a registry with --registry) and CNI binaries into /opt/cni/bin on every node (unchanged ones skipped), then restore drifted OVS-DPDK settings")
    .option('--prefix <name>', PREFIX_HELP)
    .option('--image <file|dir>', 'an OCI image archive (.tar), or a directory of them; repeatable', collect)
    .option('--cni-bin <file|dir>', 'a CNI plugin binary, or a directory of them; repeatable', collect)
    .option('--manifests <dir>', 'apply these manifests with kubectl (clusters with Kubernetes)')
    .option('--registry <host:port>', `push the images to this registry instead of into each node's containerd; cluster: the cluster's own, on 127.0.0.1:$(dpdkci ports registry) ${optionHelp('syncRegistry')}`)
    .option('--dir <dir>', `without --image/--cni-bin/--manifests: take images/*.tar, cni/* and manifests/ from DIR ${optionHelp('syncDir')}`)
    .option('-o, --output <format>', 'table (default) or json')
    .addHelpText('after', `\nWithout --image/--cni-bin/--manifests, sync takes --dir ${optionHelp('syncDir')}: images/*.tar, cni/*, manifests/.`)
    .action(async (opts) => setCode(await runSync({ ...opts, prefix: prefixOf(opts) }, ctx)));

  program
    .command('kubectl')
    .description("kubectl against the cluster's API server (QEMU: forwarded to 127.0.0.1); --binary: where the pinned kubectl of the cluster's version is")
    .argument('[args...]', 'kubectl arguments (after --)')
    .option('--prefix <name>', PREFIX_HELP)
    .option('--binary', "print the path of the pinned kubectl of the cluster's Kubernetes version (from the bundle or the artefact cache, else fetched into it) instead of running one")
    .option('--bundle <dir>', `with --binary: take it from this bundle (made by dpdkci bundle) ${optionHelp('bundle')}`)
    .option('--mirror <url>', `with --binary: fetch it from MIRROR/host/path when the cache has none ${optionHelp('mirror')}`)
    .addHelpText('after', '\nExamples:\n  dpdkci kubectl -- get nodes -o wide\n  cp "$(dpdkci kubectl --binary)" ./kubectl')
    .action(async (args: string[], opts) => setCode(await runKubectlCommand(args, { ...opts, prefix: prefixOf(opts) }, ctx)));

  program
    .command('kubeconfig')
    .description("print the cluster's kubeconfig (its API server as this machine reaches it)")
    .option('--prefix <name>', PREFIX_HELP)
    .option('--path', 'print where the kubeconfig is instead (for KUBECONFIG=$(dpdkci kubeconfig --path))')
    .action(async (opts) => setCode(await runKubeconfig({ prefix: prefixOf(opts), path: Boolean(opts.path) }, ctx)));

  program
    .command('bundle')
    .description('on a connected machine: every file and image of a Kubernetes version into DIR, checksummed, for up --bundle DIR where there is no network')
    .argument('<dir>')
    .option('--kubernetes <version>', `which Kubernetes version ${optionHelp('kubernetes', { fallback: "the lock file's default" })}`)
    .option('--mirror <url>', `fetch files from MIRROR/host/path ${optionHelp('mirror')}`)
    .option('--registry-mirror <host=url>', `send image look-ups and pulls for registry HOST to URL (a pull-through cache or a copy under the same names); repeatable ${optionHelp('registryMirrors')}`, collectValues)
    .option('--locked', `refuse to look up any value the lock leaves null; fail naming them (for CI lanes that demand a committed lock) ${optionHelp('locked')}`)
    .action(async (dir: string, opts) => setCode(await runBundle(dir, opts, ctx)));

  program
    .command('versions')
    .description('what versions.lock.yaml pins: Kubernetes versions, add-ons, every file and image, and what is not pinned yet')
    .option('-o, --output <format>', 'table (default) or json')
    .option('--resolve', 'look up every value the lock leaves null (files downloaded and hashed, image tags asked of their registries) and record them in the user lock, versions.resolved.yaml of the state directory')
    .option('--write', 'with --resolve: also write every recorded value into the lock file itself, keeping its comments (for a lab that commits its pins)')
    .option('--mirror <url>', `with --resolve: fetch files from MIRROR/host/path ${optionHelp('mirror')}`)
    .option('--registry-mirror <host=url>', `with --resolve: ask URL for images of registry HOST; repeatable ${optionHelp('registryMirrors')}`, collectValues)
    .option('--locked', `refused with --resolve ${optionHelp('locked')}`)
    .action(async (opts) => setCode(await runVersions(opts, ctx)));

  program
    .command('check')
    .description('pass traffic through OVS-DPDK: vhost-user loop in each node, node to node over dpdk0; exit 1 on loss')
    .option('--prefix <name>', PREFIX_HELP)
    .option('-o, --output <format>', 'table (default) or json')
    .option('--seconds <n>', 'traffic time per path (default 6)')
    .option('--max-loss <percent>', "OVS-DPDK's loss above this fails the path (default 5)")
    .option('--max-link-loss <percent>', "node to node: the emulated wire's own loss above this fails the path (default 20)")
    .option('--peer-rate <pps>', 'node to node: police the sender to this rate, which an emulated NIC can carry (default 2000; 0 for no limit)')
    .option('--compare-kernel', 'also the same traffic over veth and the OVS kernel datapath, and the vhost-user/kernel ratio')
    .option('--restart-ovs', 'restart ovs-vswitchd in the middle of traffic and check that the vhost-user ports reconnect')
    .action(async (opts) => setCode(await runCheckCommand({ ...opts, prefix: prefixOf(opts) }, ctx)));

  program
    .command('provision')
    .description('build the node image into the cache (a cache hit when the recipe is unchanged); with --kubernetes, its Kubernetes layer too')
    .option('--rebuild', 'build even when the cache has the image')
    .option('--kubernetes <version>', `also build the Kubernetes layer of this pinned minor version ${optionHelp('kubernetes', { fallback: 'none' })}`)
    .option('--bundle <dir>', `take every Kubernetes artefact from this bundle (dpdkci bundle) ${optionHelp('bundle')}`)
    .option('--mirror <url>', `fetch Kubernetes artefacts from MIRROR/host/path ${optionHelp('mirror')}`)
    .option('--registry-mirror <host=url>', `send image look-ups and pulls for registry HOST to URL (a pull-through cache or a copy under the same names); repeatable ${optionHelp('registryMirrors')}`, collectValues)
    .option('--locked', `refuse to look up any value the lock leaves null; fail naming them (for CI lanes that demand a committed lock) ${optionHelp('locked')}`)
    .option('--accel <mode>', `for the build VM: auto, kvm or tcg ${optionHelp('accel')}`)
    .option('--debian-mirror <url>', `Debian mirror ${optionHelp('debianMirror')}`)
    .option('-o, --output <format>', 'json for the image record')
    .action(async (opts) => setCode(await runProvision(opts, ctx)));

  return program;
}

/** Runs the CLI and returns the exit code; the one place errors become messages and codes. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    process.stderr.write(`\n${signal}: stopping…\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: CommandContext = {
    env,
    places: placesFrom(env),
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    progress: createProgress({ ci: !['', 'false', '0'].includes((env.CI ?? '').toLowerCase()) }),
    signal: controller.signal,
  };
  let code: number = ExitCode.ok;
  const program = buildProgram(ctx, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.ok;
      process.stderr.write('run `dpdkci --help` (or `dpdkci COMMAND --help`) for the options\n');
      return ExitCode.usage;
    }
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return exitCodeOf(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
