import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Pod } from 'kubernetes-models/v1/Pod';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { MANIFESTS_DIR, renderManifests, type ManifestInput } from '../../src/kubernetes/manifests.js';
import { kubeadmSchemas } from '../fixtures/schemas/kubeadm.js';
import { kubernetesContext } from '../fixtures/kubernetes-context.js';
import { manifestInput } from '../../src/steps/kubernetes/index.js';

/**
 * Every manifest dpdkci renders, for a 2-node --dpdk cluster: parsed back, validated against Kubernetes'
 * schemas (kubernetes-models for the built-in kinds, the NAD CRD's own schema, kubeadm's and kubelet's
 * fields), compared with golden files a reviewer can read (UPDATE_GOLDEN=1 rewrites them), and the NAD
 * reference must agree with what dpdkci creates.
 */
const GOLDEN = join(__dirname, '..', 'golden', 'manifests');
const REFERENCE = join(__dirname, '..', 'fixtures', 'reference');

// The input `up` really renders from, for a 2-node --dpdk cluster with Kubernetes 1.36 (review item 22).
const input: ManifestInput = manifestInput(kubernetesContext({ nodes: '2' }), { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'0'.repeat(64)}` });
const rendered = renderManifests(input);
const byName = (name: string) => rendered.find((r) => r.name === name) as (typeof rendered)[number];
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('ipv4', /^(\d{1,3}\.){3}\d{1,3}$/);

/** A strategic merge patch of containers by name, enough to see a patch land on a DaemonSet. */
function mergeDaemonSet(base: Record<string, any>, patch: Record<string, any>): Record<string, any> {
  const out = structuredClone(base);
  const spec = out.spec.template.spec;
  for (const c of patch.spec.template.spec.containers ?? []) {
    const target = spec.containers.find((x: { name: string }) => x.name === c.name);
    expect(target, `the patch names container ${c.name}, which the DaemonSet has`).toBeDefined();
    target.env = [...(target.env ?? []), ...(c.env ?? [])];
    target.volumeMounts = [...(target.volumeMounts ?? []), ...(c.volumeMounts ?? [])];
  }
  spec.volumes = [...(spec.volumes ?? []), ...(patch.spec.template.spec.volumes ?? [])];
  return out;
}
const skeleton = (name: string, container: string) => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name, namespace: 'kube-system' },
  spec: { selector: { matchLabels: { k8s: name } }, template: { metadata: { labels: { k8s: name } }, spec: { containers: [{ name: container, image: 'example.test/x:1' }] } } },
});

describe('rendered manifests', () => {
  it('render in order, every one parsing back to YAML documents', () => {
    expect(rendered.map((r) => r.name)).toEqual([
      'kubeadm/init.yaml',
      'kubeadm/join.yaml (node02)',
      'etc/cni/multus/net.d/userspace-ovs-net-1.conf (node01)',
      'etc/cni/multus/net.d/userspace-ovs-net-1.conf (node02)',
      'calico/overrides.yaml',
      'dpdk/ovs-hugepages.yaml',
      'nad/userspace-ovs-net.yaml',
      'smoke/vhostuser-pod.yaml',
    ]);
    for (const r of rendered) expect(r.docs.length, r.name).toBeGreaterThan(0);
  });

  it("the smoke check's pod is a valid Pod that asks for the NAD, hugepages and its node", () => {
    const doc = byName('smoke/vhostuser-pod.yaml').docs[0] as Record<string, any>;
    expect(() => new Pod(doc as ConstructorParameters<typeof Pod>[0]).validate()).not.toThrow();
    expect(doc.metadata.annotations['k8s.v1.cni.cncf.io/networks']).toBe(input.nad.name);
    expect(doc.spec.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'node01' });
    const resources = doc.spec.containers[0].resources;
    expect(resources.limits['hugepages-2Mi']).toBe(resources.requests['hugepages-2Mi']);
  });

  it('match their golden files', () => {
    for (const r of rendered) {
      const file = join(GOLDEN, `${r.name.replace(/[ /()]+/g, '_').replace(/_$/, '')}`);
      // A missing golden file fails: it is written only when asked (UPDATE_GOLDEN=1), then reviewed.
      if (process.env.UPDATE_GOLDEN === '1') {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, r.text);
      }
      expect(existsSync(file), `${file} is missing; UPDATE_GOLDEN=1 writes it`).toBe(true);
      expect(r.text, r.name).toBe(readFileSync(file, 'utf8'));
    }
  });

  it('kubeadm and kubelet configuration: every field known, every value well-formed', () => {
    const docs = [...byName('kubeadm/init.yaml').docs, ...byName('kubeadm/join.yaml (node02)').docs];
    expect(docs.map((d) => d.kind)).toEqual(['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration', 'JoinConfiguration']);
    for (const doc of docs) {
      const validate = ajv.compile(kubeadmSchemas[doc.kind as string] as object);
      expect(validate(doc), `${doc.kind}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    const cluster = docs[1] as { networking: { podSubnet: string } };
    // The pod CIDR kubeadm is given is the one calico's pool is given.
    const calicoEnv = (byName('calico/overrides.yaml').docs[0] as any).spec.template.spec.containers[0].env;
    expect(calicoEnv).toContainEqual({ name: 'CALICO_IPV4POOL_CIDR', value: cluster.networking.podSubnet });
  });

  it('catches a misspelt kubelet field', () => {
    const validate = ajv.compile(kubeadmSchemas.KubeletConfiguration as object);
    expect(validate({ apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', cpuMangerPolicy: 'static' })).toBe(false);
  });

  it("the calico patch and OVS's hugepage share are valid DaemonSets; the kubelet keeps OVS's CPUs", () => {
    const calico = mergeDaemonSet(skeleton('calico-node', 'calico-node'), byName('calico/overrides.yaml').docs[0] as any);
    expect(() => new DaemonSet(calico as any).validate()).not.toThrow();
    const share = byName('dpdk/ovs-hugepages.yaml').docs[0] as any;
    expect(() => new DaemonSet(share).validate()).not.toThrow();
    expect(share.spec.template.spec.containers[0].resources.limits['hugepages-2Mi']).toBe('768Mi');
    // And the validator does reject a broken one.
    expect(() => new DaemonSet({ ...share, spec: { template: {} } }).validate()).toThrow();
    const kubelet = byName('kubeadm/init.yaml').docs.find((d) => d.kind === 'KubeletConfiguration') as any;
    // The default 6 vCPU: CPU 0 (the system, OVS's lcore) and 5 (OVS's PMD).
    expect(kubelet.reservedSystemCPUs).toBe('0,5');
    expect(kubelet.systemReserved).toEqual({ memory: '768Mi' });
    // ...from every container, not only from exclusive assignment (W1), under the gate its option needs.
    expect(kubelet.cpuManagerPolicyOptions).toEqual({ 'strict-cpu-reservation': 'true' });
    expect(kubelet.featureGates).toEqual({ CPUManagerPolicyBetaOptions: true });
    // Signals not named keep their defaults (nodefs.inodesFree) rather than none.
    expect(kubelet.mergeDefaultEvictionSettings).toBe(true);
  });

  it('under TCG kubeadm waits longer, in its own v1beta4 field names', () => {
    const ctx = kubernetesContext({ nodes: '2' });
    (ctx.record as any).accel = 'tcg';
    const tcg = renderManifests(manifestInput(ctx, { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'0'.repeat(64)}` }));
    const init = tcg[0]!.docs[0] as any;
    expect(init.timeouts).toMatchObject({ controlPlaneComponentHealthCheck: '15m0s', kubeletHealthCheck: '15m0s' });
    const validate = ajv.compile(kubeadmSchemas.InitConfiguration as object);
    expect(validate(init), ajv.errorsText(validate.errors)).toBe(true);
    expect((byName('kubeadm/init.yaml').docs[0] as any).timeouts).toBeUndefined();
  });

  it('the NAD is valid against its CRD and equals the reference network; node01 has the reference file', () => {
    const nad = byName('nad/userspace-ovs-net.yaml').docs[0] as Record<string, unknown>;
    const crd = parse(readFileSync(join(MANIFESTS_DIR, 'crds', 'network-attachment-definition.yaml'), 'utf8'));
    const validate = ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema);
    expect(validate(nad), ajv.errorsText(validate.errors)).toBe(true);
    expect(nad).toEqual(parse(readFileSync(join(REFERENCE, 'nad-userspace-ovs-net-1.yaml'), 'utf8')));
    const node01 = byName('etc/cni/multus/net.d/userspace-ovs-net-1.conf (node01)');
    expect(JSON.parse(node01.text)).toEqual(JSON.parse(readFileSync(join(REFERENCE, 'userspace-ovs-net-1.conf'), 'utf8')));
  });

  it('a value the templates need and do not get is an error, not an empty field', () => {
    expect(() => renderManifests({ ...input, controlPlane: undefined } as unknown as ManifestInput)).toThrow(
      /kubeadm\/init.yaml: a value the template needs is missing \("name" not defined/,
    );
    const { socketDir: _dropped, ...withoutSocketDir } = input;
    expect(() => renderManifests(withoutSocketDir as unknown as ManifestInput)).toThrow(/smoke\/vhostuser-pod.yaml: a value the template needs is missing/);
  });
});
