import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpdkci, keepLogs, onNode } from './helpers.js';
import { standInBundle, STANDIN_EXTRA, STANDIN_PAUSE } from './standin-kubernetes.js';

/**
 * `dpdkci bundle` then `dpdkci provision --kubernetes --bundle`, for real, with a synthetic Kubernetes (the
 * real artefacts cannot be downloaded here; test/e2e/standin-kubernetes.ts says what stands in). What is real is everything dpdkci does with them: the
 * bundle with its checksums, the build VM booted from the base image, install-kubernetes.sh, containerd 2's
 * version 3 configuration and image import, the clean power-off and the cached layer.
 */
const PAUSE = STANDIN_PAUSE;
const EXTRA = STANDIN_EXTRA;
const PREFIX = 'e2e-k8s';

describe.sequential('the Kubernetes layer of the node image, from a bundle', () => {
  const work = mkdtempSync(join(tmpdir(), 'dpdkci-k8s-image-'));
  const bundle = join(work, 'bundle');
  const lockFile = join(work, 'versions.lock.yaml');
  const env = { DPDKCI_LOCK_FILE: lockFile };
  let layerDir: string | undefined;

  beforeAll(async () => {
    await standInBundle(work, bundle, lockFile);
  });

  afterAll(async () => {
    await dpdkci(['down', '--prefix', PREFIX, '--force']);
    if (layerDir) rmSync(layerDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('a bundle whose file does not match the lock is refused, naming the artefact, before any VM boots', async () => {
    const bad = join(work, 'bad-bundle');
    cpSync(bundle, bad, { recursive: true });
    writeFileSync(join(bad, 'files', 'kubelet-test'), 'not the kubelet');
    // Watched while it runs, instead of timed: no build VM's QEMU may ever appear.
    let buildVm = false;
    const watch = setInterval(() => {
      if (execaSync('pgrep', ['-f', 'qemu-system.*dpdkci-imagebuild-'], { reject: false }).exitCode === 0) buildVm = true;
    }, 100);
    const r = await dpdkci(['provision', '--kubernetes', '1.31', '--bundle', bad], { env }).finally(() => clearInterval(watch));
    expect(r.exitCode, String(r.all)).toBe(1);
    expect(String(r.stderr)).toMatch(/files\/kubelet-test: checksum mismatch/);
    expect(buildVm).toBe(false);
  });

  it('provision --kubernetes --bundle builds the layer: binaries installed, containerd on systemd cgroups, every image imported', async () => {
    const r = await dpdkci(['provision', '--kubernetes', '1.31', '--bundle', bundle, '-o', 'json'], { env });
    expect(r.exitCode, String(r.all)).toBe(0);
    const image = JSON.parse(String(r.stdout)) as { dir: string; disk: string; kubernetes: { installed: string[]; images: string[]; sandbox: string } };
    layerDir = image.dir;
    expect(image.kubernetes.installed.sort()).toEqual(['/opt/cni/bin/', '/opt/cni/bin/userspace', '/usr/local/', '/usr/local/bin/crictl', '/usr/local/bin/kubeadm', '/usr/local/bin/kubectl', '/usr/local/bin/kubelet', '/usr/local/sbin/runc']);
    expect(image.kubernetes.images).toEqual(expect.arrayContaining([PAUSE, EXTRA]));
    expect(image.kubernetes.sandbox).toBe(PAUSE);
    expect(existsSync(image.disk)).toBe(true);
    // A layer over the base image, not a copy of it; nothing of the build VM is left running or on disk.
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', image.disk])).stdout) as { 'backing-filename'?: string };
    expect(info['backing-filename']).toMatch(/node-bookworm-[0-9a-f]{16}\/disk\.qcow2$/);
    expect((await execa('pgrep', ['-f', 'dpdkci-imagebuild-'], { reject: false })).stdout).toBe('');
    expect(existsSync(join(image.dir, 'state'))).toBe(false);
  });

  it('the second provision is a cache hit', async () => {
    const r = await dpdkci(['provision', '--kubernetes', '1.31', '--bundle', bundle, '-o', 'json'], { env });
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.stderr)).toMatch(/cache hit/);
    expect(JSON.parse(String(r.stdout)).dir).toBe(layerDir);
  });

  it('up --kubernetes --bundle boots the nodes from the layer onto the node network, and stops at kubeadm init, naming it', async () => {
    // The stand-in kubeadm exits 0 without starting a control plane: up must notice, not carry on.
    const r = await dpdkci(['up', '--prefix', PREFIX, '--nodes', '2', '--kubernetes', '1.31', '--cpu', '3', '--memory', '3072M', '--bundle', bundle], { env });
    if (r.exitCode !== 1) await keepLogs(PREFIX, 'up-kubernetes');
    expect(r.exitCode, String(r.all)).toBe(1);
    expect(String(r.stderr)).toMatch(/node01: kubeadm init failed:[\s\S]*kubeadm v1\.31\.4 \(dpdkci test stand-in\)[\s\S]*the API server does not answer/);
    expect(String(r.stderr)).toMatch(/skipped provision Kubernetes layer \(already done\)/);
    // What the layer gave every node, after a boot of its own: binaries, containerd running with every image, the
    // kubelet enabled, kubeadm's kernel settings; and the node network between the nodes' kernel NICs.
    for (const node of ['node01', 'node02']) {
      expect(await onNode(PREFIX, node, 'ctr -n k8s.io images ls -q | grep -v sha256: | sort')).toBe([EXTRA, PAUSE].sort().join('\n'));
      expect(await onNode(PREFIX, node, 'ctr -n k8s.io run --rm registry.dpdkci.test/test/hello:1 e2e-k8s /hello')).toBe(EXTRA);
      expect(await onNode(PREFIX, node, 'systemctl is-active containerd; systemctl is-enabled kubelet; sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe('active\nenabled\n1\n1');
      expect(await onNode(PREFIX, node, 'ls /usr/local/bin')).toBe('containerd\ncontainerd-shim-runc-v2\ncrictl\nctr\nkubeadm\nkubectl\nkubelet');
      // containerd 2 from the archive runs, on the version 3 configuration: systemd cgroups, the pinned runc,
      // the pause image as sandbox, the CNI directories; each image also named by its digest (--digests).
      expect(await onNode(PREFIX, node, 'systemctl show -p ExecStart --value containerd | grep -o "path=[^ ;]*"; ctr version | grep -c "Version:[[:space:]]*v\\?2\\."')).toMatch(/^path=\/usr\/local\/bin\/containerd\n2$/);
      const dump = await onNode(PREFIX, node, 'containerd config dump');
      expect(dump).toMatch(/^version = 3$/m);
      expect(dump).toMatch(/SystemdCgroup = true/);
      expect(dump).toMatch(/BinaryName = ["']\/usr\/local\/sbin\/runc["']/);
      expect(dump).toMatch(new RegExp(`sandbox = ["']${PAUSE.replace(/[.]/g, '\\.')}["']`));
      expect(await onNode(PREFIX, node, 'ctr -n k8s.io images ls -q | grep -c @sha256:')).toBe('2');
      expect(await onNode(PREFIX, node, '/opt/cni/bin/dpdkci-test-plugin')).toBe('a CNI plugin (dpdkci test stand-in)');
      // What the build VM's boot made unique went: every node makes its own machine-id; DNS is QEMU's.
      expect(await onNode(PREFIX, node, 'cat /etc/resolv.conf')).toBe('nameserver 10.0.2.3');
      // The userspace CNI plugin dpdkci built from the pinned source, where multus looks for it.
      expect(JSON.parse(await onNode(PREFIX, node, 'stat -c %a /opt/cni/bin/userspace >&2; CNI_COMMAND=VERSION /opt/cni/bin/userspace'))).toMatchObject({ plugin: 'userspace (dpdkci test stand-in)' });
      // The kubelet's pulls of registry:5000 go to the cluster registry: containerd reads the seed's hosts.toml.
      expect(dump).toMatch(/config_path = ["']\/etc\/containerd\/certs\.d["']/);
      expect(await onNode(PREFIX, node, 'test -s /etc/containerd/certs.d/registry:5000/hosts.toml && echo yes')).toBe('yes');
    }
    expect(await onNode(PREFIX, 'node02', 'ping -c 1 -W 10 192.168.66.101 >/dev/null && ip -4 -o addr show | grep -c 192.168.66.102/24')).toBe('1');
    const ids = await Promise.all(['node01', 'node02'].map((n) => onNode(PREFIX, n, 'cat /etc/machine-id')));
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[0]).not.toBe(ids[1]);
    // node01 forwards the API server's port on 127.0.0.1; there is no kubeconfig, and kubeconfig says why.
    const port = await dpdkci(['ports', 'k8s', '--prefix', PREFIX]);
    expect(String(port.stdout).trim()).toMatch(/^\d+$/);
    const kubeconfig = await dpdkci(['kubeconfig', '--prefix', PREFIX]);
    expect(kubeconfig.exitCode).toBe(1);
    expect(String(kubeconfig.stderr)).toMatch(/has no kubeconfig yet .* did not get past kubeadm init/);
  });
});
