import { CommandError } from '../core/errors.js';
import type { Runner, RunOptions, RunResult } from './runner.js';

/**
 * A recording runner for unit tests of command sequencing. It proves only which commands a step
 * would run and in which order, never that anything works.
 */
export interface FakeRule {
  match: RegExp;
  result: Partial<RunResult>;
}

export interface FakeRunner extends Runner {
  readonly calls: string[][];
  /** What each call got on standard input, by call index. */
  readonly inputs: (string | undefined)[];
  on(match: RegExp, result: Partial<RunResult>): FakeRunner;
}

export function createFakeRunner(host = 'fake'): FakeRunner {
  const rules: FakeRule[] = [];
  const calls: string[][] = [];
  const inputs: (string | undefined)[] = [];
  const runner: FakeRunner = {
    host,
    calls,
    inputs,
    on(match, result) {
      rules.unshift({ match, result });
      return runner;
    },
    async run(argv: readonly string[], options: RunOptions = {}) {
      calls.push([...argv]);
      inputs.push(options.stdin === undefined ? undefined : options.stdin.toString());
      const line = argv.join(' ');
      const rule = rules.find((r) => r.match.test(line));
      const result: RunResult = { stdout: '', stderr: '', exitCode: 0, ...rule?.result };
      if (result.exitCode !== 0 && options.check !== false) {
        throw new CommandError(host, argv, result.exitCode, result.stderr, result.stdout);
      }
      return result;
    },
    async close() {},
  };
  return runner;
}
