import type { Progress } from '../core/progress.js';

/** What every command gets: the environment, where to print, and a signal that fires on Ctrl-C. */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  progress: Progress;
  signal: AbortSignal;
}
