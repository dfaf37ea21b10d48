import type { Progress } from '../core/progress.js';
import type { Places } from '../core/places.js';

/**
 * What every command gets: the environment (for options, resolved from the option table), where dpdkci keeps
 * things (resolved once from it), where to print, and a signal that fires on Ctrl-C.
 */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  places: Places;
  out: (text: string) => void;
  progress: Progress;
  signal: AbortSignal;
}
