import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DpdkciError } from '../../core/errors.js';
import { artefactCache } from '../../core/paths.js';
import type { PlannedAction, Step } from '../../core/pipeline.js';
import { BRIDGE } from '../../dataplane/plan.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { fetchArtifact } from '../../fetch/fetcher.js';
import { addonFiles, type AddonFile, type UpstreamManifests } from '../../kubernetes/addons.js';
import { artefactSources } from '../../kubernetes/artefacts.js';
import { clusterArtefacts } from '../../versions/lock.js';
import { need, type UpContext } from '../context.js';
import { apply, controlPlane, enabled, lockOf, manifestInput, NAD_NAME, pending, plannedNames, SCRIPT } from './common.js';

const ADDONS_DIR = '/etc/dpdkci/addons';

function pinnedManifest(ctx: UpContext, addon: 'calico' | 'multus') {
  const f = lockOf(ctx).addons[addon]?.files[0];
  if (!f?.sha256) throw new DpdkciError(`the lock file pins no ${addon} manifest with a sha256`);
  return f as typeof f & { sha256: string };
}

/** A plan's stand-in for the add-on's pinned manifest: its name, and its sha256 instead of its text. */
function standIn(ctx: UpContext, addon: 'calico' | 'multus'): { name: string; text: string } {
  const f = pinnedManifest(ctx, addon);
  return { name: f.name, text: `# ${f.name}, sha256 ${f.sha256}\n` };
}

/** The add-on's pinned manifest: its text, fetched or from the bundle, sha256 checked. */
async function upstream(ctx: UpContext, addon: 'calico' | 'multus'): Promise<{ name: string; text: string }> {
  const f = pinnedManifest(ctx, addon);
  const path = await fetchArtifact({ name: f.name, url: f.url, sha256: f.sha256 }, artefactSources(artefactCache(ctx.places), need(ctx.kubernetes, 'Kubernetes sources')));
  return { name: f.name, text: readFileSync(path, 'utf8') };
}

/** Every node's labels: the DPDK nodes are the ones OVS's hugepage share is claimed on. */
export function nodeLabels(ctx: UpContext): string {
  const hugepages = `dpdkci.io/hugepages-2Mi=${ctx.options.hugepages2m}`;
  return need(ctx.record, 'cluster record')
    .nodes.map((n) => `${n.name} ${ctx.options.dpdk ? 'dpdkci.io/dpdk=true ' : ''}${hugepages}\n`)
    .join('');
}

/** The files of /etc/dpdkci/addons on node01, rendered from the pinned manifests and the lock's images. */
export async function clusterAddonFiles(ctx: UpContext): Promise<AddonFile[]> {
  return addonFilesOf(ctx, { calico: await upstream(ctx, 'calico'), multus: await upstream(ctx, 'multus') });
}

/** The files from these upstream manifests: the real ones for `up`, stand-ins for its plan. */
function addonFilesOf(ctx: UpContext, manifests: UpstreamManifests): AddonFile[] {
  const lock = lockOf(ctx);
  return addonFiles({
    manifests: manifestInput(ctx, { token: 'unused.0000000000000000', caCertHash: '' }),
    upstream: manifests,
    images: { calico: lock.addons.calico?.images ?? [], multus: lock.addons.multus?.images ?? [] },
    labels: nodeLabels(ctx),
    dpdk: ctx.options.dpdk,
  });
}

export function addonsSum(files: readonly AddonFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.name}\0${f.text}\0`);
  return h.digest('hex').slice(0, 16);
}

/** calico, multus, OVS's hugepage share, the NAD and the node labels, applied from node01. */
export const kubernetesAddons: Step<UpContext, AddonFile[]> = {
  // isDone returns the files it rendered (and hashed), for apply; apply renders them itself without.
  name: 'Kubernetes add-ons',
  enabled,
  async isDone(ctx) {
    const f = await clusterAddonFiles(ctx);
    return !(await pending(controlPlane(ctx), 'Kubernetes add-ons', ['addons', addonsSum(f)])) || { pending: f };
  },
  async apply(ctx, _progress, files) {
    const node = controlPlane(ctx);
    const f = files ?? (await clusterAddonFiles(ctx));
    await node.runner.run(['rm', '-rf', ADDONS_DIR]);
    for (const file of f) await node.runner.run(['install', '-D', '-m', '0600', '/dev/stdin', `${ADDONS_DIR}/${file.name}`], { stdin: file.text });
    await apply(node, 'Kubernetes add-ons', ['addons', addonsSum(f)]);
    return `${f.length} file(s) applied`;
  },
  plan(ctx): PlannedAction[] {
    const node = plannedNames(ctx)[0] as string;
    const why: Record<string, string> = {
      '05-labels.txt': `every node ${ctx.options.dpdk ? 'dpdkci.io/dpdk=true ' : ''}dpdkci.io/hugepages-2Mi=${ctx.options.hugepages2m}`,
      '10-calico/kustomization.yaml': "calico's manifest as the resource, the calico-node patch, every image to its pinned tag and digest",
      '10-calico/calico-node.yaml': 'from manifests/calico/overrides.yaml.hbs',
      '20-multus/kustomization.yaml': "thin multus' manifest as the resource, its image to the pinned tag and digest",
      '30-established.txt': 'the CRD the NAD needs, waited for until the API serves it',
      '35-ovs-hugepages.yaml': "from manifests/dpdk/ovs-hugepages.yaml.hbs: OVS's hugepages claimed on every DPDK node",
      '40-nad.yaml': `from manifests/nad/userspace-ovs-net.yaml.hbs (${NAD_NAME} on ${BRIDGE})`,
    };
    // The file list is the one apply writes, rendered over stand-ins of the upstream manifests.
    // A lock with values not recorded yet cannot render them; the preflight stops up before this step then.
    const unpinned = clusterArtefacts(lockOf(ctx), ctx.options.kubernetes).unpinned;
    if (unpinned.length) return [{ on: node, verb: 'use', what: `nothing: the preflight stops up before this (${unpinned.length} value(s) of the lock not recorded yet)` }];
    const names = addonFilesOf(ctx, { calico: standIn(ctx, 'calico'), multus: standIn(ctx, 'multus') }).map((f) => f.name);
    return [
      { on: node, verb: 'run', what: remoteCommand([SCRIPT, 'check', 'addons', 'SUM']) + '   (SUM: a hash of the files below)' },
      ...names.map((n): PlannedAction => ({ on: node, verb: 'write', what: `${ADDONS_DIR}/${n}: ${why[n] ?? 'the pinned upstream manifest, from the bundle, cache or network (sha256 checked)'}` })),
      { on: node, verb: 'run', what: `${remoteCommand([SCRIPT, 'apply', 'addons', 'SUM'])}   (labels, kubectl apply -k per directory, CRD waits, kubectl apply per file, in name order; only when check exits 3)` },
    ];
  },
};
