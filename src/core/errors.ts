import { quote } from 'zx';

/** Exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  interrupted: 130,
} as const;

/** Bad input: names the option, the value and the fix. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = ExitCode.usage;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the user can act on (a step failed, a node did not come up). Exit code 1. */
export class DpdkciError extends Error {
  readonly exitCode = ExitCode.failure;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DpdkciError';
  }
}

/** The user interrupted (SIGINT/SIGTERM). Exit code 130. */
export class InterruptedError extends Error {
  readonly exitCode = ExitCode.interrupted;
  constructor(message = 'interrupted') {
    super(message);
    this.name = 'InterruptedError';
  }
}

/** A shell-pasteable rendering of an argv. */
export function prettyCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : quote(a))).join(' ');
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** A command that exited non-zero, with where it ran and what it said last. */
export class CommandError extends DpdkciError {
  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly code: number,
    readonly stderr: string,
    readonly stdout = '',
  ) {
    const said = tail(stderr || stdout, 12);
    super(
      `command failed on ${host} (exit ${code}): ${prettyCommand(argv)}` + (said ? `\n${said.replace(/^/gm, '  | ')}` : ''),
    );
    this.name = 'CommandError';
  }
}

export function exitCodeOf(error: unknown): number {
  if (error && typeof error === 'object' && 'exitCode' in error && typeof error.exitCode === 'number') {
    return error.exitCode;
  }
  return ExitCode.failure;
}
