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
