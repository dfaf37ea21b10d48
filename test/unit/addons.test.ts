import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { addonFiles, imageName, manifestImages, type AddonFile } from '../../src/kubernetes/addons.js';
import { manifestInput, NAD_NAME } from '../../src/steps/kubernetes/index.js';
import { netConfPath, netConfText } from '../../src/kubernetes/vhostuser-network.js';
import { nodeLabels } from '../../src/steps/kubernetes/addons.js';
import { clusterArtefacts, kubernetesVersion } from '../../src/versions/lock.js';
import { kubernetesContext } from '../fixtures/kubernetes-context.js';
import { kubectlWithKustomize, kustomize } from '../fixtures/kustomize.js';
import { CALICO_MANIFEST, MULTUS_THIN_MANIFEST, upstreamFile } from '../fixtures/upstream.js';

/**
 * dpdkci's add-on kustomizations rendered by a real kustomize (kubectl's, v5) against the real upstream
 * manifests (../shared/upstream/, byte-exact), as `kubectl apply -k` renders them on node01. What a real
 * cluster would trip over is asserted on the result: an unpinned image, a patch that lands on no container,
 * a volume the userspace CNI needs that is missing.
 */
type Doc = Record<string, any>;
let kubectl: string;
const ctx = kubernetesContext({ nodes: '2' });
const lock = ctx.kubernetes!.lock;
const calico = upstreamFile(CALICO_MANIFEST);
const multus = upstreamFile(MULTUS_THIN_MANIFEST);

function files(): AddonFile[] {
  return addonFiles({
    manifests: manifestInput(ctx, { token: 'unused.0000000000000000', caCertHash: '' }),
    upstream: { calico: { name: lock.addons.calico!.files[0]!.name, text: calico.text }, multus: { name: lock.addons.multus!.files[0]!.name, text: multus.text } },
    images: { calico: lock.addons.calico!.images, multus: lock.addons.multus!.images },
    labels: nodeLabels(ctx),
    dpdk: true,
  });
}

async function render(dirName: string): Promise<Doc[]> {
  const root = mkdtempSync(join(tmpdir(), 'dpdkci-kustomize-'));
  for (const f of files()) {
    mkdirSync(dirname(join(root, f.name)), { recursive: true });
    writeFileSync(join(root, f.name), f.text);
  }
  return parseAllDocuments(await kustomize(kubectl, join(root, dirName))).map((d) => d.toJS() as Doc);
}

const podSpecs = (docs: Doc[]) => docs.filter((d) => ['DaemonSet', 'Deployment'].includes(d.kind)).map((d) => d.spec.template.spec);
const imagesOf = (docs: Doc[]) => podSpecs(docs).flatMap((s) => [...(s.initContainers ?? []), ...s.containers].map((c: Doc) => c.image as string));
const pinnedRefs = () => clusterArtefacts(lock, '1.36').images.map((m) => `${m.ref}@${m.digest}`);

beforeAll(async () => {
  kubectl = await kubectlWithKustomize();
});

describe('the add-ons as kustomize renders them from the upstream manifests', () => {
  it('the upstream copies are the ones the lock pins (sha256)', () => {
    expect(calico.sha256).toBe(lock.addons.calico!.files[0]!.sha256);
    expect(multus.sha256).toBe(lock.addons.multus!.files[0]!.sha256);
  });

  it('calico: every image is pinned by tag and digest, and the patch lands on calico-node', async () => {
    const docs = await render('10-calico');
    const images = imagesOf(docs);
    expect(images.length).toBeGreaterThanOrEqual(4);
    for (const image of images) expect(pinnedRefs(), image).toContain(image);
    const node = docs.find((d) => d.kind === 'DaemonSet' && d.metadata.name === 'calico-node') as Doc;
    const container = node.spec.template.spec.containers.find((c: Doc) => c.name === 'calico-node');
    const env = Object.fromEntries(container.env.filter((e: Doc) => 'value' in e).map((e: Doc) => [e.name, e.value]));
    expect(env).toMatchObject({ CALICO_IPV4POOL_CIDR: '10.244.0.0/16', IP_AUTODETECTION_METHOD: 'cidr=192.168.66.0/24', CALICO_IPV4POOL_IPIP: 'Never', CALICO_IPV4POOL_VXLAN: 'CrossSubnet' });
    // Merged by name: one entry each, upstream's value replaced, not appended to.
    expect(container.env.filter((e: Doc) => e.name === 'CALICO_IPV4POOL_IPIP')).toHaveLength(1);
    // The rest of the manifest is there: its CRDs, RBAC and the controllers.
    expect(docs.filter((d) => d.kind === 'CustomResourceDefinition').length).toBeGreaterThan(10);
    expect(docs.some((d) => d.kind === 'Deployment' && d.metadata.name === 'calico-kube-controllers')).toBe(true);
  });

  it('multus: the thin DaemonSet, with the pinned image instead of :snapshot in both its containers', async () => {
    expect(manifestImages(multus.text)).toEqual(['ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot']);
    const docs = await render('20-multus');
    const ds = docs.find((d) => d.kind === 'DaemonSet') as Doc;
    const spec = ds.spec.template.spec;
    const pinned = lock.addons.multus!.images[0]!;
    expect(imagesOf(docs)).toEqual([`${pinned.ref}@${pinned.digest}`, `${pinned.ref}@${pinned.digest}`]);
    // Thin: the entrypoint that writes the kubeconfig the NAD names on the host (through /host/etc/cni/net.d).
    const main = spec.containers.find((c: Doc) => c.name === 'kube-multus');
    expect(main.command).toEqual(['/thin_entrypoint']);
    expect(main.volumeMounts).toContainEqual({ name: 'cni', mountPath: '/host/etc/cni/net.d' });
    expect(spec.volumes).toContainEqual({ name: 'cni', hostPath: { path: '/etc/cni/net.d' } });
    expect(spec.volumes).toContainEqual({ name: 'cnibin', hostPath: { path: '/opt/cni/bin' } });
    // The NAD has no spec, so the binary reads the network from its confDir. The entrypoint generates the
    // binary's configuration (--multus-conf-file=auto) with no "confDir" (it writes "cniConf", a key the binary
    // does not read: multus-cni@00adf224:cmd/thin_entrypoint/main.go, pkg/types/types.go): the default holds,
    // the directory every node's file goes to. A DaemonSet given a configuration of its own could move it.
    expect(main.args.filter((a: string) => /^--multus-conf-file=/.test(a))).toEqual(['--multus-conf-file=auto']);
    const nad = parseAllDocuments(files().find((f) => f.name === '40-nad.yaml')!.text)[0]!.toJS() as Doc;
    expect(nad.spec).toBeUndefined();
    expect(nad.metadata.name).toBe(NAD_NAME);
    expect(netConfPath(NAD_NAME)).toBe(`/etc/cni/multus/net.d/${NAD_NAME}.conf`);
    // The kubeconfig the userspace CNI is given is the one the entrypoint writes on the host.
    expect(JSON.parse(netConfText(NAD_NAME, 'br-dpdk0', 1)).kubeconfig).toBe('/etc/cni/net.d/multus.d/multus.kubeconfig');
  });

  it('an image the lock does not pin stops the rendering, naming it', () => {
    const stray = `${calico.text}\n---\nkind: Pod\nspec:\n  containers:\n    - image: docker.io/library/busybox:1\n`;
    expect(() =>
      addonFiles({
        manifests: manifestInput(ctx, { token: 'unused.0000000000000000', caCertHash: '' }),
        upstream: { calico: { name: 'calico.yaml', text: stray }, multus: { name: 'm.yml', text: multus.text } },
        images: { calico: lock.addons.calico!.images, multus: lock.addons.multus!.images },
        labels: '',
        dpdk: true,
      }),
    ).toThrow(/runs docker.io\/library\/busybox:1, which the lock does not pin/);
    expect(imageName('quay.io/calico/node:v3.31.7@sha256:00')).toBe('quay.io/calico/node');
    expect(imageName('localhost:5000/x')).toBe('localhost:5000/x');
  });

  it("OVS's hugepage share and the smoke pod use only pinned images; the smoke pod has the shared-dir volume", () => {
    const pause = kubernetesVersion(lock, '1.36').images.find((m) => m.ref.includes('/pause:'))!;
    const share = parseAllDocuments(files().find((f) => f.name === '35-ovs-hugepages.yaml')!.text)[0]!.toJS() as Doc;
    const c = share.spec.template.spec.containers[0];
    expect(c.image).toBe(pause.ref);
    expect(c.resources.requests['hugepages-2Mi']).toBe(`${ctx.options.dpdk ? 768 : 0}Mi`);
    expect(share.spec.template.spec.nodeSelector).toEqual({ 'dpdkci.io/dpdk': 'true' });
  });
});
