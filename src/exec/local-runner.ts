import { execa } from 'execa';
import { CommandError } from '../core/errors.js';
import type { RunOptions, RunResult, Runner } from './runner.js';

/**
 * The host's own commands (ssh-keygen, qemu-img, a daemonizing QEMU or vde_switch) behind the same Runner
 * seam as a node's, so that a step's host work can be recorded by a test as its node work is.
 */
export function createLocalRunner(host = 'host'): Runner {
  return {
    host,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
      const [file, ...args] = argv;
      if (!file) throw new CommandError(host, argv, 127, 'an empty command');
      const r = await execa(file, args, {
        reject: false,
        ...(options.stdin !== undefined ? { input: options.stdin } : {}),
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      });
      const result = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? r.message ?? ''), exitCode: r.exitCode ?? (r.timedOut ? 124 : 127) };
      if (options.check !== false && result.exitCode !== 0) throw new CommandError(host, argv, result.exitCode, result.stderr, result.stdout);
      return result;
    },
    close: async () => {},
  };
}
