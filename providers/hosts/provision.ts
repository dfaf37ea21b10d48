import { PROJECT_ROOT, stateRoot } from '../../src/core/paths.js';
import { need } from '../../src/steps/context.js';
import type { Provisioner } from '../../src/steps/provisioner.js';
import { connectNodesStep } from '../../src/steps/connect-nodes/index.js';
import { pushNodeScripts } from '../../src/steps/push-node-scripts/index.js';
import { dataplaneSteps } from '../../src/steps/dataplane/index.js';
import { kubernetesSteps } from '../../src/steps/kubernetes/index.js';
import { installHostKubernetes } from './steps/install-kubernetes.js';
import { checkHosts, hostsRecord, installHostPackages, recordHostState, recordHostsCluster, reserveHugepages } from './steps/hosts.js';

/**
 * `up --provider hosts`: the machines of the inventory, checked before any is changed, then the same node
 * steps as QEMU nodes get (scripts, the dataplane's parts), and with --kubernetes what the QEMU image's
 * layer holds, installed on each host, then the same Kubernetes steps.
 */
export const hostsProvisioner: Provisioner = {
  name: 'hosts',
  upSteps: () => [
    recordHostsCluster,
    connectNodesStep,
    checkHosts,
    recordHostState,
    pushNodeScripts,
    installHostPackages,
    reserveHugepages,
    ...dataplaneSteps,
    installHostKubernetes,
    ...kubernetesSteps,
  ],
  describe: (ctx) => {
    const inventory = need(ctx.inventory, 'inventory');
    return `${inventory.hosts.length} host(s) of ${inventory.file}`;
  },
  planContext(ctx) {
    const inventory = need(ctx.inventory, 'inventory');
    ctx.record = hostsRecord(ctx, inventory, '(at up)');
    return {
      extra: ', provider hosts',
      notes: [`PCI_OF_<interface> and LAST_CPU_MASK stand for what check hosts finds on each host: the NIC's PCI address, the mask of its last CPU (the PMD's).`],
      names: [
        [ctx.paths.dir, '$CLUSTER'],
        [PROJECT_ROOT, '$DPDKCI'],
        [stateRoot(ctx.places), '$STATE'],
      ],
      freshNodes: false,
    };
  },
};
