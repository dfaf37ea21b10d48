import type { Step } from '../../../src/core/pipeline.js';
import { sshAnswers, sshTarget, waitForSsh } from '../provider.js';
import { need, type UpContext } from '../../../src/steps/context.js';

/** Every node answers over SSH with its pinned host key. */
export const waitForSshStep: Step<UpContext> = {
  name: 'wait for SSH',
  async isDone(ctx) {
    const record = need(ctx.record, 'cluster record');
    // Nodes this run just started cannot answer yet: no point probing.
    if (ctx.booted.size > 0) return false;
    const answers = await Promise.all(record.nodes.map((node) => sshAnswers(sshTarget(record, node, ctx.places), 5_000)));
    return answers.every((a) => a.ok);
  },
  async apply(ctx, progress) {
    const record = need(ctx.record, 'cluster record');
    const pending = new Set(record.nodes.map((n) => n.name));
    // Nodes that were already up answer at once; the timing is for the ones booted now.
    progress.update(`waiting for ${[...pending].join(', ')}`);
    await Promise.all(
      record.nodes.map(async (node) => {
        const seconds = await waitForSsh(record, node, { timeoutMs: ctx.bootTimeoutMs, signal: ctx.signal, places: ctx.places, beforeKernelResetMs: ctx.beforeKernelResetMs, onReset: (m) => ctx.progress.warn(m) });
        if (ctx.booted.has(node.name)) ctx.bootSeconds[node.name] = Math.round(seconds * 10) / 10;
        pending.delete(node.name);
        progress.update(pending.size ? `${node.name} up; waiting for ${[...pending].join(', ')}` : 'all nodes answer');
      }),
    );
    return Object.entries(ctx.bootSeconds).map(([n, s]) => `${n} ${s}s`).join(', ');
  },
  plan(ctx) {
    return need(ctx.record, 'cluster record').nodes.map((n) => ({
      on: n.name,
      verb: 'wait' as const,
      what: `SSH on 127.0.0.1:${n.sshPort} answers as root with the pinned host key (up to ${ctx.bootTimeoutMs / 1000} s, --boot-timeout${ctx.beforeKernelResetMs ? `; reset once if it is not in its kernel after ${ctx.beforeKernelResetMs / 1000} s, --boot-reset-after` : ''})`,
    }));
  },
};
