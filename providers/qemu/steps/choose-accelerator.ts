import type { Step } from '../../../src/core/pipeline.js';
import { qemuAccel } from '../names.js';
import { cachedProbeKvm, chooseAccelerator, kvmProbeArgv } from '../kvm-probe.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import { need, type UpContext } from '../../../src/steps/context.js';
import { bootKernel } from '../../../src/image/provision.js';

/** KVM when it really runs a guest, TCG otherwise (auto), or what the user forced. */
export const chooseAcceleratorStep: Step<UpContext> = {
  name: 'choose accelerator',
  async isDone(ctx) {
    // A cluster that exists keeps the accelerator it was created with.
    if (ctx.record) {
      ctx.accel = { accel: qemuAccel(ctx.record) };
      return true;
    }
    return false;
  },
  async apply(ctx, progress) {
    if (ctx.options.accel === 'tcg') {
      ctx.accel = chooseAccelerator('tcg', undefined);
      return 'tcg (asked for)';
    }
    progress.update('probing KVM with a test guest');
    const probe = await cachedProbeKvm(bootKernel(need(ctx.image, 'image')), ctx.cacheRoot);
    ctx.accel = chooseAccelerator(ctx.options.accel, probe);
    if (ctx.accel.warning) ctx.progress.warn(ctx.accel.warning);
    return `${ctx.accel.accel}${probe.cached ? ', probe cached' : `, probe ${probe.seconds}s`}`;
  },
  plan(ctx) {
    if (ctx.options.accel === 'tcg') return [{ on: 'host', verb: 'use', what: 'TCG, as asked (--accel tcg)' }];
    return [
      { on: 'host', verb: 'run', what: `${remoteCommand(kvmProbeArgv(bootKernel(need(ctx.image, 'image'))))}   (the probe guest; its result is cached per kernel)` },
      {
        on: 'host',
        verb: 'use',
        what: ctx.options.accel === 'kvm' ? 'KVM if the probe guest booted within 8 s, else stop with an error (--accel kvm)' : 'KVM if the probe guest booted within 8 s, else TCG with one warning (--accel auto)',
      },
    ];
  },
};
