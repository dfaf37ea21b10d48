import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StepTiming } from './progress.js';

export interface JunitInput {
  /** The suite: "dpdkci up" and the cluster. */
  suite: string;
  timings: readonly StepTiming[];
  /** Steps that never started because an earlier one failed. */
  notReached: readonly string[];
  /** A failure outside any step (bad input, a lock held, a timeout between steps). */
  error?: string;
}

function escapeXml(text: string): string {
  // Characters XML 1.0 cannot carry at all (terminal control codes in a log tail) are dropped.
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\x00-\x08\x0B\x0C\x0E-\x1F]/g, '');
  return clean.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The failure message attribute: the error on one line (a CI system shows it as the headline), at most 500 characters. */
function summary(message: string): string {
  const line = message.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 499)}…` : line;
}

/** One JUnit test case per pipeline step, with its time and, when it failed, why. */
export function renderJunit(input: JunitInput): string {
  const cases: string[] = [];
  const attr = (s: string) => escapeXml(s);
  for (const t of input.timings) {
    const head = `    <testcase classname="${attr(input.suite)}" name="${attr(t.name)}" time="${t.seconds.toFixed(3)}"`;
    if (t.outcome === 'failed') {
      const message = t.message ?? 'failed';
      cases.push(`${head}>\n      <failure message="${attr(summary(message))}">${escapeXml(message)}</failure>\n    </testcase>`);
    } else if (t.outcome === 'skipped') {
      cases.push(`${head}>\n      <skipped message="already done"/>\n    </testcase>`);
    } else {
      cases.push(`${head}/>`);
    }
  }
  for (const name of input.notReached) {
    cases.push(`    <testcase classname="${attr(input.suite)}" name="${attr(name)}" time="0">\n      <skipped message="not reached: an earlier step failed"/>\n    </testcase>`);
  }
  if (input.error !== undefined && !input.timings.some((t) => t.outcome === 'failed')) {
    cases.push(`    <testcase classname="${attr(input.suite)}" name="dpdkci up" time="0">\n      <failure message="${attr(summary(input.error))}">${escapeXml(input.error)}</failure>\n    </testcase>`);
  }
  const failures = cases.filter((c) => c.includes('<failure')).length;
  const skipped = cases.filter((c) => c.includes('<skipped')).length;
  const time = input.timings.reduce((s, t) => s + t.seconds, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="dpdkci" tests="${cases.length}" failures="${failures}" time="${time.toFixed(3)}">`,
    `  <testsuite name="${attr(input.suite)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time.toFixed(3)}" timestamp="${new Date().toISOString().slice(0, 19)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function writeJunit(file: string, input: JunitInput): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderJunit(input));
}
