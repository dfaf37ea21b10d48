/**
 * Progress for people and for CI. In a terminal: one live line per step with elapsed time, ended with
 * a tick and the duration. Without a TTY or with CI=true: plain timestamped lines, no control codes.
 */
export interface StepTiming {
  name: string;
  seconds: number;
  outcome: 'done' | 'skipped' | 'failed';
  /** Why a failed step failed (for JUnit and -o json). */
  message?: string;
}

export interface Progress {
  /** Starts a long step; returns a handle to update and end it. */
  start(name: string): ProgressStep;
  info(message: string): void;
  warn(message: string): void;
  readonly timings: StepTiming[];
}

export interface ProgressStep {
  update(detail: string): void;
  /** message: why it failed, kept with the timing (the detail is only shown). */
  end(outcome: StepTiming['outcome'], detail?: string, message?: string): void;
}

export interface ProgressOptions {
  /** Under CI (CI set to anything but false, 0 or empty): plain lines even on a terminal. */
  ci?: boolean;
  stream?: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean };
  live?: boolean;
  now?: () => number;
}

function fmt(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(1)}s` : `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
}

export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  // CI=true (any value but false/0/empty) means plain lines even on a terminal.
  const live = options.live ?? (Boolean(stream.isTTY) && !options.ci);
  const now = options.now ?? (() => performance.now());
  const timings: StepTiming[] = [];
  const stamp = () => new Date().toISOString().slice(11, 19);
  const plain = (line: string) => stream.write(`${stamp()} ${line}\n`);
  // A message printed while a step's live line is on screen clears that line first; the line is drawn
  // again on its next tick, below the message.
  let lineShown = false;
  const above = (text: string) => {
    stream.write(`${lineShown ? '\r\x1b[2K' : ''}${text}\n`);
    lineShown = false;
  };

  return {
    timings,
    info(message) {
      live ? above(message) : plain(message);
    },
    warn(message) {
      live ? above(`\x1b[33mwarning:\x1b[0m ${message}`) : plain(`warning: ${message}`);
    },
    start(name) {
      const began = now();
      let detail = '';
      let timer: NodeJS.Timeout | undefined;
      const draw = () => {
        const elapsed = fmt((now() - began) / 1000);
        stream.write(`\r\x1b[2K  … ${name}${detail ? ` (${detail})` : ''} ${elapsed}`);
        lineShown = true;
      };
      if (live) {
        draw();
        timer = setInterval(draw, 500);
        timer.unref();
      } else {
        plain(`start  ${name}`);
      }
      return {
        update(d) {
          detail = d;
          if (!live) plain(`       ${name}: ${d}`);
        },
        end(outcome, d, message) {
          if (timer) clearInterval(timer);
          const seconds = (now() - began) / 1000;
          timings.push({ name, seconds, outcome, ...(message ? { message } : {}) });
          const mark = outcome === 'done' ? '✔' : outcome === 'skipped' ? '·' : '✘';
          const tail = d ? ` (${d})` : '';
          if (live) {
            stream.write(`\r\x1b[2K  ${mark} ${name}${tail} ${fmt(seconds)}\n`);
            lineShown = false;
          }
          else plain(`${outcome.padEnd(6)} ${name}${tail} ${fmt(seconds)}`);
        },
      };
    },
  };
}

/** The timing table printed at the end of `up`. */
export function timingTable(timings: readonly StepTiming[]): string {
  const width = Math.max(4, ...timings.map((t) => t.name.length));
  const total = timings.reduce((s, t) => s + t.seconds, 0);
  const rows = timings.map((t) => `  ${t.name.padEnd(width)}  ${t.outcome.padEnd(7)} ${fmt(t.seconds).padStart(7)}`);
  return [`  ${'step'.padEnd(width)}  ${'result'.padEnd(7)} ${'time'.padStart(7)}`, ...rows, `  ${'total'.padEnd(width)}  ${''.padEnd(7)} ${fmt(total).padStart(7)}`].join('\n');
}
