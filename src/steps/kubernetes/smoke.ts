import { DpdkciError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import { BRIDGE } from '../../dataplane/plan.js';
import { remoteCommand } from '../../exec/ssh-runner.js';
import { renderSmokePod } from '../../kubernetes/manifests.js';
import { vhostUserRange } from '../../kubernetes/vhostuser-network.js';
import { need, type UpContext } from '../context.js';
import { controlPlane, enabled, manifestInput, NAD_NAME, plannedNames, SCRIPT } from './common.js';

const SMOKE_TIMEOUT_S = 300;

/** The smoke pod runs on the control plane, so its address must be in that node's block. */
function smokeArgv(ctx: UpContext): string[] {
  const block = vhostUserRange(need(need(ctx.record, 'cluster record').nodes[0], 'the control-plane node').index);
  return [SCRIPT, 'smoke', NAD_NAME, BRIDGE, ctx.options.vhostSocketDir, String(SMOKE_TIMEOUT_S), block.rangeStart, block.rangeEnd];
}

/**
 * up's last word on Kubernetes: nodes Ready, the CNI pods rolled out, and a pod on the NAD gets a vhost-user
 * port whose socket is bind-mounted from the pod into the socket directory, is served, and links up.
 */
export const kubernetesSmoke: Step<UpContext> = {
  name: 'Kubernetes smoke check',
  observes: true,
  enabled: (ctx) => enabled(ctx) && ctx.options.dpdk,
  async isDone() {
    return false;
  },
  async apply(ctx) {
    const node = controlPlane(ctx);
    const pod = renderSmokePod(manifestInput(ctx, { token: 'unused.0000000000000000', caCertHash: '' }), node.name);
    const r = await node.runner.run(smokeArgv(ctx), { stdin: pod.text, check: false, timeoutMs: (SMOKE_TIMEOUT_S * 6 + 60) * 1000 });
    if (r.exitCode !== 0) throw new DpdkciError(`${node.name}: the Kubernetes smoke check failed:\n${(r.stderr || r.stdout).trim()}`);
    const port = /^smoke port (\S+)/m.exec(r.stdout)?.[1];
    const address = /^address (\S+)/m.exec(r.stdout)?.[1];
    return `nodes Ready, CNI pods Running, ${NAD_NAME} gave the pod ${address ?? '?'} and port ${port ?? '?'} on ${BRIDGE}, served and linked up, then removed with the pod`;
  },
  plan(ctx) {
    const node = plannedNames(ctx)[0] as string;
    return [
      { on: node, verb: 'run', what: `${remoteCommand(smokeArgv(ctx))}   (stdin: manifests/smoke/vhostuser-pod.yaml.hbs)` },
      {
        on: node,
        verb: 'wait',
        what:
          `every node Ready; calico-node and kube-multus-ds rolled out; the pod Ready with the userspace/* annotations, its address in ${plannedNames(ctx)[0]}'s block; its one new dpdkvhostuserclient port on ${BRIDGE} ` +
          `with its socket under ${ctx.options.vhostSocketDir}/<pod uid>/, a bind mount there, served by testpmd until link_state is up; then the pod deleted and the port, socket and mount gone`,
      },
    ];
  },
};
