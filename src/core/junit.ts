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

interface Case {
  name: string;
  time: string;
  failure?: string;
  skipped?: string;
}

/** One JUnit test case per pipeline step, with its time and, when it failed, why. */
export function renderJunit(input: JunitInput): string {
  const failedStep = input.timings.some((t) => t.outcome === 'failed');
  const cases: Case[] = [
    ...input.timings.map((t): Case => ({
      name: t.name,
      time: t.seconds.toFixed(3),
      ...(t.outcome === 'failed' ? { failure: t.message ?? 'failed' } : t.outcome === 'skipped' ? { skipped: 'already done' } : {}),
    })),
    ...input.notReached.map((name): Case => ({ name, time: '0', skipped: 'not reached: an earlier step failed' })),
    ...(input.error !== undefined && !failedStep ? [{ name: 'dpdkci up', time: '0', failure: input.error }] : []),
  ];
  const attr = (s: string) => escapeXml(s);
  const xml = cases.map((c) => {
    const head = `    <testcase classname="${attr(input.suite)}" name="${attr(c.name)}" time="${c.time}"`;
    if (c.failure !== undefined) return `${head}>\n      <failure message="${attr(summary(c.failure))}">${escapeXml(c.failure)}</failure>\n    </testcase>`;
    if (c.skipped !== undefined) return `${head}>\n      <skipped message="${attr(c.skipped)}"/>\n    </testcase>`;
    return `${head}/>`;
  });
  const failures = cases.filter((c) => c.failure !== undefined).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const time = input.timings.reduce((s, t) => s + t.seconds, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="dpdkci" tests="${cases.length}" failures="${failures}" time="${time.toFixed(3)}">`,
    `  <testsuite name="${attr(input.suite)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time.toFixed(3)}" timestamp="${new Date().toISOString().slice(0, 19)}">`,
    ...xml,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function writeJunit(file: string, input: JunitInput): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderJunit(input));
}
