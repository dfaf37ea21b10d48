import { InterruptedError } from './errors.js';
import type { Progress, ProgressStep } from './progress.js';

/** What isDone returns when it found work to do and what that work is: "not done, and here it is". */
export interface Pending<W> {
  pending: W;
}

/**
 * A step of `up`: idempotent through isDone, so a second `up` on a healthy cluster applies nothing.
 * isDone may return `{ pending: work }` instead of false: runPipeline hands that work to apply as its third
 * argument. apply still works without it (called on its own, or after a plain false), by finding it itself.
 * apply may return a short detail for the progress line ("2 nodes", "cache hit").
 */
export interface Step<C, W = unknown> {
  name: string;
  /** Only looks or connects: applying it is not a change to the cluster ("nothing changed" still holds). */
  observes?: boolean;
  enabled?(ctx: C): boolean;
  isDone(ctx: C): Promise<boolean | Pending<W>>;
  apply(ctx: C, progress: ProgressStep, pending?: W): Promise<string | void>;
  /** For `up --dry-run`: what apply would run or write, where, without touching anything. */
  plan?(ctx: C): PlannedAction[];
}

/** One thing a step would do: on the host or a node, run a command, write a file, or wait for something. */
export interface PlannedAction {
  on: string;
  verb: 'run' | 'write' | 'wait' | 'use';
  what: string;
}

export interface PlannedStep {
  step: string;
  actions: PlannedAction[];
}

/** The plan of every enabled step, in order. */
export function planPipeline<C>(steps: readonly Step<C>[], ctx: C): PlannedStep[] {
  return steps.filter((s) => !s.enabled || s.enabled(ctx)).map((s) => ({ step: s.name, actions: s.plan ? s.plan(ctx) : [] }));
}

/**
 * The plan as text a reviewer reads top to bottom: a numbered section per step, one line per action.
 * `names` replaces long directory prefixes by short names ($STATE, ...), explained in the header.
 */
export function renderPlan(title: string, plan: readonly PlannedStep[], names: readonly (readonly [string, string])[]): string {
  const shorten = (text: string) => names.reduce((t, [long, short]) => t.split(long).join(short), text);
  const width = Math.max(4, ...plan.flatMap((p) => p.actions.map((a) => a.on.length)));
  const lines = [title, ...names.map(([long, short]) => `  ${short} = ${long}`), ''];
  plan.forEach((p, i) => {
    lines.push(`[${i + 1}] ${p.step}`);
    if (p.actions.length === 0) lines.push('  (nothing outside dpdkci itself)');
    for (const a of p.actions) lines.push(`  ${a.on.padEnd(width)}  ${a.verb.padEnd(5)}  ${shorten(a.what)}`);
    lines.push('');
  });
  return lines.join('\n').trimEnd() + '\n';
}

export interface PipelineResult {
  applied: string[];
  skipped: string[];
}

export async function runPipeline<C>(steps: readonly Step<C>[], ctx: C, progress: Progress, signal?: AbortSignal): Promise<PipelineResult> {
  const result: PipelineResult = { applied: [], skipped: [] };
  for (const step of steps) {
    if (signal?.aborted) throw new InterruptedError();
    if (step.enabled && !step.enabled(ctx)) continue;
    const line = progress.start(step.name);
    try {
      const done = await step.isDone(ctx);
      if (done === true) {
        line.end('skipped', 'already done');
        result.skipped.push(step.name);
        continue;
      }
      const detail = done === false ? await step.apply(ctx, line) : await step.apply(ctx, line, done.pending);
      line.end('done', detail || undefined);
      if (!step.observes) result.applied.push(step.name);
    } catch (error) {
      line.end('failed', signal?.aborted ? 'interrupted' : undefined, signal?.aborted ? 'interrupted' : (error as Error).message);
      if (signal?.aborted) throw new InterruptedError();
      throw error;
    }
  }
  return result;
}
