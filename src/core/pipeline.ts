import { InterruptedError } from './errors.js';
import type { Progress, ProgressStep } from './progress.js';

/**
 * A step of `up`: idempotent through isDone, so a second `up` on a healthy cluster applies nothing.
 * apply may return a short detail for the progress line ("2 nodes", "cache hit").
 */
export interface Step<C> {
  name: string;
  /** Only looks or connects: applying it is not a change to the cluster ("nothing changed" still holds). */
  observes?: boolean;
  enabled?(ctx: C): boolean;
  isDone(ctx: C): Promise<boolean>;
  apply(ctx: C, progress: ProgressStep): Promise<string | void>;
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
      if (await step.isDone(ctx)) {
        line.end('skipped', 'already done');
        result.skipped.push(step.name);
        continue;
      }
      const detail = await step.apply(ctx, line);
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
