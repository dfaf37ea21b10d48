/**
 * A short account of the failed tests in vitest JSON reports, for the end of a CI log: a CI system that
 * keeps only the log's tail still shows every failure, not only the last one vitest printed. With
 * --slowest N, the N test files that took longest instead, so the next person sees where CI time goes: from
 * the file times beside each report (X.files.json, test/fixtures/file-times-reporter.ts, hooks included), or
 * else from the report itself, whose file times span the tests only.
 *
 *   node dist/scripts/test-digest.js _artifacts/unit.json _artifacts/e2e.json
 *   node dist/scripts/test-digest.js --slowest 10 _artifacts/unit.json _artifacts/e2e.json
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
  startTime?: number;
  endTime?: number;
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

export interface FileTime {
  name: string;
  seconds: number;
  status: string;
}

/** A report's file times as the JSON report has them: first test start to last test end, hooks not counted. */
export function testSpans(report: Report): FileTime[] {
  return (report.testResults ?? [])
    .filter((f) => f.startTime !== undefined && f.endTime !== undefined)
    .map((f) => ({ name: f.name, seconds: ((f.endTime as number) - (f.startTime as number)) / 1000, status: f.status }));
}

/** The n files that took longest, slowest first, with their wall time and status. */
export function slowest(files: FileTime[], n: number, root = process.cwd()): string[] {
  const top = [...files].sort((a, b) => b.seconds - a.seconds).slice(0, n);
  const width = Math.max(0, ...top.map((f) => relative(root, f.name).length));
  return top.map((f) => `${minutes(f.seconds).padStart(8)}  ${relative(root, f.name).padEnd(width)}  ${f.status}`);
}

function minutes(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = (seconds - m * 60).toFixed(1);
  return m > 0 ? `${m}m${s.padStart(4, '0')}s` : `${s}s`;
}

function readReports(files: string[]): { reports: Report[]; missing: string[] } {
  const reports: Report[] = [];
  const missing: string[] = [];
  for (const f of files) {
    if (existsSync(f)) reports.push(JSON.parse(readFileSync(f, 'utf8')) as Report);
    else missing.push(`(no report at ${f}: that test run did not get as far as writing one)`);
  }
  return { reports, missing };
}

function mainSlowest(n: number, files: string[]): void {
  const times: FileTime[] = [];
  const notes: string[] = [];
  for (const f of files) {
    const beside = f.replace(/\.json$/, '') + '.files.json';
    if (existsSync(beside)) times.push(...(JSON.parse(readFileSync(beside, 'utf8')) as FileTime[]));
    else if (existsSync(f)) {
      times.push(...testSpans(JSON.parse(readFileSync(f, 'utf8')) as Report));
      notes.push(`(no ${beside}: the times from ${f} leave out each file's beforeAll and afterAll)`);
    } else notes.push(`(no report at ${f}: that test run did not get as far as writing one)`);
  }
  console.log(`\n==== the ${n} slowest test files ====`);
  for (const l of [...slowest(times, n), ...notes]) console.log(l);
}

function main(files: string[]): void {
  const { reports, missing } = readReports(files);
  const total = reports.reduce((n, r) => n + (r.numTotalTests ?? 0), 0);
  const failed = reports.reduce((n, r) => n + (r.numFailedTests ?? 0), 0);
  console.log(`\n==== failed tests: ${failed} of ${total} ====`);
  for (const l of [...missing, ...reports.flatMap((r) => digest(r))]) console.log(l);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const args = process.argv.slice(2);
  if (args[0] !== '--slowest') main(args);
  else if (Number.isInteger(Number(args[1])) && Number(args[1]) > 0) mainSlowest(Number(args[1]), args.slice(2));
  else {
    console.error(`--slowest: "${args[1] ?? ''}" is not a file count; use e.g. --slowest 10`);
    process.exitCode = 2;
  }
}
