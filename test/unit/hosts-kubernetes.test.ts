import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { resolveClusterOptions } from '../../src/core/config.js';
import type { ClusterRecord } from '../../src/core/cluster.js';
import { renderAddons, renderInit, renderJoin } from '../../src/kubernetes/manifests.js';
import { providerOf } from '../../src/provider/registry.js';
import { KUBELET_PATCHES_DIR, manifestInput } from '../../src/steps/kubernetes/index.js';
import { installTargets, kubeletPatch } from '../../providers/hosts/steps/install-kubernetes.js';
import { rootfsTargets } from '../../src/image/kubernetes-layer.js';
import { createLocalRunner } from '../../src/exec/local-runner.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { hostFirewallWarning, hostKubernetesRefusals } from '../../providers/hosts/kubernetes.js';
import { parseHostFacts } from '../../providers/hosts/facts.js';
import { kubeadmSchemas } from '../fixtures/schemas/kubeadm.js';
import { kubernetesContext } from '../fixtures/kubernetes-context.js';

/**
 * Kubernetes on hosts, without a host: the options it is allowed with, the refusals that protect a host,
 * the node IPs and API server the provider gives, and what kubeadm and calico are given, validated against
 * their field schemas. Whether kubeadm then comes up cannot be seen here (no Kubernetes can be downloaded).
 */
const OPTS = { provider: 'hosts', inventory: '/tmp/inventory.yaml', dpdk: true };

function hostsContext() {
  const ctx = kubernetesContext({ nodes: '2' });
  const record = ctx.record as ClusterRecord;
  record.provider = 'hosts';
  record.options = { ...ctx.options, kubernetes: '1.36' };
  const cpus = [8, 4];
  record.nodes = record.nodes.map((n, i) => ({
    ...n,
    name: `lab${i + 1}`,
    host: { address: `127.0.0.1`, user: 'root', keyFile: '/k', hostKeys: [], nic: { pci: '0000:03:00.0' }, nodeIp: `10.0.0.${11 + i}`, cpus: cpus[i] as number },
  }));
  return ctx;
}

const facts = (extra = '') =>
  parseHostFacts(`os_id=debian\nos_version_id=12\ncpus=8\nmem_total_kib=${16 * 1024 * 1024}\nmem_available_kib=${12 * 1024 * 1024}\niommu=4\nnic_pci=0000:03:00.0\n${extra}`);
const want = { name: 'lab2', nic: '0000:03:00.0', prefix: 'lab', bridge: 'br-dpdk0', hugepages2m: 1024, hugepages1g: 0, vfioNoiommu: false, kubernetes: { role: 'worker' as const, nodes: 2 } };

describe('Kubernetes on hosts', () => {
  it('knows every file the install writes before it runs: binaries, each member of an archive unpacked into a directory, the rootfs, containerd\'s configuration, the vhost-user network file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpdkci-targets-'));
    mkdirSync(join(dir, 'tree', 'bin'), { recursive: true });
    for (const f of ['containerd', 'ctr']) writeFileSync(join(dir, 'tree', 'bin', f), 'x');
    await execa('tar', ['-czf', join(dir, 'c.tar.gz'), '-C', join(dir, 'tree'), '.']);
    const targets = await installTargets(
      { files: [{ name: 'c', sha256: '', path: join(dir, 'c.tar.gz'), install: '/usr/local/' }, { name: 'k', sha256: '', path: '/nonexistent', install: '/usr/local/bin/kubeadm' }, { name: 'go', sha256: '', path: '/x' }], images: [] },
      createLocalRunner(),
    );
    expect([...targets].sort()).toEqual(['/usr/local/bin/containerd', '/usr/local/bin/ctr', '/usr/local/bin/kubeadm', ...rootfsTargets(), '/etc/containerd/config.toml', '/etc/cni/multus/net.d/userspace-ovs-net-1.conf'].sort());
    expect(targets).toContain('/etc/systemd/system/kubelet.service.d/10-kubeadm.conf');
    expect(targets.filter((t) => t.endsWith('/'))).toEqual([]);
  });

  it('is installed only when asked for by version: --kubernetes 1.36 is taken, auto is the dataplane alone', () => {
    expect(resolveClusterOptions({ ...OPTS, kubernetes: '1.36' }, {}).kubernetes).toBe('1.36');
    expect(resolveClusterOptions({ ...OPTS, kubernetes: 'auto' }, {}).kubernetes).toBe('none');
    // What the options alone decide is checked as for QEMU nodes: hugepages left for pods beside OVS's.
    expect(() => resolveClusterOptions({ ...OPTS, kubernetes: '1.36', hugepages2m: '600' }, {})).toThrow(/^--hugepages-2m: 600 x 2M leave \d+ MiB for pods once OVS holds its 768 MiB; give at least \d+$/);
  });

  it("refuses a host with a runtime or Kubernetes of its own, or too small for the pods, unless it is this cluster's", () => {
    expect(hostKubernetesRefusals(facts(), want, false)).toEqual([]);
    const own = facts('k8s_found=/var/lib/containerd\nk8s_found=service docker\n');
    expect(hostKubernetesRefusals(own, want, false)).toEqual([
      'host "lab2" has a container runtime or Kubernetes of its own (/var/lib/containerd, service docker); dpdkci would replace it with its pinned containerd 2 and kubelet, and remove them again at down: use a host without one, or --kubernetes none',
    ]);
    // A second up of the same cluster finds what its first up installed.
    expect(hostKubernetesRefusals(own, want, true)).toEqual([]);
    const small = parseHostFacts(`cpus=2\nmem_total_kib=${3 * 1024 * 1024}\n`);
    const [cpu, memory] = hostKubernetesRefusals(small, { ...want, name: 'lab1', kubernetes: { role: 'control-plane', nodes: 2 } }, false);
    expect(cpu).toMatch(/^host "lab1" has 2 CPUs; the kubelet keeps CPU 0 and 1 from pods \(the system and OVS's PMD\), leaving 0m, but its pods request \d+m \(kube-apiserver, .*\): use a host with \d+ CPUs or more, or --kubernetes none$/);
    expect(memory).toMatch(/^host "lab1" has 3072 MiB; hugepages, 768 MiB kept for the system and 100 MiB of eviction threshold leave \d+ MiB, but its pods request \d+ MiB .*: use a host with more memory, fewer hugepages, or --kubernetes none$/);
  });

  it("puts the node IPs and the API server on the lab's network: the hosts' nodeIp, the control plane's port 6443", () => {
    const ctx = hostsContext();
    const record = ctx.record as ClusterRecord;
    expect(providerOf(record).kubernetesNetwork(record)).toEqual({ nodeIps: { lab1: '10.0.0.11', lab2: '10.0.0.12' }, api: { host: '10.0.0.11', port: 6443, via: "lab1's node IP" } });
    // QEMU nodes keep their own node network and the forwarded port.
    const qemu = { ...record, provider: 'qemu', nodes: [{ ...record.nodes[0], apiPort: 2203 }, record.nodes[1]] } as ClusterRecord;
    expect(providerOf(qemu).kubernetesNetwork(qemu)).toEqual({ nodeIps: { lab1: '192.168.66.101', lab2: '192.168.66.102' }, cidr: '192.168.66.0/24', api: { host: '127.0.0.1', port: 2203, via: 'forwarded to lab1:6443' } });
  });

  it('gives kubeadm each host its own reserved CPUs through a kubeletconfiguration patch, and calico the InternalIP', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addFormat('ipv4', /^(\d{1,3}\.){3}\d{1,3}$/);
    const input = manifestInput(hostsContext(), { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'0'.repeat(64)}` });
    const init = parseAllDocuments(renderInit(input).text).map((d) => d.toJSON());
    const join = parseAllDocuments(renderJoin(input, input.workers[0] as (typeof input.workers)[number]).text).map((d) => d.toJSON());
    for (const doc of [...init, ...join]) {
      const validate = ajv.compile(kubeadmSchemas[doc.kind as string] as object);
      expect(validate(doc), `${doc.kind}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    expect(init[0].patches).toEqual({ directory: KUBELET_PATCHES_DIR });
    expect(join[0].patches).toEqual({ directory: KUBELET_PATCHES_DIR });
    expect(init[0].localAPIEndpoint.advertiseAddress).toBe('10.0.0.11');
    expect(join[0].discovery.bootstrapToken.apiServerEndpoint).toBe('10.0.0.11:6443');
    expect(join[0].nodeRegistration.kubeletExtraArgs).toEqual([{ name: 'node-ip', value: '10.0.0.12' }]);
    // The patch, merged into the cluster's KubeletConfiguration, is still a valid one.
    const kubelet = init.find((d) => d.kind === 'KubeletConfiguration');
    const merged = { ...kubelet, ...parse(kubeletPatch(4)) };
    const validate = ajv.compile(kubeadmSchemas.KubeletConfiguration as object);
    expect(validate(merged), ajv.errorsText(validate.errors)).toBe(true);
    expect(merged.reservedSystemCPUs).toBe('0,3');
    // calico's accepted methods (projectcalico/calico@v3.31.7:node/pkg/lifecycle/startup/autodetection/autodetection_methods.go).
    const env = (parse(renderAddons(input).calicoPatch.text) as any).spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'IP_AUTODETECTION_METHOD', value: 'kubernetes-internal-ip' });
  });

  it("warns of a host's own firewall, naming the ports the cluster needs between hosts (M11), and refuses nothing for it", async () => {
    expect(hostFirewallWarning('lab1', facts())).toBeNull();
    const walled = facts('firewall=service ufw\nfirewall=nftables input policy drop\n');
    expect(hostKubernetesRefusals(walled, want, false)).toEqual([]);
    expect(hostFirewallWarning('lab1', walled)).toBe(
      'host "lab1" has a firewall of its own (service ufw, nftables input policy drop); dpdkci does not change it: let 6443/tcp (API server), 10250/tcp (kubelet), 179/tcp (calico BGP), 4789/udp (calico VXLAN) through between the hosts (6443 from this machine too), or nodes stay NotReady with no other hint',
    );
    // host-facts.sh reads an nftables ruleset whose input hook drops (nft stands in for this machine's).
    const bin = mkdtempSync(join(tmpdir(), 'dpdkci-facts-nft-'));
    writeFileSync(join(bin, 'nft'), '#!/bin/sh\nprintf "table inet filter {\\n\\tchain input {\\n\\t\\ttype filter hook input priority filter; policy drop;\\n\\t}\\n}\\n"\n', { mode: 0o755 });
    const script = join(__dirname, '..', '..', 'scripts', 'node', 'host-facts.sh');
    const r = await execa('bash', [script, 'lo', 'br-dpdk0', '/nonexistent-dpdkci'], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(parseHostFacts(r.stdout).firewalls).toContain('nftables input policy drop');
  });

  it('a host with swap on gets a kubelet that starts (swap left on, pods given none), and is not refused for it', () => {
    const swapped = facts('swap=/swapfile file 524284\nswap=/dev/sda3 partition 1048572\n');
    expect(hostKubernetesRefusals(swapped, want, false)).toEqual([]);
    const input = manifestInput(hostsContext(), { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'0'.repeat(64)}` });
    const kubelet = parseAllDocuments(renderInit(input).text)
      .map((d) => d.toJSON())
      .find((d) => d.kind === 'KubeletConfiguration');
    // Stand-in for the kubelet's start-up rule (it refuses when failSwapOn, unset meaning true, meets an area
    // listed in /proc/swaps): the configuration every host gets passes it on this host.
    const kubeletRefuses = (config: { failSwapOn?: boolean }, swaps: unknown[]) => (config.failSwapOn ?? true) && swaps.length > 0;
    expect(kubeletRefuses(kubelet, swapped.swaps)).toBe(false);
    expect(kubeletRefuses({ ...kubelet, failSwapOn: undefined }, swapped.swaps)).toBe(true);
    // NoSwap: containers get no swap of the host's (kubernetes/kubelet@bbb4f8f0:config/v1beta1/types.go MemorySwapConfiguration).
    expect(kubelet.memorySwap).toEqual({ swapBehavior: 'NoSwap' });
  });
});
