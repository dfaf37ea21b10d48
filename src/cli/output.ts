import { UsageError } from '../core/errors.js';

/** Checks `-o/--output` before a command starts: json or table (the default). */
export function checkOutputFormat(output: string | undefined): void {
  if (output !== undefined && output !== 'json' && output !== 'table') {
    throw new UsageError(`-o/--output: "${output}" is not an output format; use json or table`);
  }
}
