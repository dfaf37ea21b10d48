import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/core/config.js';
import { renderJunit } from '../../src/core/junit.js';
import { currentOwner, ownerAlive, startTicks } from '../../src/core/owner.js';
import { findStaleClusters } from '../../providers/qemu/stale.js';
import { portBase, SSH_PORT_BASE, RANDOM_PORT_RANGE } from '../../providers/qemu/steps/prepare-cluster.js';
import { placesFrom } from '../../src/core/places.js';

const bin = join(__dirname, '..', '..', 'bin', 'dpdkci.js');

function tempEnv(): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'dpdkci-ci-'));
  return { ...process.env, DPDKCI_STATE_DIR: join(dir, 'state'), DPDKCI_CACHE_DIR: join(dir, 'cache'), CI: 'true' };
}

describe('--timeout durations', () => {
  it.each([
    ['1800', 1800],
    ['90s', 90],
    ['30m', 1800],
    ['1h', 3600],
    ['1h30m', 5400],
  ])('%s is %d s', (text, seconds) => expect(parseDuration(text, '--timeout')).toBe(seconds));
  it('is undefined when not given', () => expect(parseDuration(undefined, '--timeout')).toBeUndefined());
  it.each(['soon', '5', '-3m', '1d', 'm'])('%s is refused, naming the option and the fix', (text) => {
    expect(() => parseDuration(text, 'DPDKCI_TIMEOUT')).toThrow(new RegExp(`DPDKCI_TIMEOUT: "${text}" is not a duration .* like 1800, 90s, 30m or 1h`));
  });
});

describe('--random-ports', () => {
  it('starts from 2201 without it, and from the random range with it', () => {
    expect(portBase(false)).toBe(SSH_PORT_BASE);
    expect(portBase(true, () => 0)).toBe(RANDOM_PORT_RANGE[0]);
    expect(portBase(true, () => 0.999999)).toBeLessThan(RANDOM_PORT_RANGE[1]);
    const draws = new Set(Array.from({ length: 20 }, () => portBase(true)));
    expect(draws.size).toBeGreaterThan(10);
  });
});

describe('JUnit report', () => {
  const timings = [
    { name: 'provision node image', seconds: 0.5, outcome: 'skipped' as const },
    { name: 'boot nodes', seconds: 12.25, outcome: 'done' as const },
    { name: 'bind DPDK NIC to vfio-pci', seconds: 3, outcome: 'failed' as const, message: 'node01: no IOMMU <on> "this" node & more\nsecond line\x1b[0m' },
  ];
  const xml = renderJunit({ suite: 'dpdkci up e2e', timings, notReached: ['configure OVS-DPDK'] });

  it('has one test case per step with its time, and the failing step with its message', () => {
    expect(xml.match(/<testcase /g)).toHaveLength(4);
    expect(xml).toContain('<testcase classname="dpdkci up e2e" name="boot nodes" time="12.250"/>');
    // The headline is the whole error on one line; the body keeps its lines.
    expect(xml).toContain('<failure message="node01: no IOMMU &lt;on&gt; &quot;this&quot; node &amp; more second line[0m">');
    expect(xml).toContain('second line[0m</failure>');
    expect(xml).toMatch(/name="configure OVS-DPDK" time="0">\s*<skipped message="not reached/);
    expect(xml).toMatch(/<testsuite name="dpdkci up e2e" tests="4" failures="1" errors="0" skipped="2" time="15.750"/);
  });
  it('is well-formed XML without control characters', async () => {
    // eslint-disable-next-line no-control-regex
    expect(xml).not.toMatch(/[\x00-\x08\x0B\x0C\x0E-\x1F]/);
    const dir = mkdtempSync(join(tmpdir(), 'dpdkci-junit-'));
    writeFileSync(join(dir, 'r.xml'), xml);
    const r = await execa('python3', ['-c', 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])', join(dir, 'r.xml')], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
  });
  it('records a failure outside any step', () => {
    const x = renderJunit({ suite: 's', timings: [], notReached: [], error: '--nodes: 0 is out of range' });
    expect(x).toMatch(/name="dpdkci up" time="0">\s*<failure message="--nodes: 0 is out of range"/);
  });
});

describe('cluster owners', () => {
  it('is this process\'s session by default, alive while it runs', () => {
    const owner = currentOwner(placesFrom({}));
    expect(owner.how).toBe('session');
    expect(ownerAlive(owner)).toBe(true);
  });
  it('DPDKCI_OWNER_PID names another process, and must name a running one', () => {
    expect(currentOwner(placesFrom({ DPDKCI_OWNER_PID: String(process.pid) }))).toMatchObject({ pid: process.pid, how: 'DPDKCI_OWNER_PID' });
    expect(() => currentOwner(placesFrom({ DPDKCI_OWNER_PID: '999999999' }))).toThrow(/DPDKCI_OWNER_PID: "999999999" is not a running process/);
  });
  it('a reused pid is not the owner: the start time must match', () => {
    expect(ownerAlive({ pid: process.pid, startTicks: (startTicks(process.pid) ?? 0) + 1, how: 'session' })).toBe(false);
  });
});

describe('down --all-stale', () => {
  async function deadOwner() {
    const child = execa('sleep', ['30']);
    const pid = child.pid as number;
    const ticks = startTicks(pid) as number;
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    return { pid, startTicks: ticks, how: 'DPDKCI_OWNER_PID' as const };
  }
  function cluster(env: NodeJS.ProcessEnv, prefix: string, record?: object) {
    const dir = join(env.DPDKCI_STATE_DIR as string, 'clusters', prefix);
    mkdirSync(dir, { recursive: true });
    if (record) writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ prefix, nodes: [{ name: 'node01' }], ...record }));
    return dir;
  }

  it('finds clusters whose owner died, without a record, or with no node running; not one being brought up', async () => {
    const env = tempEnv();
    cluster(env, 'orphaned', { owner: await deadOwner() });
    cluster(env, 'half-made');
    cluster(env, 'no-nodes', { owner: currentOwner(placesFrom({})) });
    const busy = cluster(env, 'coming-up');
    writeFileSync(join(busy, 'up.lock'), String(process.pid));
    const stale = findStaleClusters(placesFrom(env));
    expect(stale.map((s) => s.prefix)).toEqual(['half-made', 'no-nodes', 'orphaned']);
    expect(stale.find((s) => s.prefix === 'orphaned')?.reason).toMatch(/its owner \(pid \d+, DPDKCI_OWNER_PID\) has exited/);
    expect(stale.find((s) => s.prefix === 'no-nodes')?.reason).toBe('none of its nodes is running');
  });

  it('removes them and keeps the rest; refuses --prefix with it', async () => {
    const env = tempEnv();
    const gone = cluster(env, 'orphaned', { owner: await deadOwner() });
    const busy = cluster(env, 'coming-up');
    writeFileSync(join(busy, 'up.lock'), String(process.pid));
    const r = await execa('node', [bin, 'down', '--all-stale'], { reject: false, env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/remove cluster orphaned \(its owner .* has exited\)/);
    expect(existsSync(gone)).toBe(false);
    expect(existsSync(busy)).toBe(true);
    const again = await execa('node', [bin, 'down', '--all-stale'], { reject: false, env });
    expect(again.stderr).toMatch(/no stale clusters/);
    const both = await execa('node', [bin, 'down', '--all-stale', '--prefix', 'x'], { reject: false, env });
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/--all-stale: .* takes no --prefix/);
  });
});

describe('up --junit and --timeout on bad input', () => {
  it('bad --timeout exits 2 and the JUnit file records why', async () => {
    const env = tempEnv();
    const file = join(env.DPDKCI_STATE_DIR as string, '..', 'junit.xml');
    const r = await execa('node', [bin, 'up', '--timeout', 'soon', '--junit', file], { reject: false, env });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--timeout: "soon" is not a duration/);
    expect(readFileSync(file, 'utf8')).toMatch(/<failure message="--timeout: &quot;soon&quot; is not a duration/);
  });
  it('DPDKCI_TIMEOUT is named when it is the source', async () => {
    const r = await execa('node', [bin, 'up'], { reject: false, env: { ...tempEnv(), DPDKCI_TIMEOUT: '3' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/DPDKCI_TIMEOUT: "3" is not a duration of at least 10 seconds/);
  });
});

describe('the failed-test digest at the end of a CI log', () => {
  it('names each failure with its file and keeps the head and tail of a long message', async () => {
    const { digest } = await import('../../scripts/test-digest.js');
    const long = ['\u001b[31mAssertionError\u001b[39m: up failed', ...Array.from({ length: 40 }, (_, i) => `line ${i}`), '    at Object.<anonymous> (x.ts:1:1)', 'node01: QEMU exited'].join('\n');
    const lines = digest(
      {
        testResults: [
          { name: '/r/test/e2e/ci.test.ts', status: 'failed', assertionResults: [{ fullName: 'a > b', status: 'failed', duration: 2500, failureMessages: [long] }, { fullName: 'ok', status: 'passed' }] },
          { name: '/r/test/e2e/sync.test.ts', status: 'passed', assertionResults: [{ fullName: 'c', status: 'passed' }] },
        ],
      },
      '/r',
    );
    expect(lines[0]).toBe('FAIL test/e2e/ci.test.ts > a > b (2.5 s)');
    expect(lines[1]).toBe('    AssertionError: up failed');
    expect(lines).toContain('    [24 lines left out]');
    expect(lines.at(-1)).toBe('    node01: QEMU exited');
    expect(lines.some((l) => l.includes(' at Object'))).toBe(false);
    expect(lines.filter((l) => l.startsWith('FAIL'))).toHaveLength(1);
  });

  it('--slowest lists the slowest files of all reports, slowest first, with their wall time', async () => {
    const { slowest, testSpans } = await import('../../scripts/test-digest.js');
    const file = (name: string, seconds: number, status = 'passed') => ({ name: `/r/test/${name}`, status, startTime: 1_000, endTime: 1_000 + seconds * 1000 });
    const fromReport = testSpans({ testResults: [file('unit/a.test.ts', 2.5), file('unit/b.test.ts', 0.1), { name: '/r/test/unit/none.test.ts', status: 'skipped' }] });
    // As file-times-reporter.ts writes them.
    const fromReporter = [
      { name: '/r/test/e2e/dpdk.test.ts', seconds: 412.34, status: 'failed' },
      { name: '/r/test/e2e/sync.test.ts', seconds: 95, status: 'passed' },
    ];
    const lines = slowest([...fromReport, ...fromReporter], 3, '/r');
    expect(lines.map((l) => l.trim().split(/\s+/))).toEqual([
      ['6m52.3s', 'test/e2e/dpdk.test.ts', 'failed'],
      ['1m35.0s', 'test/e2e/sync.test.ts', 'passed'],
      ['2.5s', 'test/unit/a.test.ts', 'passed'],
    ]);
  });
});
