import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveClusterOptions } from '../../src/core/config.js';
import { UsageError } from '../../src/core/errors.js';
import { addonFiles } from '../../src/kubernetes/addons.js';
import { ADDON_REQUESTS, allocatable, budget, DPDK_POD_ROOM, reservedCpus } from '../../src/core/kubernetes-budget.js';
import { renderSmokePod } from '../../src/kubernetes/manifests.js';
import { manifestInput } from '../../src/steps/kubernetes/index.js';
import { nodeLabels } from '../../src/steps/kubernetes/addons.js';
import { kubernetesContext } from '../fixtures/kubernetes-context.js';
import { kubectlWithKustomize, kustomize } from '../fixtures/kustomize.js';
import { CALICO_MANIFEST, MULTUS_THIN_MANIFEST, upstreamFile } from '../fixtures/upstream.js';

/**
 * The node sizes against what the cluster's pods request. The add-ons' figures come from the upstream
 * manifests as kustomize renders them, so that a release asking for more fails here, not on a node.
 */
type Doc = Record<string, any>;
const host = { memAvailableMiB: 100_000 };
const cpu = (v: string | undefined) => (v === undefined ? 0 : v.endsWith('m') ? Number(v.slice(0, -1)) : Number(v) * 1000);
const mem = (v: string | undefined) => (v === undefined ? 0 : v.endsWith('Mi') ? Number(v.slice(0, -2)) : v.endsWith('Gi') ? Number(v.slice(0, -2)) * 1024 : NaN);
let rendered: Doc[];

beforeAll(async () => {
  const kubectl = await kubectlWithKustomize();
  const ctx = kubernetesContext({});
  const lock = ctx.kubernetes!.lock;
  const root = mkdtempSync(join(tmpdir(), 'dpdkci-budget-'));
  const files = addonFiles({
    manifests: manifestInput(ctx, { token: 'unused.0000000000000000', caCertHash: '' }),
    upstream: {
      calico: { name: lock.addons.calico!.files[0]!.name, text: upstreamFile(CALICO_MANIFEST).text },
      multus: { name: lock.addons.multus!.files[0]!.name, text: upstreamFile(MULTUS_THIN_MANIFEST).text },
    },
    images: { calico: lock.addons.calico!.images, multus: lock.addons.multus!.images },
    labels: nodeLabels(ctx),
    dpdk: true,
  });
  for (const f of files) {
    mkdirSync(dirname(join(root, f.name)), { recursive: true });
    writeFileSync(join(root, f.name), f.text);
  }
  rendered = [];
  for (const dir of ['10-calico', '20-multus']) rendered.push(...parseAllDocuments(await kustomize(kubectl, join(root, dir))).map((d) => d.toJS() as Doc));
});

describe('what the pods request, against what the nodes offer', () => {
  it("the add-ons' requests are those of the rendered upstream manifests", () => {
    for (const r of ADDON_REQUESTS) {
      const workload = rendered.find((d) => ['DaemonSet', 'Deployment'].includes(d.kind) && d.metadata.name === r.name);
      expect(workload, r.name).toBeDefined();
      expect(workload!.kind === 'DaemonSet' ? 'every' : 'anywhere').toBe(r.on);
      // The scheduler adds up the containers; init containers count with their largest request.
      const containers = workload!.spec.template.spec.containers as Doc[];
      expect(containers.reduce((s, c) => s + cpu(c.resources?.requests?.cpu), 0), `${r.name} cpu`).toBe(r.cpuMilli);
      expect(containers.reduce((s, c) => s + mem(c.resources?.requests?.memory), 0), `${r.name} memory`).toBe(r.memoryMiB);
      for (const c of (workload!.spec.template.spec.initContainers ?? []) as Doc[]) expect(cpu(c.resources?.requests?.cpu)).toBeLessThanOrEqual(r.cpuMilli);
    }
  });

  it("the smoke pod's request is the budget's", () => {
    const pod = renderSmokePod(manifestInput(kubernetesContext({}), { token: 'unused.0000000000000000', caCertHash: '' }), 'node01').docs[0] as Doc;
    expect(cpu(pod.spec.containers[0].resources.requests.cpu)).toBe(10);
    expect(mem(pod.spec.containers[0].resources.requests.memory)).toBe(16);
  });

  it('the defaults with Kubernetes and OVS-DPDK fit, with room for a DPDK pod beside the smoke pod', () => {
    const o = resolveClusterOptions({ dpdk: true, kubernetes: '1.36' }, {}, host);
    expect([o.cpus, o.memoryMiB]).toEqual([6, 5120]);
    const b = budget({ ...o });
    const node = b.perNode[0]!;
    expect(b.allocatable.cpuMilli - node.cpuMilli).toBeGreaterThanOrEqual(DPDK_POD_ROOM.cpuMilli);
    expect(b.allocatable.memoryMiB - node.memoryMiB).toBeGreaterThanOrEqual(DPDK_POD_ROOM.memoryMiB);
    // OVS's lcore and PMD CPUs are never a pod's.
    expect(reservedCpus(o)).toEqual([0, 5]);
    // OVS's hugepage share is not offered: 896 x 2M less OVS's 768 MiB limit.
    expect(allocatable(o).hugepages2mMiB).toBe(896 * 2 - 768);
  });

  it('--cpu 2 --kubernetes 1.36 is refused before anything boots, with the arithmetic', () => {
    let error: unknown;
    try {
      resolveClusterOptions({ dpdk: true, kubernetes: '1.36', cpus: '2' }, {}, host);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(/^--cpu: 2 vCPU is too few for Kubernetes with OVS-DPDK: the kubelet keeps CPU 0 and 1 from pods .* leaving 0m, but node01's pods request 1210m \(kube-apiserver, .*\); use --cpu 4 or more/);
  });

  it('--memory too small for the hugepages and the pods is refused, naming --memory and the numbers', () => {
    expect(() => resolveClusterOptions({ dpdk: true, kubernetes: '1.36', memoryMiB: '3072M' }, {}, host)).toThrow(
      /^--memory: 3072 MiB is too little for Kubernetes: 1792 MiB of hugepages, 768 MiB kept for the system and 100 MiB of eviction threshold leave 412 MiB, but node01's pods request \d+ MiB .*use --memory \d+M or more/,
    );
  });

  it('a variable-given size is named as the variable', () => {
    expect(() => resolveClusterOptions({ dpdk: true, kubernetes: '1.36' }, { KUBEVIRT_NUM_VCPU: '3' }, host)).toThrow(/^KUBEVIRT_NUM_VCPU: 3 vCPU is too few/);
  });
});
