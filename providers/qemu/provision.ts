import { join } from 'node:path';
import { PROJECT_ROOT, stateRoot } from '../../src/core/paths.js';
import type { Step } from '../../src/core/pipeline.js';
import { cachedImage, imageDir, imageInfo } from '../../src/image/provision.js';
import { recipeHash } from '../../src/image/recipe.js';
import { kubernetesImageDir, layerHash, layerInput } from '../../src/image/kubernetes-layer.js';
import type { UpContext } from '../../src/steps/context.js';
import type { Provisioner } from '../../src/steps/provisioner.js';
import { connectNodesStep } from '../../src/steps/connect-nodes/index.js';
import { pushNodeScripts } from '../../src/steps/push-node-scripts/index.js';
import { dataplaneSteps } from '../../src/steps/dataplane/index.js';
import { kubernetesSteps } from '../../src/steps/kubernetes/index.js';
import { provisionImage } from './steps/provision-image.js';
import { chooseAcceleratorStep } from './steps/choose-accelerator.js';
import { provisionKubernetesImage } from './steps/provision-kubernetes-image.js';
import { plannedRecord, prepareCluster } from './steps/prepare-cluster.js';
import { startSwitchStep } from './steps/start-switch.js';
import { startRegistryStep } from './steps/start-registry.js';
import { bootNodes } from './steps/boot-nodes.js';
import { waitForSshStep } from './steps/wait-for-ssh.js';
import { restoreSteps } from './steps/restore-snapshot.js';
import { qemuArgsRefusal } from './qemu-args-check.js';

function createSteps(): Step<UpContext>[] {
  return [
    provisionImage,
    chooseAcceleratorStep,
    provisionKubernetesImage,
    prepareCluster,
    startSwitchStep,
    startRegistryStep,
    bootNodes,
    waitForSshStep,
    connectNodesStep,
    pushNodeScripts,
    ...dataplaneSteps,
    ...kubernetesSteps,
  ];
}

/** `up` on QEMU nodes: the image, keys and ports, the switch and registry, boot; or a snapshot's restore. */
export const qemuProvisioner: Provisioner = {
  name: 'qemu',
  // A restore shares the host-side switch and registry steps with a full up.
  upSteps: (ctx) => (ctx.restore ? restoreSteps([startSwitchStep, startRegistryStep]) : createSteps()),
  describe: ({ options }) => `${options.nodes} node(s), ${options.cpus} vCPU, ${options.memoryMiB} MiB`,
  async inputRefusal(options) {
    const why = await qemuArgsRefusal(options);
    return why ? { option: 'qemuArgs', reason: `QEMU will not take ${JSON.stringify(options.qemuArgs.join(' '))} on a node's machine (${why})` } : undefined;
  },
  planContext(ctx, restoring) {
    const { options, recipe } = ctx;
    const root = ctx.cacheRoot;
    const hash = recipeHash(recipe);
    const dir = imageDir(root, recipe, hash);
    // An image still to be built is shown as the build makes it from Debian's kernel: unpacked for PVH boot.
    const image = (!ctx.rebuild && cachedImage(root, recipe)) || {
      ...imageInfo(recipe, hash, dir, { kernelRelease: '(from the build)', mirror: '', builtAt: '', buildSeconds: 0 }),
      pvhKernel: join(dir, 'vmlinux'),
    };
    ctx.image = image;
    const record = plannedRecord(ctx);
    ctx.record = record;
    if (restoring) {
      // A restore keeps the saved nodes' names, roles and MACs (the saved state has them); ports are new.
      const planned = record.nodes;
      record.nodes = restoring.record.nodes.map((n, i) => ({ ...n, sshPort: planned[i]?.sshPort ?? n.sshPort, hostKey: 'ssh-ed25519 (generated-by-up)' }));
      record.accel = options.accel === 'auto' ? restoring.record.accel : options.accel;
    }
    ctx.created = new Set(record.nodes.map((n) => n.name));
    if (ctx.kubernetes && !restoring) {
      // The nodes boot from the Kubernetes layer over the base image, when the lock pins all of it.
      try {
        const input = layerInput(ctx.kubernetes.lock, options.kubernetes);
        const layer = kubernetesImageDir(root, image, options.kubernetes, layerHash(image, input));
        record.image = { ...record.image, hash: layerHash(image, input), disk: join(layer, 'disk.qcow2') };
      } catch {
        // provisionKubernetesImage's plan says why there is no layer
      }
    }
    return {
      extra: `, accelerator ${options.accel} (shown as ${record.accel})`,
      notes: [],
      names: [
        [image.dir, '$IMAGE'],
        [ctx.paths.dir, '$CLUSTER'],
        [PROJECT_ROOT, '$DPDKCI'],
        [stateRoot(ctx.places), '$STATE'],
        [root, '$CACHE'],
      ],
      freshNodes: true,
    };
  },
};
