import { chmodSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeClusterRecord, type ClusterRecord, type NodeRecord } from '../../../src/core/cluster.js';
import type { Node } from '../../../src/exec/runner.js';
import { DpdkciError } from '../../../src/core/errors.js';
import type { Step } from '../../../src/core/pipeline.js';
import { nodePaths } from '../../../src/core/paths.js';
import { connectSsh, remoteCommand } from '../../../src/exec/ssh-runner.js';
import { allocatePorts } from '../ports.js';
import { launchSpec, nodeHostKey, prepareClusterKeys, qemuLogTail, sshTarget, startNode, writeKnownHosts } from '../provider.js';
import { qemuArgs } from '../qemu-args.js';
import { qemuKubernetesNetwork } from '../node-network.js';
import { incomingArgs, resumeNode, waitLoaded } from '../snapshot.js';
import { checkContents, checkSizes, diskFile, KEY_FILE, KUBECONFIG_FILE, snapshotDir, stateFile, type RestoreState } from '../../../src/snapshot/store.js';
import { allOrClose, connectNode } from '../../../src/provider/connect.js';
import { runWithHostTime } from '../../../src/snapshot/clock.js';
import { hostKubeconfig } from '../../../src/steps/kubernetes/kubeadm.js';
import { portBase, portsOfOtherClusters } from './prepare-cluster.js';
import { nodeScriptPath } from '../../../src/node-scripts/scripts.js';
import { need, type UpContext } from '../../../src/steps/context.js';

/** How far a restored node's clock may be from the host's when `up` reports it ready. */
export const MAX_CLOCK_SKEW_S = 1;

/** What a restore carries between its steps. */
function restoreOf(ctx: UpContext): RestoreState {
  return need(ctx.restore, 'snapshot to restore');
}

/** Every file's size and checksum, before anything starts. */
export const checkSnapshotStep: Step<UpContext> = {
  name: 'check snapshot',
  async isDone() {
    return false;
  },
  async apply(ctx) {
    const r = restoreOf(ctx);
    checkSizes(r.manifest, ctx.places);
    if (!r.contentsChecked) checkContents(r.manifest, ctx.places);
    return `"${r.manifest.name}": ${r.manifest.files.length} files, sizes and CRC-32 as saved`;
  },
  plan(ctx) {
    const dir = snapshotDir(restoreOf(ctx).manifest.name, ctx.places);
    return [{ on: 'host', verb: 'run', what: `check each file of ${dir} against the size and CRC-32 in snapshot.json` }];
  },
};

/** New keys, host keys and ports for the nodes the snapshot holds (their names, roles and MACs kept). */
export const prepareRestoredCluster: Step<UpContext> = {
  name: 'prepare cluster',
  async isDone() {
    return false;
  },
  async apply(ctx) {
    const { options, paths } = ctx;
    const { manifest } = restoreOf(ctx);
    const saved = manifest.record;
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    await prepareClusterKeys(ctx.host, paths, options.prefix);
    const withApi = saved.nodes.some((n) => n.apiPort);
    const count = saved.nodes.length + (withApi ? 1 : 0) + (saved.registryPort ? 1 : 0);
    const ports = await allocatePorts(count, portBase(options.randomPorts), portsOfOtherClusters(ctx.places, options.prefix));
    let next = saved.nodes.length;
    const nodes: NodeRecord[] = [];
    for (const [i, n] of saved.nodes.entries()) {
      nodes.push({
        ...n,
        sshPort: ports[i] as number,
        ...(n.apiPort ? { apiPort: ports[next++] as number } : {}),
        hostKey: await nodeHostKey(ctx.host, paths, n.name, options.prefix),
      });
    }
    const now = new Date().toISOString();
    const { lastCheck: _lastCheck, restoredFrom: _restoredFrom, registryPort: _registryPort, ...rest } = saved;
    const record: ClusterRecord = {
      ...rest,
      prefix: options.prefix,
      options,
      accelReason: `restored from snapshot "${manifest.name}", saved on ${saved.accel}`,
      createdAt: now,
      nodes,
      ...(saved.registryPort ? { registryPort: ports[next] as number } : {}),
      owner: ctx.owner,
      restoredFrom: { snapshot: manifest.name, savedAt: manifest.createdAt, restoredAt: now, complete: false },
    };
    writeClusterRecord(paths.specFile, record);
    writeKnownHosts(paths, record);
    const kubeconfig = join(snapshotDir(manifest.name, ctx.places), KUBECONFIG_FILE);
    const api = qemuKubernetesNetwork(record).api;
    if (existsSync(kubeconfig) && api) writeFileSync(paths.kubeconfig, hostKubeconfig(readFileSync(kubeconfig, 'utf8'), `${api.host}:${api.port}`), { mode: 0o600 });
    ctx.record = record;
    ctx.created = new Set();
    return `${nodes.length} node(s), new keys, ssh ports ${nodes.map((n) => n.sshPort).join(',')}`;
  },
  plan(ctx) {
    const { manifest } = restoreOf(ctx);
    return [
      { on: 'host', verb: 'write', what: `${ctx.paths.dir}/ (mode 0700): a new cluster key pair and new host keys for ${manifest.record.nodes.map((n) => n.name).join(', ')}, new ports, known_hosts pinning the new host keys` },
    ];
  },
};

/** Each node's disk copied from the snapshot and its QEMU started on the saved state, left paused. */
export const loadNodesStep: Step<UpContext> = {
  name: 'load node state',
  async isDone() {
    return false;
  },
  async apply(ctx, progress) {
    const record = need(ctx.record, 'cluster record');
    const r = restoreOf(ctx);
    const dir = snapshotDir(r.manifest.name, ctx.places);
    progress.update(`loading ${record.nodes.map((n) => n.name).join(', ')}`);
    await Promise.all(
      record.nodes.map(async (node) => {
        const np = nodePaths(ctx.paths, node.name);
        mkdirSync(np.dir, { recursive: true, mode: 0o700 });
        copyFileSync(join(dir, diskFile(node.name)), np.disk, constants.COPYFILE_FICLONE);
        chmodSync(np.disk, 0o600);
        try {
          const fd = openSync(join(dir, stateFile(node.name)), 'r');
          let pid: number;
          try {
            pid = await startNode(ctx.host, record, node, ctx.places, incomingArgs(), fd);
          } finally {
            closeSync(fd);
          }
          ctx.booted.add(node.name);
          r.loadSeconds[node.name] = Math.round((await waitLoaded(np.qmp, pid, ctx.bootTimeoutMs, () => qemuLogTail(np.qemuLog), ctx.signal)) * 10) / 10;
        } catch (e) {
          throw new DpdkciError(`${node.name}: ${(e as Error).message}`);
        }
      }),
    );
    return Object.entries(r.loadSeconds).map(([n, s]) => `${n} ${s}s`).join(', ');
  },
  plan(ctx) {
    const dir = snapshotDir(restoreOf(ctx).manifest.name, ctx.places);
    const record = need(ctx.record, 'cluster record');
    return record.nodes.flatMap((n) => [
      { on: 'host', verb: 'write' as const, what: `${nodePaths(ctx.paths, n.name).disk} (mode 0600), a copy of ${join(dir, diskFile(n.name))}` },
      { on: 'host', verb: 'run' as const, what: `${remoteCommand([...qemuArgs(launchSpec(record, n, ctx.places)), ...incomingArgs()])} (fd 3: ${join(dir, stateFile(n.name))}, opened read-only)` },
      { on: 'host', verb: 'wait' as const, what: `QMP query-status on ${n.name} says paused: the state is loaded` },
    ]);
  },
};

/** The nodes run again from where they were saved. */
export const resumeNodesStep: Step<UpContext> = {
  name: 'resume nodes',
  async isDone() {
    return false;
  },
  async apply(ctx) {
    const record = need(ctx.record, 'cluster record');
    for (const n of record.nodes) {
      try {
        await resumeNode(nodePaths(ctx.paths, n.name).qmp);
      } catch (e) {
        throw new DpdkciError(`${n.name}: could not resume it: ${(e as Error).message}; ${qemuLogTail(nodePaths(ctx.paths, n.name).qemuLog)}`);
      }
    }
    return `${record.nodes.length} node(s)`;
  },
  plan(ctx) {
    return restoreOf(ctx).manifest.record.nodes.map((n) => ({ on: 'host', verb: 'run' as const, what: `QMP cont on ${n.name}` }));
  },
};

/**
 * The state still trusts the snapshot's login key and presents its host key: those make one connection,
 * which sets the clock and takes this cluster's keys and registry port from the new QEMU's fw_cfg. The
 * connection that follows uses the new keys only.
 */
export const rekeyNodesStep: Step<UpContext> = {
  name: 're-key nodes',
  async isDone() {
    return false;
  },
  async apply(ctx) {
    const record = need(ctx.record, 'cluster record');
    const r = restoreOf(ctx);
    const oldKey = readFileSync(join(snapshotDir(r.manifest.name, ctx.places), KEY_FILE), 'utf8');
    const nodes: Node[] = await allOrClose(
      record.nodes.map(async (node) => {
        const saved = r.manifest.record.nodes.find((n) => n.name === node.name) as NodeRecord;
        try {
          const ssh = await connectSsh({ ...sshTarget(record, node, ctx.places), privateKey: oldKey, hostKey: saved.hostKey }, 15_000);
          try {
            // The node prints its clock last; what the host reads is later, so this is the skew or behind it.
            const said = await runWithHostTime(ssh, ['bash', nodeScriptPath('snapshot.sh'), 'reseed']);
            const skew = Number(said.split('\n').at(-1)) - Date.now() / 1000;
            r.clockSkew[node.name] = Math.round(skew * 1000) / 1000;
            if (!(Math.abs(skew) <= MAX_CLOCK_SKEW_S)) throw new DpdkciError(`its clock is ${skew.toFixed(2)} s from the host's after it was set`);
          } finally {
            ssh.dispose();
          }
          // The new keys only: the handshake checks the new host key and the node accepts the new login key.
          const connected = await connectNode(record, node, ctx.places);
          return connected;
        } catch (e) {
          throw new DpdkciError(`${node.name}: ${(e as Error).message}`);
        }
      }),
    );
    ctx.nodes = nodes;
    return Object.entries(r.clockSkew).map(([n, s]) => `${n} clock ${s >= 0 ? '+' : ''}${s.toFixed(2)}s`).join(', ');
  },
  plan(ctx) {
    return restoreOf(ctx).manifest.record.nodes.flatMap((n) => [
      { on: n.name, verb: 'run' as const, what: `over SSH with the snapshot's key and host key, once: ${remoteCommand(['bash', nodeScriptPath('snapshot.sh'), 'reseed'])} (the host's time on its stdin)` },
      { on: n.name, verb: 'use' as const, what: `one SSH connection with the new key and host key (the clock, as the reseed printed it, within ${MAX_CLOCK_SKEW_S} s of the host)` },
    ]);
  },
};

export function restoreSteps(shared: Step<UpContext>[]): Step<UpContext>[] {
  return [checkSnapshotStep, prepareRestoredCluster, ...shared, loadNodesStep, resumeNodesStep, rekeyNodesStep];
}
