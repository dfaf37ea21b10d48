import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/core/paths.js';
import type { Node, RunResult } from '../../src/exec/runner.js';

/** The command line of a scripts/node script run from standard input. */
export function stdinScriptArgv(args: string[]): string[] {
  return ['bash', '-s', '--', ...args];
}

/**
 * A script of scripts/node run on a host from standard input (`bash -s`): before dpdkci has written anything
 * there (the facts, the record of what the host had), and in `down` once its own scripts are gone.
 */
export function runScript(node: Node, script: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  const content = readFileSync(join(PROJECT_ROOT, 'scripts', 'node', script));
  return node.runner.run(stdinScriptArgv(args), { stdin: content, check: false, timeoutMs });
}
