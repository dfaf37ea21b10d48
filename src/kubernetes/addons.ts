import { stringify } from 'yaml';
import { DpdkciError } from '../core/errors.js';
import type { LockedImage } from '../versions/lock.js';
import { renderAddons, type ManifestInput } from './manifests.js';

/**
 * The files of /etc/dpdkci/addons on node01, which kubernetes.sh applies in name order. calico and multus are
 * kustomizations: the upstream manifest, pinned by sha256, as their only resource, dpdkci's changes as
 * patches, and `images:` rewriting every image to its pinned reference, so that what reaches the API server
 * was rendered before it was applied and names no image the lock does not pin. kubectl (kustomize built
 * in) renders them on the node, the same kustomize that test/unit/addons.test.ts runs on the real manifests.
 */
export interface AddonFile {
  /** Relative to the add-ons directory: "10-calico/kustomization.yaml", "40-nad.yaml". */
  name: string;
  text: string;
}

/** The upstream manifests of the add-ons, as fetched (verified against the lock). */
export interface UpstreamManifests {
  calico: { name: string; text: string };
  multus: { name: string; text: string };
}

/** REGISTRY/NAME of a REGISTRY/NAME[:TAG][@DIGEST] reference. */
export function imageName(ref: string): string {
  const bare = ref.replace(/@.*$/, '');
  const colon = bare.lastIndexOf(':');
  return colon > bare.lastIndexOf('/') ? bare.slice(0, colon) : bare;
}

/** Every image a manifest runs (its `image:` fields). */
export function manifestImages(text: string): string[] {
  return [...new Set([...text.matchAll(/^\s*(?:- )?image:\s*["']?([^\s"'#]+)/gm)].map((m) => m[1] as string))];
}

/**
 * kustomize's `images:` for these pinned images: each name to its tag and digest. Every image of the upstream
 * manifest must be among them: an image the lock does not pin is an error here, before anything is applied.
 */
export function imageOverrides(upstream: string, pinned: readonly LockedImage[], what: string): { name: string; newTag: string; digest: string }[] {
  const names = new Map(pinned.map((m) => [imageName(m.ref), m]));
  for (const ref of manifestImages(upstream)) {
    if (!names.has(imageName(ref))) throw new DpdkciError(`${what}: the manifest runs ${ref}, which the lock does not pin; add it to versions.lock.yaml`);
  }
  return [...names.entries()].map(([name, m]) => {
    if (!m.digest) throw new DpdkciError(`${what}: ${m.ref} has no digest recorded in the lock (dpdkci versions --resolve --write)`);
    return { name, newTag: m.ref.slice(m.ref.lastIndexOf(':') + 1), digest: m.digest };
  });
}

function kustomization(resource: string, patches: { path: string; kind: string; name: string }[], images: ReturnType<typeof imageOverrides>): string {
  return stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [resource],
    ...(patches.length ? { patches: patches.map((p) => ({ path: p.path, target: { kind: p.kind, name: p.name, namespace: 'kube-system' } })) } : {}),
    images,
  });
}

export interface AddonInput {
  manifests: ManifestInput;
  upstream: UpstreamManifests;
  images: { calico: readonly LockedImage[]; multus: readonly LockedImage[] };
  /** "NODE KEY=VALUE ..." per node. */
  labels: string;
  dpdk: boolean;
}

/** Every add-on file, in the order kubernetes.sh applies them. */
export function addonFiles(input: AddonInput): AddonFile[] {
  const rendered = renderAddons(input.manifests);
  const calicoImages = imageOverrides(input.upstream.calico.text, input.images.calico, input.upstream.calico.name);
  const multusImages = imageOverrides(input.upstream.multus.text, input.images.multus, input.upstream.multus.name);
  return [
    // Labels first: the DaemonSet that holds OVS's hugepages selects the DPDK nodes by label.
    { name: '05-labels.txt', text: input.labels },
    { name: '10-calico/kustomization.yaml', text: kustomization(input.upstream.calico.name, [{ path: 'calico-node.yaml', kind: 'DaemonSet', name: 'calico-node' }], calicoImages) },
    { name: `10-calico/${input.upstream.calico.name}`, text: input.upstream.calico.text },
    { name: '10-calico/calico-node.yaml', text: rendered.calicoPatch.text },
    { name: '20-multus/kustomization.yaml', text: kustomization(input.upstream.multus.name, [], multusImages) },
    { name: `20-multus/${input.upstream.multus.name}`, text: input.upstream.multus.text },
    // multus creates the NetworkAttachmentDefinition CRD; the NAD waits until the API serves it.
    { name: '30-established.txt', text: 'network-attachment-definitions.k8s.cni.cncf.io\n' },
    ...(input.dpdk ? [{ name: '35-ovs-hugepages.yaml', text: rendered.ovsHugepages.text }] : []),
    { name: '40-nad.yaml', text: rendered.nad.text },
  ];
}
