import type { Step } from '../../core/pipeline.js';
import type { UpContext } from '../context.js';
import { kubernetesAddons } from './addons.js';
import { kubeadmInit, kubeadmJoin, kubernetesNodeNetwork, writeKubeconfig } from './kubeadm.js';
import { kubernetesSmoke } from './smoke.js';
import { containerdRegistryMirrors } from './registry-mirrors.js';
import { vhostUserNetwork } from './vhostuser-network.js';

export { kubeadmInit, kubeadmJoin, kubernetesNodeNetwork, writeKubeconfig, hostKubeconfig } from './kubeadm.js';
export { kubernetesAddons, clusterAddonFiles, addonsSum, nodeLabels } from './addons.js';
export { kubernetesSmoke } from './smoke.js';
export { containerdRegistryMirrors, mirrorFiles } from './registry-mirrors.js';
export { vhostUserNetwork } from './vhostuser-network.js';
export { bootstrapToken, KUBELET_PATCHES_DIR, kubernetesNetwork, kubernetesNicPci, manifestInput, NAD_NAME, nodeIpOf, TCG_TIMEOUTS } from './common.js';

// The mirrors come before kubeadm, whose preflight pulls the control plane's images.
export const kubernetesSteps: Step<UpContext>[] = [kubernetesNodeNetwork, containerdRegistryMirrors, kubeadmInit, kubeadmJoin, writeKubeconfig, vhostUserNetwork, kubernetesAddons, kubernetesSmoke];
