/**
 * A short account of the failed tests in vitest JSON reports, for the end of a CI log: a CI system that
 * keeps only the log's tail still shows every failure, not only the last one vitest printed.
 *
 *   node dist/scripts/test-digest.js _artifacts/unit.json _artifacts/e2e.json
 *
 * Each failure gets its file, its name, how long it ran and its message: the first lines (the assertion) and
 * the last ones (the end of a failing command's output, where dpdkci says what went wrong). Exits 0.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface Assertion {
  fullName: string;
  status: string;
  duration?: number;
  failureMessages?: string[];
}
interface FileResult {
  name: string;
  status: string;
  message?: string;
  assertionResults?: Assertion[];
}
interface Report {
  numTotalTests?: number;
  numFailedTests?: number;
  testResults?: FileResult[];
}

const HEAD = 6;
const TAIL = 12;
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

export function excerpt(message: string, head = HEAD, tail = TAIL): string[] {
  const lines = message.replace(ANSI, '').split('\n').map((l) => l.trimEnd()).filter((l) => l !== '' && !/^\s+at /.test(l));
  if (lines.length <= head + tail) return lines;
  return [...lines.slice(0, head), `[${lines.length - head - tail} lines left out]`, ...lines.slice(-tail)];
}

export function digest(report: Report, root = process.cwd()): string[] {
  const out: string[] = [];
  for (const file of report.testResults ?? []) {
    const name = relative(root, file.name);
    const failed = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    if (failed.length === 0 && file.status === 'failed') {
      out.push(`FAIL ${name}`, ...excerpt(file.message ?? '(no message)').map((l) => `    ${l}`));
    }
    for (const a of failed) {
      const seconds = a.duration === undefined ? '' : ` (${(a.duration / 1000).toFixed(1)} s)`;
      out.push(`FAIL ${name} > ${a.fullName}${seconds}`);
      out.push(...excerpt((a.failureMessages ?? []).join('\n') || '(no message)').map((l) => `    ${l}`));
    }
  }
  return out;
}

function main(files: string[]): void {
  const lines: string[] = [];
  let total = 0;
  let failed = 0;
  for (const f of files) {
    if (!existsSync(f)) {
      lines.push(`(no report at ${f}: that test run did not get as far as writing one)`);
      continue;
    }
    const report = JSON.parse(readFileSync(f, 'utf8')) as Report;
    total += report.numTotalTests ?? 0;
    failed += report.numFailedTests ?? 0;
    lines.push(...digest(report));
  }
  console.log(`\n==== failed tests: ${failed} of ${total} ====`);
  for (const l of lines) console.log(l);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
