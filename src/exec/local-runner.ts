import { execa } from 'execa';
import { CommandError } from '../core/errors.js';
import type { Runner, RunOptions, RunResult } from './runner.js';

export function createLocalRunner(): Runner {
  return {
    host: 'localhost',
    async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
      const [file, ...args] = argv;
      if (!file) throw new Error('run: empty command');
      const result = await execa(file, args, {
        reject: false,
        input: options.stdin,
        timeout: options.timeoutMs,
        stripFinalNewline: false,
      });
      const exitCode = result.exitCode ?? (result.timedOut ? 124 : 1);
      const stderr = result.timedOut ? `${result.stderr}\ntimed out after ${options.timeoutMs} ms` : String(result.stderr);
      const out = { stdout: String(result.stdout), stderr, exitCode };
      if (result.failed && result.exitCode === undefined && !result.timedOut) {
        // Could not start at all (ENOENT...): report it as a failed command.
        out.stderr = result.message ?? String(result.stderr);
      }
      if (exitCode !== 0 && options.check !== false) {
        throw new CommandError('localhost', argv, exitCode, out.stderr, out.stdout);
      }
      return out;
    },
    async close() {},
  };
}
