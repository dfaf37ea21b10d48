import type { NodeRecord } from '../core/cluster.js';

/** One way to run a command, wherever it runs: locally (execa), on a node (SSH), or recorded (tests). */
export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  stdin?: string | Buffer;
  /** Throw a CommandError on a non-zero exit (default true). */
  check?: boolean;
  timeoutMs?: number;
}

export interface Runner {
  /** Where commands run, for messages ("localhost", "node01"). */
  readonly host: string;
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  close(): Promise<void>;
}

/** A node as steps see it: identity plus a way to run commands on it. */
export interface Node {
  name: string;
  role: NodeRecord['role'];
  address: string;
  runner: Runner;
}
