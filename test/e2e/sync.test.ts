import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { helloElf, helloImageArchive } from '../fixtures/oci.js';
import { dpdkci, failureSummary, onNode, sharedCluster } from './helpers.js';

/**
 * `dpdkci sync` for real, on a 1-node --dpdk cluster without Kubernetes: an image the test builds itself
 * lands in containerd and runs there, a CNI binary lands in /opt/cni/bin and is skipped the second time,
 * and a drifted OVS-DPDK setting is put back.
 */
const PREFIX = 'e2e-sync';
const IMAGE = 'dpdkci.test/hello:1';
const MESSAGE = 'hello from a dpdkci sync image';

describe.sequential('sync into a running cluster', () => {
  const { guard, markFailed } = sharedCluster(PREFIX);
  let archive: { file: string; digest: string };
  let cni: string;

  beforeAll(async () => {
    await dpdkci(['down', '--prefix', PREFIX, '--force']);
    archive = await helloImageArchive(IMAGE, `${MESSAGE}\n`);
    cni = join(mkdtempSync(join(tmpdir(), 'dpdkci-cni-')), 'dpdkci-test-cni');
    writeFileSync(cni, helloElf('a CNI plugin stand-in\n'));
    const up = await dpdkci(['up', '--prefix', PREFIX, '--dpdk', '--skip-check', '--kubernetes', 'none']);
    if (up.exitCode !== 0) {
      await markFailed();
      throw new Error(`up failed (exit ${up.exitCode}):\n${failureSummary(String(up.stderr))}`);
    }
  });

  const sync = async (...args: string[]) => {
    const r = await dpdkci(['sync', '--prefix', PREFIX, '-o', 'json', ...args]);
    expect(r.exitCode, String(r.all)).toBe(0);
    return JSON.parse(String(r.stdout)) as { changed: boolean; changes: { node: string; kind: string; name: string; outcome: string }[] };
  };

  it('an OCI image archive lands in containerd and runs there; a CNI binary lands with mode 0755', guard(async () => {
    const result = await sync('--image', archive.file, '--cni-bin', cni);
    expect(result.changes).toEqual(
      expect.arrayContaining([
        { node: 'node01', kind: 'image', name: IMAGE, outcome: 'imported' },
        { node: 'node01', kind: 'cni', name: 'dpdkci-test-cni', outcome: 'installed' },
      ]),
    );
    expect(await onNode(PREFIX, 'node01', `ctr -n k8s.io images ls -q name==${IMAGE}`)).toBe(IMAGE);
    expect(await onNode(PREFIX, 'node01', `ctr -n k8s.io run --rm ${IMAGE} dpdkci-sync-test /hello`)).toBe(MESSAGE);
    expect(await onNode(PREFIX, 'node01', 'stat -c "%a %U" /opt/cni/bin/dpdkci-test-cni')).toBe('755 root');
    const sum = createHash('sha256').update(helloElf('a CNI plugin stand-in\n')).digest('hex');
    expect(await onNode(PREFIX, 'node01', 'sha256sum /opt/cni/bin/dpdkci-test-cni | cut -d" " -f1')).toBe(sum);
  }));

  it('the same sync again changes nothing', guard(async () => {
    const result = await sync('--image', archive.file, '--cni-bin', cni);
    expect(result.changed).toBe(false);
    expect(result.changes.map((c) => c.outcome)).toEqual(['unchanged', 'unchanged']);
  }));

  it('the cluster registry: sync --registry pushes once, and the node pulls the image as registry:5000 and runs it', guard(async () => {
    // The registry `up` started on the host's loopback (Debian's docker-registry); the node's seed pointed
    // its containerd at it, through QEMU's user network, under kubevirtci's name registry:5000.
    const port = Number((await dpdkci(['ports', 'registry', '--prefix', PREFIX])).stdout);
    expect(port).toBeGreaterThan(1024);
    const base = `http://127.0.0.1:${port}`;
    const ref = `127.0.0.1:${port}/hello:1`;
    const first = await sync('--image', archive.file, '--registry', `127.0.0.1:${port}`);
    expect(first.changes).toContainEqual({ node: 'registry', kind: 'image', name: ref, outcome: 'pushed' });
    const head = await fetch(`${base}/v2/hello/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(head.headers.get('docker-content-digest')).toBe(archive.digest);
    // "cluster" names the same registry.
    const again = await sync('--image', archive.file, '--registry', 'cluster');
    expect(again.changes).toEqual([{ node: 'registry', kind: 'image', name: ref, outcome: 'unchanged' }]);
    expect(await onNode(PREFIX, 'node01', 'cat /etc/containerd/certs.d/registry:5000/hosts.toml')).toContain(`[host."http://10.0.2.2:${port}"]`);
    await onNode(PREFIX, 'node01', 'systemctl start containerd && ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d registry:5000/hello:1 >/dev/null');
    expect(await onNode(PREFIX, 'node01', 'ctr -n k8s.io run --rm registry:5000/hello:1 dpdkci-registry-test /hello')).toBe(MESSAGE);
    const status = JSON.parse(String((await dpdkci(['status', '--prefix', PREFIX, '-o', 'json'])).stdout));
    expect(status.registry).toEqual({ address: `127.0.0.1:${port}`, pullAs: 'registry:5000', running: true });
  }));

  it('a drifted OVS-DPDK setting is restored', guard(async () => {
    await onNode(PREFIX, 'node01', 'ovs-vsctl set Open_vSwitch . other_config:pmd-cpu-mask=0x1');
    const result = await sync();
    expect(result.changes.some((c) => c.kind === 'dataplane' && c.outcome === 'restored' && c.node === 'node01'), JSON.stringify(result)).toBe(true);
    expect(await onNode(PREFIX, 'node01', 'ovs-vsctl get Open_vSwitch . other_config:pmd-cpu-mask')).toBe('"0x2"');
    expect(await onNode(PREFIX, 'node01', 'ovs-vsctl get Interface dpdk0 link_state')).toBe('up');
  }));

  it('refuses what it cannot do before touching a node', guard(async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'dpdkci-bad-')), 'image.tar');
    writeFileSync(bad, 'not an archive');
    const r = await dpdkci(['sync', '--prefix', PREFIX, '--image', bad]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/--image: .*image.tar is not an OCI image archive/);
    const m = await dpdkci(['sync', '--prefix', PREFIX, '--manifests', tmpdir()]);
    expect(m.exitCode).toBe(2);
    expect(String(m.stderr)).toMatch(/--manifests: cluster "e2e-sync" has no Kubernetes/);
  }));

  it('down stops the cluster registry with the nodes', guard(async () => {
    const config = join(JSON.parse(String((await dpdkci(['status', '--prefix', PREFIX, '-o', 'json'])).stdout)).stateDir, 'registry', 'config.yml');
    const r = await dpdkci(['down', '--prefix', PREFIX]);
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.stderr)).toMatch(/registry stopped/);
    const left = await execa('pgrep', ['-f', `docker-registry serve ${config}`], { reject: false });
    expect(left.stdout).toBe('');
  }));
});
