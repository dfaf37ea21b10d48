import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterRecord, type ClusterRecord } from '../../src/core/cluster.js';
import { clusterPaths } from '../../src/core/paths.js';
import { dpdkci, failureSummary, keepLogs, KEEP, onNode, stateExists } from './helpers.js';
import { standInBundle, STANDIN_EXTRA, STANDIN_MINOR, STANDIN_PAUSE } from './standin-kubernetes.js';
import { placesFrom } from '../../src/core/places.js';

/**
 * Kubernetes on a machine dpdkci did not boot: one VM of dpdkci's image without --dpdk (MACHINE), started by
 * this test, used only as a machine reachable over SSH, turned into a one-host cluster (HOSTS) with
 * --kubernetes from a bundle of stand-ins (test/e2e/standin-kubernetes.ts: containerd 2 is real, kubeadm and
 * the kubelet print their name). What is real: the refusals, the record of what the host had, the install
 * with install-kubernetes.sh on the host, containerd 2 running with the pinned images, the kubelet patch and
 * kubeadm's configuration on the host's own address, up stopping at kubeadm init, and down taking it away.
 */
const MACHINE = 'e2e-k8shostvm';
const HOSTS = 'e2e-k8shosts';
const DIR = mkdtempSync(join(tmpdir(), 'dpdkci-e2e-k8shosts-'));
const bundle = join(DIR, 'bundle');
const lockFile = join(DIR, 'versions.lock.yaml');
const env = { DPDKCI_LOCK_FILE: lockFile };
/** The machine's address on its only kernel network (QEMU's user network): enough for a one-host cluster. */
const NODE_IP = '10.0.2.15';
/** A swap file the test turns on before up (B2 of the Kubernetes review): it must stay on through up and down. */
const SWAPFILE = '/dpdkci-e2e-swapfile';

/** What down must leave as it found it: binaries, units, directories, kernel settings, firewall rules. */
const BASELINE =
  'ls /usr/local/bin /usr/local/sbin /opt/cni/bin /etc/systemd/system/multi-user.target.wants | tr "\\n" " "; echo; md5sum /etc/containerd/config.toml /usr/local/bin/kubectl 2>/dev/null || true; ' +
  'for p in /etc/containerd /var/lib/containerd /etc/kubernetes /var/lib/kubelet /opt/cni/bin /etc/cni/net.d /etc/dpdkci /etc/crictl.yaml /etc/systemd/system/containerd.service /etc/systemd/system/kubelet.service; do test -e $p && echo "$p there"; done; ' +
  'sysctl -n net.ipv4.ip_forward; test -d /sys/module/br_netfilter && echo br_netfilter; iptables-save | grep -c "^-A" || true; systemctl is-active containerd kubelet || true; ' +
  'swapon --show=NAME,TYPE --noheadings';

describe('up --provider hosts --kubernetes on a machine it did not boot', () => {
  let inventory: string;
  let before: string;
  let machineId: string;

  beforeAll(async () => {
    await dpdkci(['down', '--prefix', HOSTS, '--force']);
    await standInBundle(DIR, bundle, lockFile);
    // Kubernetes with OVS-DPDK needs 4 CPUs (CPU 0 and the PMD's kept from pods) and 4 GiB on a control plane.
    const r = await dpdkci(['up', '--prefix', MACHINE, '--nodes', '1', '--cpu', '4', '--memory', '4096M', '--kubernetes', 'none', '--random-ports', '--no-registry'], { timeoutMs: 15 * 60_000 });
    if (r.exitCode !== 0) throw new Error(`the machine did not come up:\n${failureSummary(String(r.stderr))}`);
    const record = readClusterRecord(clusterPaths(MACHINE, placesFrom(process.env)).specFile) as ClusterRecord;
    const node = record.nodes[0] as ClusterRecord['nodes'][number];
    inventory = join(DIR, 'inventory.yaml');
    writeFileSync(
      inventory,
      ['hosts:', '  - name: lab1', '    address: 127.0.0.1', `    port: ${node.sshPort}`, `    keyFile: ${clusterPaths(MACHINE, placesFrom(process.env)).privateKey}`, `    hostKey: "${node.hostKey}"`, '    nic: "0000:00:04.0"', `    nodeIp: ${NODE_IP}`, ''].join('\n'),
    );
    // A kubectl of the host's own, which the install overwrites and down must put back.
    await onNode(MACHINE, 'node01', "printf '#!/bin/sh\\necho the host kubectl\\n' > /usr/local/bin/kubectl && chmod 0755 /usr/local/bin/kubectl");
    // And a CNI directory of its own, with a plugin and a userspace CNI build of its own, which the install
    // overwrites: after down, the directory holds those two again, the host's userspace build back.
    await onNode(MACHINE, 'node01', "mkdir -p /opt/cni/bin && cp /bin/true /opt/cni/bin/host-plugin && printf '#!/bin/sh\\necho host userspace\\n' > /opt/cni/bin/userspace && chmod 0755 /opt/cni/bin/userspace");
    // Swap on, as a Debian install's own swap partition would be: up leaves it on, the kubelet is told to run beside it.
    await onNode(MACHINE, 'node01', `dd if=/dev/zero of=${SWAPFILE} bs=1M count=64 status=none && chmod 0600 ${SWAPFILE} && mkswap ${SWAPFILE} >/dev/null && swapon ${SWAPFILE}`);
    before = await onNode(MACHINE, 'node01', BASELINE);
    expect(before).toContain(`${SWAPFILE} file`);
    machineId = await onNode(MACHINE, 'node01', 'cat /etc/machine-id');
    // A node package the machine lacks: up installs it, and down without --purge-packages keeps it and says so.
    await onNode(MACHINE, 'node01', 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q driverctl >/dev/null && echo purged');
  }, 20 * 60_000);

  afterAll(async () => {
    if (KEEP) return;
    await dpdkci(['down', '--prefix', HOSTS, '--force']);
    await dpdkci(['down', '--prefix', MACHINE, '--force']);
    rmSync(DIR, { recursive: true, force: true });
  }, 10 * 60_000);

  const up = () => dpdkci(['up', '--provider', 'hosts', '--inventory', inventory, '--prefix', HOSTS, '--dpdk', '--kubernetes', STANDIN_MINOR, '--bundle', bundle], { env, timeoutMs: 20 * 60_000 });

  it('refuses a host with a container runtime of its own, and changes nothing', async () => {
    await onNode(MACHINE, 'node01', 'mkdir /var/lib/containerd');
    const r = await up();
    await onNode(MACHINE, 'node01', 'rmdir /var/lib/containerd');
    expect(r.exitCode, String(r.all)).toBe(2);
    expect(String(r.stderr)).toMatch(/host "lab1" has a container runtime or Kubernetes of its own \(\/var\/lib\/containerd\); dpdkci would replace it/);
    expect(stateExists(HOSTS)).toBe(false);
    expect(await onNode(MACHINE, 'node01', 'test -e /var/lib/dpdkci && echo there || echo none')).toBe('none');
  }, 10 * 60_000);

  it('installs the pinned Kubernetes on the host, configures kubeadm on its own address, and stops at kubeadm init, naming it', async () => {
    // The stand-in kubeadm exits 0 without starting a control plane: up must notice, not carry on.
    const r = await up();
    if (r.exitCode !== 1) await keepLogs(HOSTS, 'hosts-kubernetes-up');
    expect(r.exitCode, String(r.all)).toBe(1);
    expect(String(r.stderr)).toMatch(/done +install Kubernetes \(lab1: \d+ binaries, 2 images, containerd 2 with systemd cgroups\)/);
    expect(String(r.stderr)).toMatch(/lab1: kubeadm init failed:[\s\S]*kubeadm v1\.31\.4 \(dpdkci test stand-in\)[\s\S]*the API server does not answer/);
    const on = (command: string) => onNode(MACHINE, 'node01', command);
    expect(await on('ctr -n k8s.io images ls -q | grep -v sha256: | sort')).toBe([STANDIN_EXTRA, STANDIN_PAUSE].sort().join('\n'));
    expect(await on(`ctr -n k8s.io run --rm ${STANDIN_EXTRA} e2e-k8shosts /hello`)).toBe(STANDIN_EXTRA);
    expect(await on('systemctl show -p ExecStart --value containerd | grep -o "path=[^ ;]*"; systemctl is-enabled kubelet')).toBe('path=/usr/local/bin/containerd\nenabled');
    // Applied now, not at a boot: what kubeadm's preflight checks.
    expect(await on('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe('1\n1');
    // This host's reserved CPUs (0 and its last, OVS's PMD) and kubeadm on the host's own address.
    expect(await on('cat /etc/dpdkci/kubeadm-patches/kubeletconfiguration+merge.yaml')).toMatch(/^reservedSystemCPUs: "0,3"$/m);
    const init = await on('cat /etc/dpdkci/kubeadm-init.yaml');
    expect(init).toMatch(new RegExp(`advertiseAddress: "${NODE_IP}"`));
    expect(init).toMatch(/patches:\n {2}directory: "\/etc\/dpdkci\/kubeadm-patches"/);
    // The host's swap is still on, check hosts said so, and the kubelet is told to start beside it and give pods none.
    expect(await on('swapon --show=NAME --noheadings')).toBe(SWAPFILE);
    expect(String(r.stderr)).toMatch(new RegExp(`lab1: .*swap 64 MiB \\(${SWAPFILE}\\) left on \\(kubelet: failSwapOn false, swapBehavior NoSwap`));
    expect(init).toMatch(/^failSwapOn: false\nmemorySwap:\n {2}swapBehavior: NoSwap$/m);
    // Nothing of the machine's identity is touched (the image build's first-boot reset is not for hosts).
    expect(await on('cat /etc/machine-id')).toBe(machineId);
    expect(await on('grep -c ^key= /var/lib/dpdkci/kubernetes-state')).toBe('1');
    expect(await on('/usr/local/bin/kubectl')).toBe('kubectl v1.31.4 (dpdkci test stand-in)');
    // A developer's build of the userspace CNI synced over the pinned one (which replaced the host's), and
    // over a plugin the install added: down must bring back the host's userspace build and neither of these.
    const cni = join(DIR, 'cni');
    mkdirSync(cni);
    writeFileSync(join(cni, 'userspace'), '#!/bin/sh\necho dev build\n', { mode: 0o755 });
    writeFileSync(join(cni, 'dpdkci-test-plugin'), '#!/bin/sh\necho dev build\n', { mode: 0o755 });
    const sync = await dpdkci(['sync', '--prefix', HOSTS, '--cni-bin', cni], { timeoutMs: 5 * 60_000 });
    expect(sync.exitCode, String(sync.all)).toBe(0);
    expect(await on('/opt/cni/bin/userspace; /opt/cni/bin/dpdkci-test-plugin')).toBe('dev build\ndev build');
    expect(await on('grep ^cni_ /var/lib/dpdkci/host-state | sort')).toBe('cni_dirs_created=\ncni_over_kubernetes=dpdkci-test-plugin\ncni_over_kubernetes=userspace');
  }, 20 * 60_000);

  it('down takes Kubernetes away again: binaries, units, directories, kernel settings and rules as they were, the machine still answering', async () => {
    const r = await dpdkci(['down', '--prefix', HOSTS], { timeoutMs: 10 * 60_000 });
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.stderr)).toMatch(/lab1: restored no kubelet, kubeadm, kubectl, crictl or containerd 2 of dpdkci's/);
    expect(String(r.stderr)).toMatch(/lab1: restored no \/var\/lib\/containerd/);
    expect(stateExists(HOSTS)).toBe(false);
    expect(await onNode(MACHINE, 'node01', BASELINE)).toBe(before);
    expect(await onNode(MACHINE, 'node01', '/usr/local/bin/kubectl')).toBe('the host kubectl');
    expect(await onNode(MACHINE, 'node01', '/opt/cni/bin/userspace')).toBe('host userspace');
    expect(String(r.stderr)).toMatch(/lab1: kept packages dpdkci installed: driverctl \(--purge-packages removes them\)/);
    expect(await onNode(MACHINE, 'node01', "dpkg-query -W -f='${db:Status-Status}' driverctl")).toBe('installed');
    expect(await onNode(MACHINE, 'node01', 'test -e /var/lib/dpdkci && echo there || echo none')).toBe('none');
    expect(await onNode(MACHINE, 'node01', 'readlink /sys/bus/pci/devices/0000:00:04.0/driver | xargs basename')).toBe('virtio-pci');
  }, 10 * 60_000);
});
