import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/core/errors.js';
import { runPipeline, type Step } from '../../src/core/pipeline.js';
import { createProgress, timingTable } from '../../src/core/progress.js';
import { createFakeRunner } from '../../src/exec/fake-runner.js';
import type { Runner } from '../../src/exec/runner.js';

interface Ctx {
  runner: Runner;
  state: Set<string>;
}

/** A step that runs one command unless its marker is in the state: the shape every real step has. */
function step(name: string, argv: string[]): Step<Ctx> {
  return {
    name,
    async isDone(ctx) {
      return ctx.state.has(name);
    },
    async apply(ctx) {
      await ctx.runner.run(argv);
      ctx.state.add(name);
    },
  };
}

function quietProgress() {
  const lines: string[] = [];
  return { progress: createProgress({ stream: { write: (s: string) => (lines.push(s), true) }, live: false }), lines };
}

describe('runPipeline', () => {
  const steps = [step('one', ['echo', '1']), step('two', ['echo', '2']), { ...step('off', ['never']), enabled: () => false }];

  it('runs enabled steps in order, then applies nothing the second time', async () => {
    const runner = createFakeRunner();
    const ctx = { runner, state: new Set<string>() };
    const { progress } = quietProgress();
    const first = await runPipeline(steps, ctx, progress);
    expect(first).toEqual({ applied: ['one', 'two'], skipped: [] });
    expect(runner.calls).toEqual([['echo', '1'], ['echo', '2']]);
    const second = await runPipeline(steps, ctx, progress);
    expect(second).toEqual({ applied: [], skipped: ['one', 'two'] });
    expect(runner.calls).toHaveLength(2);
  });

  it('stops at the first failing step and records it as failed', async () => {
    const runner = createFakeRunner().on(/echo 1/, { exitCode: 3, stderr: 'boom' });
    const { progress, lines } = quietProgress();
    await expect(runPipeline(steps, { runner, state: new Set<string>() }, progress)).rejects.toThrow(/command failed on fake \(exit 3\): echo 1\n {2}\| boom/);
    expect(runner.calls).toEqual([['echo', '1']]);
    expect(progress.timings.map((t) => [t.name, t.outcome])).toEqual([['one', 'failed']]);
    expect(lines.join('')).toMatch(/failed one/);
  });

  it('does not start a step once interrupted', async () => {
    const controller = new AbortController();
    controller.abort();
    const runner = createFakeRunner();
    await expect(runPipeline(steps, { runner, state: new Set<string>() }, quietProgress().progress, controller.signal)).rejects.toBeInstanceOf(InterruptedError);
    expect(runner.calls).toEqual([]);
  });

  it('hands the work isDone found to apply, and applies nothing that isDone calls done', async () => {
    const seen: (string[] | undefined)[] = [];
    const withWork = (name: string, found: boolean | { pending: string[] }): Step<Ctx, string[]> => ({
      name,
      async isDone() {
        return found;
      },
      async apply(_ctx, _progress, pending) {
        seen.push(pending);
        return pending?.join(', ');
      },
    });
    const steps = [withWork('pending', { pending: ['node02', 'node03'] }), withWork('done', true), withWork('plain', false)];
    const { progress, lines } = quietProgress();
    const result = await runPipeline(steps, { runner: createFakeRunner(), state: new Set<string>() }, progress);
    expect(result).toEqual({ applied: ['pending', 'plain'], skipped: ['done'] });
    expect(seen).toEqual([['node02', 'node03'], undefined]);
    expect(lines.join('')).toMatch(/done {3}pending \(node02, node03\)/);
  });
});

describe('progress', () => {
  it('prints plain timestamped lines without control codes when not live', () => {
    const { progress, lines } = quietProgress();
    const s = progress.start('boot nodes');
    s.update('node01');
    s.end('done', '2 nodes');
    const text = lines.join('');
    expect(text).not.toMatch(/\x1b/);
    expect(text).toMatch(/^\d\d:\d\d:\d\d start {2}boot nodes\n/);
    expect(text).toMatch(/\d\d:\d\d:\d\d done {3}boot nodes \(2 nodes\) \d+\.\ds\n$/);
  });
  it('in a terminal, a warning during a step clears the live line instead of running into it', () => {
    const out: string[] = [];
    const progress = createProgress({ stream: { write: (s: string) => (out.push(s), true), isTTY: true }, live: true });
    const s = progress.start('choose accelerator');
    progress.warn('KVM is not usable here');
    s.end('done', 'tcg');
    const text = out.join('');
    expect(text).toMatch(/… choose accelerator [\d.]+s\r\x1b\[2K\x1b\[33mwarning:\x1b\[0m KVM is not usable here\n/);
    expect(text).toMatch(/\r\x1b\[2K {2}✔ choose accelerator \(tcg\) [\d.]+s\n$/);
  });
  it('renders a timing table with a total', () => {
    const table = timingTable([
      { name: 'a', seconds: 1.5, outcome: 'done' },
      { name: 'bb', seconds: 61, outcome: 'skipped' },
    ]);
    expect(table).toMatch(/a +done +1\.5s/);
    expect(table).toMatch(/bb +skipped +1m1s/);
    expect(table).toMatch(/total +1m3s/);
  });
});
