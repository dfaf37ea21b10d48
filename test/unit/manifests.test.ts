import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Pod } from 'kubernetes-models/v1/Pod';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { MANIFESTS_DIR, renderManifests, userspaceNetworkConfig, type ManifestInput } from '../../src/kubernetes/manifests.js';
import { kubeadmSchemas } from '../fixtures/schemas/kubeadm.js';

/**
 * Every manifest dpdkci renders, for a 2-node --dpdk cluster: parsed back, validated against Kubernetes'
 * schemas (kubernetes-models for the built-in kinds, the NAD CRD's own schema, kubeadm's and kubelet's
 * fields), compared with golden files a reviewer can read (UPDATE_GOLDEN=1 rewrites them), and the NAD and
 * VMI references must agree with what dpdkci creates.
 */
const GOLDEN = join(__dirname, '..', 'golden', 'manifests');
const REFERENCE = join(__dirname, '..', 'fixtures', 'reference');

const input: ManifestInput = {
  clusterName: 'dpdkci',
  kubernetes: { release: 'v1.31.4', podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' },
  controlPlane: { name: 'node01', ip: '192.168.66.101' },
  workers: [{ name: 'node02', ip: '192.168.66.102' }],
  nodeNetwork: '192.168.66.0/24',
  bootstrapToken: 'abcdef.0123456789abcdef',
  caCertHash: `sha256:${'0'.repeat(64)}`,
  kubelet: { reservedSystemCpus: '0', topologyManagerPolicy: 'single-numa-node' },
  socketDir: '/var/lib/vhost_sockets',
  bridge: 'br-dpdk0',
  pauseImage: 'registry.k8s.io/pause:3.10',
  nad: { name: 'userspace-ovs-net-1', namespace: 'default', config: userspaceNetworkConfig('userspace-ovs-net-1', 'br-dpdk0') },
};
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
      'calico/overrides.yaml',
      'multus/overrides.yaml',
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
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, r.text);
      }
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

  it('calico and multus with dpdkci\'s patches are valid DaemonSets', () => {
    const calico = mergeDaemonSet(skeleton('calico-node', 'calico-node'), byName('calico/overrides.yaml').docs[0] as any);
    expect(() => new DaemonSet(calico as any).validate()).not.toThrow();
    const multus = mergeDaemonSet(skeleton('kube-multus-ds', 'kube-multus'), byName('multus/overrides.yaml').docs[0] as any);
    expect(() => new DaemonSet(multus as any).validate()).not.toThrow();
    const mount = multus.spec.template.spec.containers[0].volumeMounts[0];
    expect(mount).toEqual({ name: 'vhost-sockets', mountPath: '/var/lib/vhost_sockets', mountPropagation: 'Bidirectional' });
    // And the validator does reject a broken one.
    expect(() => new DaemonSet({ ...(multus as any), spec: { template: {} } }).validate()).toThrow();
  });

  it('the NAD is valid against its CRD and equals the reference network', () => {
    const nad = byName('nad/userspace-ovs-net.yaml').docs[0] as { spec: { config: string }; metadata: object };
    const crd = parse(readFileSync(join(MANIFESTS_DIR, 'crds', 'network-attachment-definition.yaml'), 'utf8'));
    const validate = ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema);
    expect(validate(nad), ajv.errorsText(validate.errors)).toBe(true);
    const reference = parse(readFileSync(join(REFERENCE, 'nad-userspace-ovs-net-1.yaml'), 'utf8'));
    expect(nad.metadata).toEqual(reference.metadata);
    expect(JSON.parse(nad.spec.config)).toEqual(JSON.parse(reference.spec.config));
  });

  it('the reference VMI asks for a vhostuser interface on exactly that network', () => {
    const vmi = parse(readFileSync(join(REFERENCE, 'vmi-vhostuser.yaml'), 'utf8'));
    const iface = vmi.spec.domain.devices.interfaces.find((i: { binding?: { name: string } }) => i.binding?.name === 'vhostuser');
    const network = vmi.spec.networks.find((n: { name: string }) => n.name === iface.name);
    expect(network.multus.networkName).toBe(input.nad.name);
    expect(vmi.metadata.namespace).toBe(input.nad.namespace);
    // vhost-user shares guest memory with OVS: the VM needs hugepages.
    expect(vmi.spec.domain.memory.hugepages.pageSize).toBe('2Mi');
  });

  it('a value the templates need and do not get is an error, not an empty field', () => {
    expect(() => renderManifests({ ...input, controlPlane: undefined } as unknown as ManifestInput)).toThrow(
      /kubeadm\/init.yaml: a value the template needs is missing \("name" not defined/,
    );
    const { socketDir: _dropped, ...withoutSocketDir } = input;
    expect(() => renderManifests(withoutSocketDir as unknown as ManifestInput)).toThrow(/multus\/overrides.yaml: a value the template needs is missing/);
  });
});
