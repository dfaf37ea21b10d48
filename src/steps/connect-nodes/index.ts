import type { Step } from '../../core/pipeline.js';
import { connectNodes } from '../../provider/connect.js';
import { providerOf } from '../../provider/registry.js';
import { need, type UpContext } from '../context.js';

export const connectNodesStep: Step<UpContext> = {
  name: 'connect to nodes',
  observes: true,
  enabled: (ctx) => ctx.options.dpdk || ctx.options.kubernetes !== 'none',
  async isDone(ctx) {
    return ctx.nodes !== undefined;
  },
  async apply(ctx) {
    const nodes = await connectNodes({ record: need(ctx.record, 'cluster record'), places: ctx.places });
    ctx.nodes = nodes;
    // On Ctrl-C, drop the connections: commands in flight end (as failures) instead of holding `up`.
    ctx.signal.addEventListener('abort', () => void Promise.all(nodes.map((n) => n.runner.close())), { once: true });
  },
  plan(ctx) {
    const record = need(ctx.record, 'cluster record');
    return record.nodes.map((n) => {
      const t = providerOf(record).endpoint(record, n);
      return { on: n.name, verb: 'use' as const, what: `one SSH connection (${t.user}@${t.host}:${t.port}) for the steps below` };
    });
  },
};
