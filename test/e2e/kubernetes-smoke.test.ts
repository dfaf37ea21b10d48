import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { quote } from 'zx';
import { dpdkci, failureSummary, onNode, readNodeOk, sharedCluster } from './helpers.js';

/**
 * The node-side half of the Kubernetes smoke check (scripts/node/kubernetes-smoke.sh) on a real 1-node --dpdk
 * cluster without Kubernetes. The test plays the userspace CNI plugin on the node, doing by hand what its ADD
 * and DEL do for a pod whose emptyDir volume is named shared-dir
 * (intel/userspace-cni-network-plugin@3e14ba36364e5402d731707f9f5904242435d6c7: cniovs/cniovs.go
 * addLocalDeviceVhost, createSharedDir, delLocalDeviceVhost; cniovs/ovsctrl.go createVhostPort, deleteVhostPort;
 * cniovs/localdb.go SaveConfig; pkg/annotations/annotations.go GetPodVolumeMountHostSharedDir), and checks that
 * each command of the script passes on what the plugin leaves and fails on what it would not.
 */
const PREFIX = 'e2e-k8s-smoke';
const SMOKE = '/usr/local/lib/dpdkci/kubernetes-smoke.sh';
const SOCKETS = '/var/lib/vhost_sockets';
const BRIDGE = 'br-dpdk0';
const BEFORE = '/tmp/dpdkci-smoke-before';

/** A pod as the plugin sees it: its UID, its sandbox's container ID, the interface multus asks for. */
function fakePod(ifname = 'net1') {
  const uid = randomUUID();
  const port = `${randomBytes(32).toString('hex').slice(0, 12)}-${ifname}`;
  const emptyDir = `/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~empty-dir/shared-dir`;
  return { uid, port, emptyDir, dir: `${SOCKETS}/${uid}`, socket: `${SOCKETS}/${uid}/${port}` };
}

const addPort = (port: string, path: string) =>
  `ovs-vsctl add-port ${BRIDGE} ${quote(port)} -- set Interface ${quote(port)} type=dpdkvhostuserclient ${quote(`options:vhost-server-path=${path}`)}`;

/** The plugin's ADD on the host, in its order: the emptyDir kubelet made, the bind mount, the group, the port, the saved data. */
function pluginAdd(pod: ReturnType<typeof fakePod>): string {
  return [
    'set -e',
    `mkdir -p -m 0777 ${quote(pod.emptyDir)}`,
    `mkdir -m 0750 ${quote(pod.dir)}`,
    `mount --bind ${quote(pod.emptyDir)} ${quote(pod.dir)}`,
    `chgrp hugetlbfs ${SOCKETS}/ ${quote(pod.dir)}`,
    addPort(pod.port, pod.socket),
    'mkdir -p -m 0700 /var/lib/cni/usrspcni/data',
    `printf '{"vhostname":"%s","vhostmac":"","ifmac":"02:00:00:00:00:01"}' ${quote(pod.port)} > ${quote(`/var/lib/cni/usrspcni/data/local-${pod.port}.json`)}`,
  ].join('\n');
}

/** A command on node01 whose failure the test expects to see: exit code and both streams. */
async function onNode01(command: string) {
  const r = await dpdkci(['ssh', '--prefix', PREFIX, 'node01', '--', command], { timeoutMs: 240_000 });
  return { exitCode: r.exitCode, stdout: String(r.stdout).trim(), stderr: String(r.stderr).trim() };
}

const smoke = (...args: string[]) => onNode01([SMOKE, ...args].map((a) => quote(a)).join(' '));

describe.sequential('kubernetes-smoke.sh on a --dpdk node, with the userspace CNI played by hand', () => {
  const { guard, markFailed } = sharedCluster(PREFIX);
  const pod = fakePod();

  beforeAll(async () => {
    await dpdkci(['down', '--prefix', PREFIX, '--force']);
    const up = await dpdkci(['up', '--prefix', PREFIX, '--dpdk', '--skip-check']);
    if (up.exitCode !== 0) {
      await markFailed();
      throw new Error(`up --dpdk failed (exit ${up.exitCode}):\n${failureSummary(String(up.stderr))}`);
    }
  });

  it('up pushed the script with the rest of scripts/node', guard(async () => {
    const local = createHash('sha256').update(readFileSync(join(__dirname, '..', '..', 'scripts', 'node', 'kubernetes-smoke.sh'))).digest('hex');
    const read = await readNodeOk(PREFIX, 'node01', { sha256: `sha256sum ${SMOKE} | cut -d' ' -f1`, mode: `stat -c %a ${SMOKE}` });
    expect(read.sha256).toBe(local);
    expect(read.mode).toBe('755');
  }));

  it('port finds the one port the plugin added; verify accepts it and reports the bind mount', guard(async () => {
    await onNode(PREFIX, 'node01', `ovs-vsctl list-ports ${BRIDGE} > ${BEFORE}`);
    const none = await smoke('port', BRIDGE, SOCKETS, BEFORE);
    expect(none.exitCode, none.stderr).toBe(1);
    expect(none.stderr).toMatch(/found no new port: the userspace CNI did not attach the pod/);

    await onNode(PREFIX, 'node01', pluginAdd(pod));
    const port = await smoke('port', BRIDGE, SOCKETS, BEFORE);
    expect(port.exitCode, port.stderr).toBe(0);
    expect(port.stdout).toBe(pod.port);

    const verify = await smoke('verify', pod.port, SOCKETS, pod.uid);
    expect(verify.exitCode, verify.stderr).toBe(0);
    const found = Object.fromEntries(verify.stdout.split('\n').map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
    expect(found).toMatchObject({ port: pod.port, type: 'dpdkvhostuserclient', 'vhost-server-path': pod.socket, 'pod-uid': pod.uid, 'shared-dir': pod.emptyDir });
    // findmnt names a bind mount of a directory as the device with the directory in brackets.
    expect(found.mount).toMatch(new RegExp(`^${pod.dir} \\S+\\[${pod.emptyDir.replace(/[.~]/g, '\\$&')}\\]$`));
    // Without the expected UID it still passes; with another pod's it does not.
    expect((await smoke('verify', pod.port, SOCKETS)).exitCode).toBe(0);
    const other = await smoke('verify', pod.port, SOCKETS, randomUUID());
    expect(other.exitCode).toBe(1);
    expect(other.stderr).toMatch(/the port belongs to another pod/);
  }));

  it('link fails, naming the port, while nothing serves the socket', guard(async () => {
    const r = await smoke('link', pod.port, '5');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`expected ${pod.port}'s link_state up within 5 s, found down: nothing serves the vhost-user socket ${pod.socket}`);
    expect(r.stderr).toContain('last lines of /var/log/openvswitch/ovs-vswitchd.log');
  }));

  it('serve brings the link up with testpmd as the vhost-user server, then stops it and leaves nothing', guard(async () => {
    const r = await smoke('serve', pod.port, SOCKETS, '90');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^serve ${pod.port}: link up after \\d+ s with dpdk-testpmd serving ${pod.socket}$`));
    const left = await readNodeOk(PREFIX, 'node01', {
      testpmd: 'pgrep -c dpdk-testpmd || true',
      socket: `test -e ${quote(pod.socket)} && echo present || echo absent`,
      hugepages: 'ls /dev/hugepages | grep -c dpdkci-k8s-smoke || true',
    });
    expect(left.testpmd).toBe('0');
    expect(left.socket).toBe('absent');
    expect(left.hugepages).toBe('0');
    // OVS, the client, sees its server go and keeps the port, waiting to reconnect.
    const link = await smoke('link', pod.port, '3');
    expect(link.exitCode).toBe(1);
  }));

  it('verify fails on a socket outside the socket directory and on a socket directory that is not a mount', guard(async () => {
    const outside = fakePod();
    const plain = fakePod();
    await onNode(PREFIX, 'node01', [`mkdir -p /tmp/x ${quote(plain.dir)}`, addPort(outside.port, '/tmp/x/sock'), addPort(plain.port, plain.socket)].join(' && '));
    try {
      const two = await smoke('port', BRIDGE, SOCKETS, BEFORE);
      expect(two.exitCode).toBe(1);
      expect(two.stderr).toMatch(/expected one new dpdkvhostuserclient port on br-dpdk0, found 3:/);

      const r = await smoke('verify', outside.port, SOCKETS);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`found /tmp/x/sock: the socket is outside the socket directory: the pod's shared-dir volume is missing or not named shared-dir`);

      const m = await smoke('verify', plain.port, SOCKETS, plain.uid);
      expect(m.exitCode).toBe(1);
      expect(m.stderr).toContain(`expected ${plain.dir} to be a mount point (the plugin bind-mounts the pod's shared-dir emptyDir there), found a plain directory`);
    } finally {
      await onNode(PREFIX, 'node01', `ovs-vsctl --if-exists del-port ${BRIDGE} ${quote(outside.port)} -- --if-exists del-port ${BRIDGE} ${quote(plain.port)} && rmdir ${quote(plain.dir)} /tmp/x`);
    }
  }));

  it('gone fails while the port or the mount is left, and passes after the plugin DEL', guard(async () => {
    const early = await smoke('gone', pod.port, SOCKETS, pod.uid);
    expect(early.exitCode).toBe(1);
    expect(early.stderr).toContain(`expected no port ${pod.port} after the pod was deleted, found it on ${BRIDGE}: the userspace CNI's DEL did not run or failed`);

    // DEL, in the plugin's order: the port, then the mount and its directory, then the saved data; kubelet
    // removes the pod's volumes last.
    await onNode(PREFIX, 'node01', `ovs-vsctl --if-exists del-port ${BRIDGE} ${quote(pod.port)}`);
    const mounted = await smoke('gone', pod.port, SOCKETS, pod.uid);
    expect(mounted.exitCode).toBe(1);
    expect(mounted.stderr).toMatch(/expected no mount at \S+, found a mount of .*: DEL did not unmount the pod's shared-dir/);

    await onNode(PREFIX, 'node01', `umount ${quote(pod.dir)} && rmdir ${quote(pod.dir)}`);
    const data = await smoke('gone', pod.port, SOCKETS, pod.uid);
    expect(data.exitCode).toBe(1);
    expect(data.stderr).toMatch(/expected no saved plugin data .*local-.*\.json, found it/);

    await onNode(PREFIX, 'node01', `rm ${quote(`/var/lib/cni/usrspcni/data/local-${pod.port}.json`)} && rm -r ${quote(`/var/lib/kubelet/pods/${pod.uid}`)}`);
    const r = await smoke('gone', pod.port, SOCKETS, pod.uid);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`gone ${pod.port}: no port, no socket, no mount or directory at ${pod.dir}`);
    const after = await readNodeOk(PREFIX, 'node01', { ports: `ovs-vsctl list-ports ${BRIDGE}`, sockets: `ls -A ${SOCKETS} | wc -l` });
    expect(after.ports).toBe('dpdk0');
    expect(after.sockets).toBe('0');
  }));
});
