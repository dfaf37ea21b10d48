import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { longestGapSeconds, parseTestpmd, steadyRxPps, type PortSample } from '../../src/dataplane/testpmd-stats.js';

const capture = readFileSync(join(__dirname, '..', 'fixtures', 'testpmd-flowgen-loop.txt'), 'utf8');
const sample = (rxPps: number): PortSample => ({ rxPps, txPps: rxPps, rxPackets: 0, txPackets: 0 });

describe('parseTestpmd on a real flowgen capture (vhost-user loop through OVS-DPDK under TCG)', () => {
  const run = parseTestpmd(capture);
  it('finds a sample per second for both ports', () => {
    expect([...run.samples.keys()].sort()).toEqual([0, 1]);
    expect(run.samples.get(0)!.length).toBeGreaterThanOrEqual(3);
    expect(run.samples.get(0)!.length).toBe(run.samples.get(1)!.length);
    const last = run.samples.get(1)!.at(-1)!;
    expect(last).toEqual({ rxPackets: 998272, txPackets: 999552, rxPps: 254461, txPps: 254717 });
  });
  it('reads the totals printed at the end', () => {
    expect(run.totals.get(0)).toEqual({ rxPackets: 1323616, txPackets: 1325152, txDropped: 4604800 });
    expect(run.totals.get(1)).toEqual({ rxPackets: 1323776, txPackets: 1325120, txDropped: 4604832 });
  });
  it('derives a steady rate between the ramp-up and the peak', () => {
    const pps = steadyRxPps(run.samples.get(1)!);
    expect(pps).toBeGreaterThan(150_000);
    expect(pps).toBeLessThanOrEqual(Math.max(...run.samples.get(1)!.map((s) => s.rxPps)));
  });
  it('returns nothing for output without statistics', () => {
    const empty = parseTestpmd('EAL: Detected CPU lcores: 2\nError: port 0 not found\n');
    expect(empty.samples.size).toBe(0);
    expect(empty.totals.size).toBe(0);
  });
});

describe('steadyRxPps', () => {
  it('leaves out the silent seconds and the first, partial, flowing second', () => {
    expect(steadyRxPps([0, 0, 50, 100, 200, 0].map(sample))).toBe(150);
  });
  it('is 0 with no traffic', () => expect(steadyRxPps([0, 0].map(sample))).toBe(0));
});

describe('longestGapSeconds', () => {
  it('measures a restart gap', () => expect(longestGapSeconds([0, 10, 10, 0, 0, 0, 10, 10].map(sample))).toEqual({ gap: 3, resumed: true }));
  it('says when traffic never came back', () => expect(longestGapSeconds([10, 10, 0, 0].map(sample))).toEqual({ gap: 0, resumed: false }));
  it('no gap when traffic never stopped', () => expect(longestGapSeconds([0, 10, 10].map(sample))).toEqual({ gap: 0, resumed: true }));
  it('uses the time stamps when there are some', () => {
    const at = [100, 101, 102, 103.5, 109.2, 110.1];
    const rx = [10, 10, 0, 0, 10, 10];
    expect(longestGapSeconds(at.map((t, i) => ({ ...sample(rx[i]!), at: t })))).toEqual({ gap: 8.2, resumed: true });
  });
  it('reads time-stamped output', () => {
    const stamped = capture.split('\n').map((l, i) => `${(1700000000 + i / 10).toFixed(6)} ${l}`).join('\n');
    const run = parseTestpmd(stamped);
    expect(run.samples.get(1)!.at(-1)).toMatchObject({ rxPackets: 998272, rxPps: 254461 });
    expect(run.samples.get(1)!.every((s) => typeof s.at === 'number' && s.at > 1700000000)).toBe(true);
    expect(run.totals.get(1)).toEqual({ rxPackets: 1323776, txPackets: 1325120, txDropped: 4604832 });
  });
});
