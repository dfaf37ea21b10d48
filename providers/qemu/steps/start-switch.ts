import type { Step } from '../../../src/core/pipeline.js';
import { startClusterSwitch, switchRunning } from '../provider.js';
import { switchArgv } from '../switch.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import { need, type UpContext } from '../../../src/steps/context.js';

/** The cluster's shared L2 switch for the secondary NICs. */
export const startSwitchStep: Step<UpContext> = {
  name: 'start secondary network switch',
  async isDone(ctx) {
    return switchRunning(need(ctx.record, 'cluster record'), ctx.places);
  },
  async apply(ctx) {
    const pid = await startClusterSwitch(ctx.host, need(ctx.record, 'cluster record'), ctx.places);
    return `vde_switch pid ${pid}`;
  },
  plan(ctx) {
    return [{ on: 'host', verb: 'run', what: remoteCommand(switchArgv({ dir: ctx.paths.switchDir, pidFile: ctx.paths.switchPid })) }];
  },
};
